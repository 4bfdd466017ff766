// Shared pieces of the `cir` command line: each cmd_<verb>.cpp registers its subcommand here.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "cir/core.h"

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

/// Reads a UTF-8 text file with one entry per line (trailing '\r' removed; a final empty
/// line ignored). Throws cir::Error naming the file.
std::vector<std::string> read_lines(const std::string& path);

/// Texts of a file: one per line, or for *.jsonl one JSON string (or {"text": ...}) per line,
/// which can carry newlines and tabs. Throws cir::Error naming file and line.
std::vector<std::string> read_texts(const std::string& path);

/// Expands files and directories (recursively, image extensions only, sorted) to file paths.
std::vector<std::string> expand_image_paths(const std::vector<std::string>& inputs);

}  // namespace cir::cli
