// The evaluation harness (see include/cir/evaluate.h): benchmark -> cached gallery index ->
// Engine::query_batch -> official metrics.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unordered_map>

#include "cir/engine.h"
#include "cir/evaluate.h"
#include "cir/model.h"
#include "evaluate/generations.h"

namespace cir::evaluate {
namespace fs = std::filesystem;

namespace {

std::string default_cache_root() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::string(xdg) + "/cir/eval";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.cache/cir/eval";
  return (fs::temp_directory_path() / "cir-eval").string();
}

// One cache entry per (benchmark gallery, model weights): methods and reruns share it.
std::string cache_dir_for(const EvalOptions& o, const eval::BenchmarkSplit& split, const model::ModelSpec& spec) {
  const std::string root = fs::absolute(o.root).lexically_normal().string();
  const std::string key = sha256_hex(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(root.data()), root.size()));
  const std::string gallery = split.benchmark + "-" + split.split;
  return (fs::path(default_cache_root()) / (gallery + "-" + key.substr(0, 10) + "-" + spec.weights_sha256.substr(0, 12)))
      .string();
}

// The gallery as a list file of paths relative to the benchmark root, so external ids are those
// relative paths and map back to benchmark image ids.
std::string write_gallery_list(const eval::BenchmarkSplit& split, const std::string& index_dir) {
  // Beside the index, not inside it: Store::create wants a fresh directory.
  fs::create_directories(fs::path(index_dir).parent_path());
  const std::string list = index_dir + ".gallery-list.txt";
  std::string text;
  for (const auto& id : split.gallery) {
    auto it = split.image_paths.find(id);
    if (it == split.image_paths.end())
      throw Error(ErrorCode::kNotFound, "benchmark " + split.benchmark + ": no image path for gallery id '" + id + "'");
    text += it->second + "\n";
  }
  write_file_atomic(list, text);
  return list;
}

void ensure_index(const EvalOptions& o, const eval::BenchmarkSplit& split, const std::string& index_dir,
                  const engine::Encoder& encoder) {
  engine::IngestOptions ingest;
  ingest.images = write_gallery_list(split, index_dir);
  ingest.list_root = o.root;
  ingest.progress = o.progress;
  const auto report = engine::build_index(index_dir, ingest, encoder);
  if (report.n_failed > 0)
    log(LogLevel::kWarn, std::to_string(report.n_failed) + " gallery images failed to index (see " + index_dir +
                             "/failures.jsonl); queries that need them lose those hits");
}

// Whether the official protocol keeps the reference in the ranking (scorers handle removal).
bool keeps_reference(const std::string& benchmark) { return benchmark != "shapes" && benchmark != "shapes-captions"; }

// Item id -> benchmark image id, read once: rankings cover the whole gallery, and one item
// lookup per hit would dominate the run.
std::unordered_map<int64_t, std::string> benchmark_ids_by_item(const eval::BenchmarkSplit& split, const index::Store& store) {
  std::unordered_map<std::string, std::string> path_to_id;
  for (const auto& [id, path] : split.image_paths) path_to_id[path] = id;
  std::unordered_map<int64_t, std::string> out;
  index::ListRequest page;
  page.with_metadata = false;
  for (;;) {
    const auto items = store.list_items(page);
    for (const auto& item : items) {
      auto it = path_to_id.find(item.external_id);
      out[item.id] = it != path_to_id.end() ? it->second : item.external_id;
    }
    if (items.size() < static_cast<size_t>(page.limit)) return out;
    page.after_id = items.back().id;
  }
}

MethodResult run_method(const EvalOptions& o, const eval::BenchmarkSplit& split, const engine::Engine& engine,
                        const std::string& method, const std::function<void(int64_t, int64_t)>& on_progress) {
  const auto benchmark_id = benchmark_ids_by_item(split, engine.store());
  const auto convention = eval::parse_caption_convention(o.caption_convention);
  const int64_t n = o.max_queries > 0 ? std::min<int64_t>(o.max_queries, split.queries.size())
                                      : static_cast<int64_t>(split.queries.size());
  const int k = o.k > 0 ? o.k : static_cast<int>(std::max<int64_t>(1, engine.store().count()));
  eval::Rankings rankings(static_cast<size_t>(n));
  const bool generated = detail::uses_generations(method, o.method_options);
  const engine::GenerationStats before = engine.generation_stats();
  std::vector<std::optional<engine::QueryGenerations>> used(generated ? static_cast<size_t>(n) : 0);
  const auto t0 = std::chrono::steady_clock::now();
  // Ingestion's helper: a redrawn bar on a terminal, plain periodic lines in logs.
  Progress progress("eval " + method, n, o.progress);
  for (int64_t begin = 0; begin < n; begin += o.batch_size) {
    const int64_t end = std::min<int64_t>(n, begin + o.batch_size);
    std::vector<engine::QueryRequest> batch;
    for (int64_t i = begin; i < end; ++i) {
      const auto& q = split.queries[i];
      engine::QueryRequest r;
      if (!q.reference.empty()) {
        auto it = split.image_paths.find(q.reference);
        r.reference.gallery_id = it != split.image_paths.end() ? it->second : q.reference;
      }
      r.texts = eval::build_query_texts(q, convention);
      // Focus-CoIR re-ranks each query's own labelled candidates, not the whole gallery.
      for (const auto& [candidate, label] : q.candidates) {
        auto it = split.image_paths.find(candidate);
        r.candidate_ids.push_back(it != split.image_paths.end() ? it->second : candidate);
      }
      r.method = method;
      r.method_options = o.method_options;
      // CIReVL's prompt variant follows the dataset (generation.md 3.2).
      if (generated && !r.method_options.contains("dataset")) r.method_options["dataset"] = detail::dataset_family(split.benchmark);
      r.k = k;
      r.include_reference = keeps_reference(split.benchmark);
      r.exact = true;
      r.fetch_items = false;
      batch.push_back(std::move(r));
    }
    const auto results = engine.query_batch(batch);
    for (size_t j = 0; j < results.size(); ++j) {
      auto& ranking = rankings[begin + j];
      for (const auto& hit : results[j].hits) ranking.push_back(benchmark_id.at(hit.id));
      if (generated) used[static_cast<size_t>(begin) + j] = results[j].generated;
    }
    progress.advance(end - begin);
    if (on_progress) on_progress(end, n);
  }
  progress.finish();
  MethodResult mr;
  mr.method = method;
  mr.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  mr.ms_per_query = n > 0 ? 1000.0 * mr.seconds / n : 0;
  if (generated) {
    mr.generation = detail::summarize_generations(before, engine.generation_stats());
    if (!o.report.empty()) {
      mr.generation->captions_file = o.report + "." + method + ".generations.json";
      detail::write_generations(mr.generation->captions_file, split, used, *mr.generation);
    }
  }
  eval::BenchmarkSplit scored = split;
  scored.queries.resize(static_cast<size_t>(n));
  if (scored.has_ground_truth()) {
    // The shapes benchmarks score as custom triplets (Recall@K and mAP@K, reference dropped).
    const bool shapes = split.benchmark == "shapes" || split.benchmark == "shapes-captions";
    mr.report = shapes ? eval::score_triplets(scored, rankings) : eval::score_rankings(scored, rankings);
    mr.report.benchmark = split.benchmark;
  }
  if (!o.submission.empty()) {
    // Several methods: sub.json -> sub.<method>.json (a name without .json gets the suffix too).
    const std::string stem = o.submission.ends_with(".json") ? o.submission.substr(0, o.submission.size() - 5) : o.submission;
    const std::string path = o.methods.size() > 1 ? stem + "." + method + ".json" : o.submission;
    if (split.benchmark == "cirr") {
      eval::write_cirr_submission(path, scored, rankings, eval::SubmissionFormat::kCirrRecall);
      const std::string subset = path.ends_with(".json") ? path.substr(0, path.size() - 5) + ".subset.json" : path + ".subset";
      eval::write_cirr_submission(subset, scored, rankings, eval::SubmissionFormat::kCirrRecallSubset);
    }
    else if (split.benchmark == "circo")
      eval::write_circo_submission(path, scored, rankings);
    else
      throw Error(ErrorCode::kInvalidArgument, "--submission is for cirr and circo (test servers), not " + split.benchmark);
  }
  return mr;
}

}  // namespace

EvalRun run_eval(const EvalOptions& o, const std::function<void(int64_t, int64_t)>& on_progress) {
  if (o.methods.empty()) throw Error(ErrorCode::kInvalidArgument, "eval: give at least one --method");
  if (o.model.empty()) throw Error(ErrorCode::kInvalidArgument, "eval: --model is required");
  const eval::BenchmarkSplit split = read_any_benchmark(o.benchmark, o.root, o.split);
  if (split.gallery.empty())
    throw Error(ErrorCode::kNotFound, "benchmark " + o.benchmark + " (" + split.split + "): no gallery images under '" +
                                          o.root + "' (see docs/benchmarks.md for the layout)");
  // One model for the whole run (CLIP or BLIP-2): its spec names the cache, it indexes the
  // gallery and it encodes the queries.
  engine::EncoderOptions encoder_options;
  encoder_options.n_threads = o.n_threads > 0 ? o.n_threads : default_thread_count();
  const std::shared_ptr<const engine::Encoder> encoder = engine::Encoder::open(o.model, encoder_options);
  const model::ModelSpec& spec = encoder->spec();
  EvalRun run;
  run.benchmark = split.benchmark;
  run.split = split.split;
  run.model = o.model;
  run.index_dir = o.index_dir.empty() ? cache_dir_for(o, split, spec) : o.index_dir;
  run.n_gallery = static_cast<int64_t>(split.gallery.size());
  run.n_queries = o.max_queries > 0 ? std::min<int64_t>(o.max_queries, split.queries.size())
                                    : static_cast<int64_t>(split.queries.size());
  ensure_index(o, split, run.index_dir, *encoder);
  const auto engine = engine::Engine::open(run.index_dir, encoder);
  engine::GenerationOptions generation = o.generation;
  if (!generation.provider.base_url.empty() && generation.provider.cache_path.empty())
    generation.provider.cache_path = run.index_dir + "/llm-cache.sqlite";  // a rerun answers from it
  engine->set_generation(generation);
  for (const auto& method : o.methods) run.results.push_back(run_method(o, split, *engine, method, on_progress));
  if (!o.report.empty()) {
    write_file_atomic(o.report + ".md", report_markdown(run));
    write_file_atomic(o.report + ".json", report_json(run));
    write_file_atomic(o.report + ".svg", report_svg(run));
  }
  return run;
}

}  // namespace cir::evaluate
