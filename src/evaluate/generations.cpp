// Generated-text bookkeeping of the evaluation harness (see generations.h).
#include "evaluate/generations.h"

#include <nlohmann/json.hpp>

namespace cir::evaluate::detail {

bool uses_generations(const std::string& method, const std::map<std::string, std::string>& method_options) {
  return (method == "seize" || method == "ldre" || method == "cirevl") && !method_options.contains("captions");
}

std::string dataset_family(const std::string& benchmark) {
  if (benchmark.rfind("fashioniq", 0) == 0) return "fashioniq";
  return benchmark;
}

GenerationSummary summarize_generations(const engine::GenerationStats& before, const engine::GenerationStats& after) {
  GenerationSummary s;
  s.provider = after.provider;
  s.captioner_keys = after.captioner_keys;
  s.editor_keys = after.editor_keys;
  s.prompt_sha256 = after.prompt_sha256;
  s.edits_stored = after.edits_stored - before.edits_stored;
  s.edits_generated = after.edits_generated - before.edits_generated;
  s.edits_failed = after.edits_failed - before.edits_failed;
  s.captions_generated = after.captions_generated - before.captions_generated;
  if (after.provider_stats) {
    const gen::ProviderStats zero;
    const gen::ProviderStats& b = before.provider_stats ? *before.provider_stats : zero;
    s.provider_requests = after.provider_stats->requests - b.requests;
    s.provider_cache_hits = after.provider_stats->cache_hits - b.cache_hits;
    s.provider_generations = after.provider_stats->generations - b.generations;
  }
  s.mode = s.edits_generated + s.captions_generated > 0 ? "generate" : "replay";
  s.cache_hit_rate = s.provider_generations > 0 ? static_cast<double>(s.provider_cache_hits) / s.provider_generations : 1.0;
  return s;
}

namespace {

nlohmann::json summary_json(const GenerationSummary& s) {
  return {{"mode", s.mode},
          {"provider", s.provider},
          {"captioner_keys", s.captioner_keys},
          {"editor_keys", s.editor_keys},
          {"prompt_sha256", s.prompt_sha256},
          {"edits_stored", s.edits_stored},
          {"edits_generated", s.edits_generated},
          {"edits_failed", s.edits_failed},
          {"captions_generated", s.captions_generated},
          {"provider_requests", s.provider_requests},
          {"provider_cache_hits", s.provider_cache_hits},
          {"provider_generations", s.provider_generations},
          {"cache_hit_rate", s.cache_hit_rate}};
}

}  // namespace

void write_generations(const std::string& path, const eval::BenchmarkSplit& split,
                       const std::vector<std::optional<engine::QueryGenerations>>& used, const GenerationSummary& summary) {
  nlohmann::json entries = nlohmann::json::array();
  for (size_t i = 0; i < used.size() && i < split.queries.size(); ++i) {
    if (!used[i]) continue;
    const auto& q = split.queries[i];
    std::string modification;
    for (const auto& t : q.texts) modification += (modification.empty() ? "" : " and ") + t;
    entries.push_back({{"id", q.id},
                       {"reference", q.reference},
                       {"relative_caption", modification},
                       {"multi_caption_opt", used[i]->captions},
                       {"multi_gpt-3.5_opt", used[i]->edits},
                       {"failed", used[i]->failed}});
  }
  write_file_atomic(path, entries.dump(2) + "\n");
  const std::string sidecar = path.ends_with(".json") ? path.substr(0, path.size() - 5) + ".gen.json" : path + ".gen.json";
  write_file_atomic(sidecar, summary_json(summary).dump(2) + "\n");
}

}  // namespace cir::evaluate::detail
