// Private to cir_model: a CLIP ModelSpec from a checkpoint directory's JSON config files
// (Hugging Face config.json + preprocessor_config.json, OpenCLIP open_clip_config.json), and
// the Hugging Face config text for a spec. Std-only (config.cpp; fuzz target model_config):
// the TorchScript layout, which needs libtorch, is read in torchscript.cpp.
#pragma once

#include <string>

#include "cir/model.h"

namespace cir::model::detail {

/// Hugging Face CLIPModel directory: config.json (+ preprocessor_config.json if present).
/// Throws kNotFound (no config or weights file), kCorrupt (not JSON), kModel (bad field,
/// naming the file, the field, expected and found), kUnsupported (a variant cir lacks).
ModelSpec read_hf_spec(const std::string& dir);
/// OpenCLIP directory: open_clip_config.json. Throws as read_hf_spec.
ModelSpec read_open_clip_spec(const std::string& dir);

/// config.json / preprocessor_config.json text describing `spec` as a Hugging Face CLIPModel.
std::string hf_config_text(const ModelSpec& spec);
std::string hf_preprocessor_text(const ModelSpec& spec);

}  // namespace cir::model::detail
