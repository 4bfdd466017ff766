// `cir search INDEX [--ref ...] [--text ...] ...`: composed search from the command line.
//
// Besides the flags, the words after INDEX may spell rclip-style arithmetic:
//   cir search INDEX ./a.jpg + "2:red" - "sleeves"
// The first positive image term is the reference and the first positive text the modification
// (unless --ref / --text give them); "W:text" weights a term; '-' subtracts it.
#include <cctype>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cir/engine.h"
#include "cir/image.h"
#include "cli_common.h"

namespace cir::cli {
namespace {

struct SearchArgs {
  std::string index;
  std::vector<std::string> words;
  std::string ref;
  std::vector<std::string> texts;
  std::vector<std::string> negatives;
  std::string method = "sum";
  std::vector<std::string> method_options;
  std::string weights;
  int k = 10;
  int offset = 0;
  std::string filter;
  std::optional<float> score_threshold;
  bool include_reference = false;
  bool exact = false;
  int ef = 0;
  int nprobe = 0;
  bool json = false;
  std::string model;
  int threads = 0;
  GenerationFlags generation;
};

// "2:red" -> (2, "red"); a plain text keeps weight 1. Only a leading finite number followed by a
// word counts as a weight: "12:30 meeting" and "1:1 scale" stay texts.
std::pair<float, std::string> split_weight(const std::string& term) {
  const auto colon = term.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= term.size()) return {1.f, term};
  const unsigned char next = static_cast<unsigned char>(term[colon + 1]);
  if (!std::isalpha(next) && next < 0x80) return {1.f, term};  // a word starts with a letter (or UTF-8)
  char* end = nullptr;
  const std::string head = term.substr(0, colon);
  const float w = std::strtof(head.c_str(), &end);
  if (end && *end == '\0' && std::isfinite(w)) return {w, term.substr(colon + 1)};
  return {1.f, term};
}

bool looks_like_image(const std::string& term) {
  return term.rfind("id:", 0) == 0 || (image::has_image_extension(term) && std::filesystem::exists(term));
}

void set_reference(engine::ReferenceImage& ref, const std::string& value) {
  if (value.rfind("id:", 0) == 0)
    ref.gallery_id = value.substr(3);
  else
    ref.path = value;
}

void apply_arithmetic(const std::vector<std::string>& words, engine::QueryRequest& q) {
  float sign = 1.f;
  bool expect_term = true;
  for (const auto& word : words) {
    if (word == "+" || word == "-") {
      if (expect_term && word == "+") throw Error(ErrorCode::kInvalidArgument, "query: '+' where a term was expected");
      sign = word == "-" ? -1.f : 1.f;
      expect_term = true;
      continue;
    }
    if (!expect_term) sign = 1.f;  // two terms in a row: implicit '+'
    auto [weight, value] = split_weight(word);
    weight *= sign;
    if (looks_like_image(value)) {
      if (weight > 0 && q.reference.empty()) {
        set_reference(q.reference, value);
        q.image_weight = weight;
      } else {
        q.terms.push_back({.text = "", .image_path = value, .weight = weight});
      }
    } else if (weight > 0 && q.texts.empty()) {
      q.texts.push_back(value);
      q.text_weight = weight;
    } else if (weight < 0) {
      q.negative_texts.push_back(value);
      q.negative_weight = -weight;
    } else {
      q.terms.push_back({.text = value, .image_path = "", .weight = weight});
    }
    expect_term = false;
    sign = 1.f;
  }
  if (expect_term && !words.empty()) throw Error(ErrorCode::kInvalidArgument, "query ends with an operator");
}

engine::QueryRequest build_request(const SearchArgs& a) {
  engine::QueryRequest q;
  if (!a.ref.empty()) set_reference(q.reference, a.ref);
  q.texts = a.texts;
  q.negative_texts = a.negatives;
  apply_arithmetic(a.words, q);
  q.method = a.method;
  for (const auto& kv : a.method_options) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error(ErrorCode::kInvalidArgument, "--method-opt wants key=value, got '" + kv + "'");
    q.method_options[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  if (!a.weights.empty()) {
    // Exactly two numbers: std::stof alone read "1,1,abc" as 1 and 1 and dropped the rest.
    const auto comma = a.weights.find(',');
    const auto number = [&](const std::string& part) {
      size_t used = 0;
      float v = 0;
      try {
        v = std::stof(part, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (part.empty() || used != part.size() || !std::isfinite(v))
        throw Error(ErrorCode::kInvalidArgument, "--weights wants two numbers 'wi,wt', got '" + a.weights + "'");
      return v;
    };
    if (comma == std::string::npos) throw Error(ErrorCode::kInvalidArgument, "--weights wants 'wi,wt', got '" + a.weights + "'");
    q.image_weight = number(a.weights.substr(0, comma));
    q.text_weight = number(a.weights.substr(comma + 1));
  }
  if (q.reference.empty() && q.texts.empty() && q.terms.empty())
    throw Error(ErrorCode::kInvalidArgument, "give a reference (--ref PATH|id:ID) and/or a text (--text)");
  if (a.k <= 0 || a.offset < 0) throw Error(ErrorCode::kInvalidArgument, "-k must be positive and --offset >= 0");
  q.k = a.k;
  q.offset = a.offset;
  q.filter = a.filter;
  q.score_threshold = a.score_threshold;
  q.include_reference = a.include_reference;
  q.exact = a.exact;
  q.ef_search = a.ef;
  q.nprobe = a.nprobe;
  return q;
}

nlohmann::json meta_json(const std::map<std::string, index::MetaValue>& metadata) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : metadata) {
    if (std::holds_alternative<double>(v))
      j[k] = std::get<double>(v);
    else
      j[k] = std::get<std::string>(v);
  }
  return j;
}

nlohmann::json generated_json(const engine::QueryGenerations& g) {
  return {{"captioner_key", g.captioner_key}, {"editor_key", g.editor_key}, {"captions", g.captions},
          {"edits", g.edits},           {"failed", g.failed},         {"n_generated", g.n_generated}};
}

void print_json(const engine::QueryRequest& q, const engine::QueryResult& r) {
  nlohmann::json hits = nlohmann::json::array();
  for (const auto& h : r.hits)
    hits.push_back({{"id", h.external_id}, {"score", h.score}, {"rank", h.rank}, {"path", h.path}, {"caption", h.caption},
                    {"metadata", meta_json(h.metadata)}});
  const auto& t = r.took_ms;
  nlohmann::json out = {
      {"method", r.method},
      {"query", {{"texts", q.texts}, {"negative_texts", q.negative_texts}}},
      {"results", hits},
      {"filtered", {{"by_filter", r.n_filtered}, {"excluded", r.n_excluded}, {"below_threshold", r.n_below_threshold}}},
      {"has_more", r.has_more},
      {"took_ms",
       {{"decode", t.decode}, {"encode_image", t.encode_image}, {"encode_text", t.encode_text}, {"compose", t.compose},
        {"search", t.search}, {"fetch", t.fetch}}}};
  if (r.generated) out["generated"] = generated_json(*r.generated);
  std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

void print_table(const engine::QueryRequest& q, const engine::QueryResult& r) {
  std::cout << "method " << r.method;
  if (!q.reference.empty())
    std::cout << ", reference " << (q.reference.gallery_id.empty() ? q.reference.path : "id:" + q.reference.gallery_id);
  for (const auto& t : q.texts) std::cout << ", text \"" << t << "\"";
  for (const auto& t : q.negative_texts) std::cout << ", not \"" << t << "\"";
  // Every arithmetic term with its weight, so a stray word is seen, not silently added.
  for (const auto& term : q.terms)
    std::cout << ", " << (term.weight < 0 ? "- " : "+ ") << std::abs(term.weight) << " x "
              << (term.image_path.empty() ? "\"" + term.text + "\"" : term.image_path);
  if (q.image_weight != 1.f || q.text_weight != 1.f) std::cout << ", weights " << q.image_weight << "," << q.text_weight;
  std::cout << "\n";
  if (r.generated)
    for (size_t i = 0; i < r.generated->edits.size(); ++i)
      std::cout << "  edit " << i << (r.generated->failed[i] ? " (failed: the caption)" : "") << ": \""
                << r.generated->edits[i] << "\"  <- \"" << r.generated->captions[i] << "\"\n";
  for (const auto& h : r.hits) {
    std::cout << std::setw(4) << h.rank << "  " << std::fixed << std::setprecision(4) << h.score << "  " << h.external_id;
    if (!h.caption.empty()) std::cout << "  \"" << h.caption << "\"";
    std::cout << "\n";
  }
  std::cout << r.hits.size() << " results";
  if (r.n_filtered > 0) std::cout << ", " << r.n_filtered << " items filtered out";
  if (r.n_excluded > 0) std::cout << ", " << r.n_excluded << " excluded (reference)";
  if (r.n_below_threshold > 0) std::cout << ", " << r.n_below_threshold << " below the score threshold";
  if (r.has_more) std::cout << " (more with --offset " << q.offset + q.k << ")";
  std::cout << "\n";
}

}  // namespace

void register_search_command(CLI::App& app) {
  auto a = std::make_shared<SearchArgs>();
  auto* cmd = app.add_subcommand("search", "Composed search: a reference image plus modification text");
  cmd->add_option("index", a->index, "Index directory")->required();
  cmd->add_option("query", a->words, "Optional arithmetic: IMAGE + \"W:text\" - \"text\" ...");
  cmd->add_option("--ref", a->ref, "Reference image: a file, or id:ID for an indexed item");
  // One value per flag (CLI11 lets a vector option swallow every following word: `--text red
  // circle` averaged two texts and `--text red INDEX` ate the index).
  cmd->add_option("--text", a->texts, "Modification text; repeat the flag for several (averaged)")->allow_extra_args(false);
  cmd->add_option("--neg", a->negatives, "Negative text (subtracted); repeat the flag for several")->allow_extra_args(false);
  cmd->add_option("--method", a->method, "Composition method (see docs/methods.md)")->capture_default_str();
  cmd->add_option("--method-opt", a->method_options, "Method setting key=value (e.g. phi=ckpt.pt); repeat the flag")
      ->allow_extra_args(false);
  cmd->add_option("--weights", a->weights, "Image and text weights 'wi,wt' (sum)");
  cmd->add_option("-k", a->k, "Results")->capture_default_str();
  cmd->add_option("--offset", a->offset, "Skip this many results (paging)")->capture_default_str();
  cmd->add_option("--filter", a->filter, "Metadata filter, e.g. 'color=red AND size>=3'");
  cmd->add_option("--score-threshold", a->score_threshold, "Drop results scoring below this");
  cmd->add_flag("--include-reference", a->include_reference, "Allow the reference itself among the results");
  cmd->add_flag("--exact", a->exact, "Exact search even on an approximate index");
  cmd->add_option("--ef", a->ef, "HNSW efSearch: larger finds more true neighbours, slower (0 = max(64, k))")
      ->check(CLI::Range(0, 1 << 16));
  cmd->add_option("--nprobe", a->nprobe, "IVF lists to probe (0 = max(16, lists/16))")
      ->check(CLI::Range(0, 1 << 16));
  cmd->add_flag("--json", a->json, "Print JSON");
  cmd->add_option("--model", a->model, "Query with this model (must match the index's)");
  cmd->add_option("--threads", a->threads, "Threads (0 = all cores)");
  add_generation_flags(cmd, a->generation);
  cmd->callback([a] {
    const engine::QueryRequest q = build_request(*a);
    engine::EngineOptions options;
    options.model = a->model;
    options.encoder.n_threads = a->threads > 0 ? a->threads : default_thread_count();
    const auto engine = engine::Engine::open(a->index, options);
    engine->set_generation(generation_options(a->generation, a->index));
    const auto results = engine->query_batch({q});
    if (a->json)
      print_json(q, results[0]);
    else
      print_table(q, results[0]);
    // On stderr, so --json output stays one document.
    if (const auto stats = engine->generation_stats().provider_stats) std::cerr << provider_usage_line(*stats) << "\n";
  });
}

}  // namespace cir::cli
