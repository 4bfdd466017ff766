// Private to src/evaluate: what the harness records about generated-text methods (SEIZE, LDRE,
// CIReVL): the per-method summary and the captions/edits JSON written beside the report.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cir/evaluate.h"

namespace cir::evaluate::detail {

/// True for seize / ldre / cirevl when no captions file is given: the engine generates or replays.
bool uses_generations(const std::string& method, const std::map<std::string, std::string>& method_options);

/// The benchmark family CIReVL picks its prompt by ("circo", "cirr", "fashioniq", else the name).
std::string dataset_family(const std::string& benchmark);

/// The difference of two engine counters (before and after one method's queries).
GenerationSummary summarize_generations(const engine::GenerationStats& before, const engine::GenerationStats& after);

/// Writes the texts every query searched with, in SEIZE's layout (id, reference,
/// relative_caption, multi_caption_opt, multi_gpt-3.5_opt, failed), and beside it a `.gen.json`
/// sidecar with the summary (provider, model, prompt SHA-256s, cache hit rate).
void write_generations(const std::string& path, const eval::BenchmarkSplit& split,
                       const std::vector<std::optional<engine::QueryGenerations>>& used, const GenerationSummary& summary);

}  // namespace cir::evaluate::detail
