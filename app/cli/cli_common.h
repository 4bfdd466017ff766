// Shared pieces of the `cir` command line: each cmd_<verb>.cpp registers its subcommand here.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

#include "cir/core.h"
#include "cir/gen.h"

namespace cir::cli {

/// Registration functions, one per command file.
void register_model_command(CLI::App& app);
void register_embed_command(CLI::App& app);
void register_tokenize_command(CLI::App& app);
void register_synth_command(CLI::App& app);
void register_train_command(CLI::App& app);
void register_index_command(CLI::App& app);
void register_search_command(CLI::App& app);
void register_eval_command(CLI::App& app);
void register_serve_command(CLI::App& app);
/// `cir index caption` and `cir index captions export|import` (cmd_caption.cpp), under `index`.
void register_caption_subcommands(CLI::App* index_command);

/// The provider flags of every command that talks to an LLM server (--llm, --llm-model,
/// --llm-fingerprint, --llm-cache, --llm-concurrency).
struct LlmFlags {
  std::string llm, llm_model, llm_fingerprint, llm_cache;
  int llm_concurrency = 4;
};
/// Registers the five flags; `cache_help` says where the cache goes by default.
void add_llm_flags(CLI::App* cmd, LlmFlags& flags, const std::string& cache_help);
/// The ProviderSpec the flags name; the cache is `default_cache` when --llm is given without
/// --llm-cache. kInvalidArgument for --llm without --llm-model.
gen::ProviderSpec provider_spec(const LlmFlags& flags, const std::string& default_cache);

/// The generation flags shared by `index caption`, `search`, `eval` and `serve` (the provider's,
/// --captioner, --editor, --n, --prompt-preset, sampling): raw values, turned into
/// engine::GenerationOptions by generation_options() in cmd_caption.cpp.
struct GenerationFlags : LlmFlags {
  std::string captioner, editor, captioner_key, editor_key;
  int n = 0;  ///< 0 = the preset's (seize 15, cirevl 1)
  std::string prompt_preset = "seize";
  /// Unset: the preset's decoding (generation.md 2.1 / 3.1); any one set sends all as given.
  std::optional<double> temperature, top_p;
  std::optional<int> max_tokens;
};
void add_generation_flags(CLI::App* cmd, GenerationFlags& flags);
}  // namespace cir::cli
namespace cir::engine {
struct GenerationOptions;
}
namespace cir::cli {
/// The options the flags select; the provider's response cache defaults to <index_dir>/llm-cache.sqlite.
/// kInvalidArgument for --llm without --llm-model or an unknown --prompt-preset.
engine::GenerationOptions generation_options(const GenerationFlags& flags, const std::string& index_dir);

/// "provider: R requests (G calls, H from the cache, T retries, F failed), P prompt + C completion
/// tokens": what a command cost at the provider (printed at the end of every generating command).
std::string provider_usage_line(const gen::ProviderStats& stats);

/// Reads a UTF-8 text file with one entry per line (trailing '\r' removed; a final empty
/// line ignored). Throws cir::Error naming the file.
std::vector<std::string> read_lines(const std::string& path);

/// Texts of a file: one per line, or for *.jsonl one JSON string (or {"text": ...}) per line,
/// which can carry newlines and tabs. Throws cir::Error naming file and line.
std::vector<std::string> read_texts(const std::string& path);

/// Expands files and directories (recursively, image extensions only, sorted) to file paths.
std::vector<std::string> expand_image_paths(const std::vector<std::string>& inputs);

}  // namespace cir::cli
