// The reference CLIP fixture's weights by OpenAI name (its OpenCLIP safetensors file), for the
// tests that write them into other checkpoint layouts (CLIP4Cir, SPN4CIR, tgcir, bare).
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <string>

#include "model/model_internal.h"
#include "test_support.h"

namespace cir::testing {

/// family "vit" or "rn".
inline std::map<std::string, at::Tensor> fixture_openai_state(const std::string& family) {
  const auto source =
      model::detail::open_safetensors_source(fixture_path("fixtures/clip/" + family + "/openai/open_clip_model.safetensors"));
  std::map<std::string, at::Tensor> state;
  for (const auto& name : source->names()) state[name] = source->load(name).clone();
  return state;
}

}  // namespace cir::testing
