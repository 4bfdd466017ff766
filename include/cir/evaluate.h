// cir evaluate (L4): the evaluation harness. Reads a benchmark split (cir eval readers, plus the
// shapes world), indexes its gallery once with the model (a cir index, cached and reused across
// runs and methods), runs every query through Engine::query_batch — the path users get — and
// scores the rankings with the official metrics. Writes test-server submissions and a report
// (Markdown, JSON and an SVG Recall@K plot).
//
// Contract: plain structs; errors are cir::Error from the modules below (a missing benchmark
// file names the paths tried). Not thread-safe per call; runs use the engine's threads.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cir/engine.h"
#include "cir/eval.h"

namespace cir::evaluate {

/// The shapes world's composed queries of a split ("shapes"), or its caption->image retrieval
/// ("shapes-captions": text = a scene's first caption, targets = every scene with the same
/// caption). Image ids are scene ids; paths are relative to `world_dir`.
eval::BenchmarkSplit read_shapes(const std::string& world_dir, const std::string& split, bool captions_only);

/// read_benchmark plus the shapes benchmarks ("shapes", "shapes-captions").
eval::BenchmarkSplit read_any_benchmark(const std::string& name, const std::string& root, const std::string& split);

struct EvalOptions {
  std::string benchmark;                 ///< registry name
  std::string root;                      ///< benchmark root (annotations + images)
  std::string split;                     ///< "" = the benchmark's scored split
  std::string model;                     ///< model directory / .pt
  std::vector<std::string> methods{"sum"};
  std::map<std::string, std::string> method_options;  ///< passed to every method
  std::string caption_convention = "plain";
  std::string index_dir;                 ///< gallery index cache; "" = ~/.cache/cir/eval/<...>
  int k = 0;                             ///< ranking depth; 0 = whole gallery (exact metrics)
  int batch_size = 64;                   ///< queries per query_batch call
  int n_threads = 0;
  int max_queries = 0;                   ///< 0 = all (a prefix, for quick looks)
  std::string submission;                ///< write the test-server file here (CIRR/CIRCO)
  std::string report;                    ///< write <report>.md, <report>.json and <report>.svg
  bool progress = true;                  ///< stderr: a bar on a terminal, periodic lines otherwise
  /// SEIZE, LDRE and CIReVL without captions=<file>: replay by default (the index's stored or
  /// imported captions and edits, zero model calls; a missing one is an error naming it). With a
  /// provider (--llm) or a built-in generator, what is missing is generated and stored batch by
  /// batch, so an interrupted run resumes where it stopped.
  engine::GenerationOptions generation;
};

/// What a generated-text method used (generation.md 7.2: every LLM-dependent report prints it).
struct GenerationSummary {
  std::string mode;      ///< "replay" (nothing generated) or "generate"
  std::string provider;  ///< Provider::describe(), "" without one
  std::vector<std::string> captioner_keys, editor_keys;
  std::map<std::string, std::string> prompt_sha256;
  int64_t edits_stored = 0, edits_generated = 0, edits_failed = 0, captions_generated = 0;
  int64_t provider_requests = 0, provider_cache_hits = 0, provider_generations = 0;
  double cache_hit_rate = 0;  ///< provider cache hits / answered calls (1 when none was made)
  std::string captions_file;  ///< the captions/edits JSON written beside the report ("" without --report)
};

struct MethodResult {
  std::string method;
  eval::MetricReport report;  ///< empty metrics when the split has no ground truth
  double seconds = 0;
  double ms_per_query = 0;
  std::optional<GenerationSummary> generation;  ///< set for seize / ldre / cirevl on generated texts
};

struct EvalRun {
  std::string benchmark, split, model, index_dir;
  int64_t n_queries = 0, n_gallery = 0;
  std::vector<MethodResult> results;
};

/// Runs the evaluation. `on_progress(done, total)` is called as query batches finish.
EvalRun run_eval(const EvalOptions& options, const std::function<void(int64_t, int64_t)>& on_progress = {});

/// Markdown table (one row per method), JSON, and an SVG of Recall@K per method.
std::string report_markdown(const EvalRun& run);
std::string report_json(const EvalRun& run);
std::string report_svg(const EvalRun& run);

}  // namespace cir::evaluate
