// Model shapes the benchmarks build with random weights (what the issues' targets refer to).
#pragma once

#include "cir/model.h"

namespace cir::bench {

/// OpenAI ViT-B/32: 224 px, patch 32, width 768 x 12 layers; text width 512 x 12; embed 512.
inline model::ModelSpec vit_b32_spec() {
  model::ModelSpec spec;
  spec.image_tower = "vit";
  spec.activation = "quick_gelu";
  spec.embed_dim = 512;
  spec.image_size = 224;
  spec.patch_size = 32;
  spec.vision_width = 768;
  spec.vision_layers = 12;
  spec.vision_heads = 12;
  spec.text_width = 512;
  spec.text_heads = 8;
  spec.text_layers = 12;
  spec.vocab_size = 49408;
  spec.context_length = 77;
  spec.preprocess.image_size = 224;
  return spec;
}

}  // namespace cir::bench
