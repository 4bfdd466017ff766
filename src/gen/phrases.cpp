// SEARLE's GPT phrase table (generation.md §4.2, §4.4): "a photo of {concept} that ..." sampled
// from a base model behind /v1/completions, post-processed as SEARLE's process_phrase does and
// filtered so every phrase contains its concept (where OTI and phi put the "$").
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <mutex>
#include <set>

#include "cir/gen.h"
#include "gen/builtins.h"

namespace cir::gen {
namespace {

using json = nlohmann::json;

std::vector<std::string> string_list(const json& value, const std::string& where) {
  if (!value.is_array()) throw Error(ErrorCode::kCorrupt, where + " must be a list of strings");
  std::vector<std::string> out;
  for (const auto& s : value) {
    if (!s.is_string()) throw Error(ErrorCode::kCorrupt, where + " must be a list of strings");
    out.push_back(s.get<std::string>());
  }
  return out;
}

std::vector<std::string> concepts_from_csv(const std::string& path, const std::string& text) {
  const std::string what = "concepts file '" + path + "'";
  size_t pos = 0;
  const auto header = parse_csv_record(text, pos, what);
  size_t column = header.size();
  for (size_t i = 0; i < header.size(); ++i)
    if (trim_space(header[i]) == "DisplayName") column = i;
  if (column == header.size())
    throw Error(ErrorCode::kCorrupt, what + ": no DisplayName column (expected Open Images' LabelName,DisplayName header)");
  std::vector<std::string> names;
  while (pos < text.size()) {
    const auto record = parse_csv_record(text, pos, what);
    if (record.size() > column) names.push_back(trim_space(record[column]));
  }
  return names;
}

}  // namespace

std::string phrase_prompt(const std::string& concept_name) { return "a photo of " + trim_space(concept_name) + " that"; }

int phrase_max_tokens(const std::string& concept_name, int max_length) {
  // GPT-style BPEs spend about one token per word and one per punctuation mark on plain English.
  int estimate = 0;
  bool in_word = false;
  for (const char c : phrase_prompt(concept_name)) {
    const bool word_char = std::isalnum(static_cast<unsigned char>(c)) || (static_cast<unsigned char>(c) >= 0x80);
    if (word_char && !in_word) ++estimate;
    if (!word_char && c != ' ') ++estimate;
    in_word = word_char;
  }
  return std::max(1, max_length - estimate);
}

std::string process_phrase(const std::string& text) {
  std::string joined;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') {
      while (i + 1 < text.size() && text[i + 1] == '\n') ++i;
      joined += ". ";
    } else {
      joined += text[i];
    }
  }
  std::string out;
  for (size_t i = 0; i < joined.size(); ++i) {
    out += joined[i];
    if (joined[i] == '.')
      while (i + 1 < joined.size() && joined[i + 1] == '.') ++i;
  }
  return out;
}

bool concept_passes_filter(const std::string& concept_name, const std::vector<std::string>& phrases) {
  if (phrases.empty() || concept_name.empty()) return false;
  for (const std::string& p : phrases)
    if (p.find(concept_name) == std::string::npos) return false;
  return true;
}

PhraseTable filter_phrase_table(const PhraseTable& table) {
  PhraseTable out;
  out.source = table.source;
  for (const auto& [concept_name, phrases] : table.phrases)
    if (concept_passes_filter(concept_name, phrases)) out.phrases.emplace(concept_name, phrases);
  return out;
}

PhraseTable build_phrase_table(Provider& provider, const std::vector<std::string>& concepts, const PhraseOptions& options,
                               std::vector<std::string>* failed, const std::function<void(int64_t, int64_t)>& on_progress) {
  if (options.n < 1 || options.max_length < 2 || options.temperature < 0)
    throw Error(ErrorCode::kInvalidArgument, "phrase table: need n >= 1, max_length >= 2, temperature >= 0");
  PhraseTable table;
  table.source = provider.describe();
  std::mutex mutex;
  std::atomic<int64_t> done{0};
  std::vector<std::string> names;
  for (const std::string& c : concepts)
    if (std::string name = trim_space(c); !name.empty()) names.push_back(std::move(name));
  parallel_for(static_cast<int64_t>(names.size()), std::max(1, provider.max_concurrency()), [&](int64_t i) {
    const std::string& concept_name = names[static_cast<size_t>(i)];
    CompletionRequest request;
    request.prompt = phrase_prompt(concept_name);
    request.sampling.temperature = options.temperature;
    request.sampling.top_p = 1.0;  // HF generate's default, which SEARLE left in place
    request.sampling.top_k = options.top_k;
    request.sampling.max_tokens = phrase_max_tokens(concept_name, options.max_length);
    request.sampling.n = options.n;
    request.sampling.seed = item_seed(options.seed, concept_name);  // §6.6, as captioners
    std::vector<std::string> phrases;
    try {
      const Generation g = provider.complete(request);
      for (const std::string& continuation : g.texts) phrases.push_back(process_phrase(request.prompt + continuation));
    } catch (const Error& e) {
      if (provider_unusable(e)) throw;
      std::lock_guard<std::mutex> lock(mutex);
      if (failed) failed->push_back(concept_name + ": " + e.what());
    }
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (!phrases.empty()) table.phrases[concept_name] = std::move(phrases);
    }
    const int64_t now = ++done;
    if (on_progress) on_progress(now, static_cast<int64_t>(names.size()));
  });
  return table;
}

void write_phrase_table(const std::string& path, const PhraseTable& table) {
  json phrases = json::object();
  for (const auto& [concept_name, list] : table.phrases) phrases[concept_name] = list;
  json root = {{"source", table.source}, {"phrases", phrases}};
  write_file_atomic(path, root.dump(1, ' ', false, json::error_handler_t::replace) + "\n");
}

PhraseTable read_phrase_table(const std::string& path) {
  const std::string text = read_file_text(path);
  const std::string where = "phrase table '" + path + "'";
  check_json_depth(text, where);
  json root;
  try {
    root = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(ErrorCode::kCorrupt, where + ": invalid JSON: " + e.what());
  }
  if (!root.is_object()) throw Error(ErrorCode::kCorrupt, where + ": expected an object of concept_name -> phrases");
  PhraseTable table;
  const bool ours = root.contains("phrases") && root["phrases"].is_object();
  const json& phrases = ours ? root["phrases"] : root;
  if (ours && root.contains("source") && root["source"].is_string()) table.source = root["source"].get<std::string>();
  if (!ours) table.source = "file:" + std::filesystem::path(path).filename().string();
  for (const auto& [concept_name, list] : phrases.items())
    table.phrases[concept_name] = string_list(list, where + ": concept_name '" + concept_name + "'");
  if (table.phrases.empty()) throw Error(ErrorCode::kCorrupt, where + ": no concepts");
  return table;
}

std::vector<std::string> read_concepts(const std::string& path) {
  const std::string text = read_file_text(path);
  std::vector<std::string> raw;
  if (path.size() >= 4 && path.compare(path.size() - 4, 4, ".csv") == 0) {
    raw = concepts_from_csv(path, text);
  } else {
    size_t start = 0;
    while (start <= text.size()) {
      const size_t end = std::min(text.find('\n', start), text.size());
      raw.push_back(trim_space(text.substr(start, end - start)));
      start = end + 1;
    }
  }
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (std::string& name : raw)
    if (!name.empty() && seen.insert(name).second) names.push_back(std::move(name));
  if (names.empty()) throw Error(ErrorCode::kCorrupt, "concepts file '" + path + "' names no concepts");
  return names;
}

}  // namespace cir::gen
