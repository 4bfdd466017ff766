// Spec checks for both model families, std-only (spec_check.h): the config readers run them on
// what they read, and the networks run them again before sizing their layers from a spec.
#include "model/spec_check.h"

#include "cir/core.h"

namespace cir::model::detail {
namespace {

[[noreturn]] void bad_spec(const std::string& what) { throw Error(ErrorCode::kModel, "model spec: " + what); }

[[noreturn]] void bad_blip2_spec(const std::string& what) { throw Error(ErrorCode::kModel, "BLIP-2 spec: " + what); }

void require_blip2_positive(int value, const char* field) {
  if (value <= 0) bad_blip2_spec(std::string(field) + " must be > 0, found " + std::to_string(value));
}

}  // namespace

Activation parse_activation(const std::string& name) {
  if (name == "quick_gelu") return Activation::kQuickGelu;
  if (name == "gelu") return Activation::kGelu;
  throw Error(ErrorCode::kUnsupported, "activation '" + name + "' is not supported (expected quick_gelu or gelu)");
}

void validate_spec(const ModelSpec& spec) {
  auto positive = [](const char* field, int value) {
    if (value <= 0) bad_spec(std::string(field) + " must be positive, found " + std::to_string(value));
  };
  positive("embed_dim", spec.embed_dim);
  positive("image_size", spec.image_size);
  positive("vision_width", spec.vision_width);
  positive("vision_heads", spec.vision_heads);
  positive("text_width", spec.text_width);
  positive("text_heads", spec.text_heads);
  positive("text_layers", spec.text_layers);
  positive("context_length", spec.context_length);
  positive("vocab_size", spec.vocab_size);
  parse_activation(spec.activation);
  if (spec.text_width % spec.text_heads != 0)
    bad_spec("text_width " + std::to_string(spec.text_width) + " is not divisible by text_heads " +
             std::to_string(spec.text_heads));
  if (spec.image_tower == "vit") {
    positive("patch_size", spec.patch_size);
    positive("vision_layers", spec.vision_layers);
    if (spec.image_size % spec.patch_size != 0)
      bad_spec("image_size " + std::to_string(spec.image_size) + " is not a multiple of patch_size " +
               std::to_string(spec.patch_size));
    if (spec.vision_width % spec.vision_heads != 0)
      bad_spec("vision_width " + std::to_string(spec.vision_width) + " is not divisible by vision_heads " +
               std::to_string(spec.vision_heads));
  } else if (spec.image_tower == "resnet") {
    if (spec.resnet_layers.size() != 4) bad_spec("resnet_layers must list 4 stages, found " + std::to_string(spec.resnet_layers.size()));
    for (int n : spec.resnet_layers) positive("resnet_layers[i]", n);
    if (spec.image_size % 32 != 0) bad_spec("ResNet image_size must be a multiple of 32, found " + std::to_string(spec.image_size));
    if (spec.vision_width % 2 != 0) bad_spec("ResNet vision_width must be even, found " + std::to_string(spec.vision_width));
    if ((spec.vision_width * 32) % spec.vision_heads != 0)
      bad_spec("ResNet feature width " + std::to_string(spec.vision_width * 32) + " is not divisible by vision_heads " +
               std::to_string(spec.vision_heads));
  } else {
    throw Error(ErrorCode::kUnsupported, "image tower '" + spec.image_tower + "' is not supported (expected vit or resnet)");
  }
}

void validate_spec_of(const ModelSpec& spec, const std::string& source) {
  try {
    validate_spec(spec);
  } catch (const Error& e) {
    throw Error(e.code(), "'" + source + "': " + e.what());
  }
}

void validate_blip2_spec(const Blip2Spec& s) {
  require_blip2_positive(s.image_size, "image_size");
  require_blip2_positive(s.patch_size, "patch_size");
  require_blip2_positive(s.vision_width, "vision_width");
  require_blip2_positive(s.vision_layers, "vision_layers");
  require_blip2_positive(s.vision_heads, "vision_heads");
  require_blip2_positive(s.vision_mlp, "vision_mlp");
  require_blip2_positive(s.qformer_width, "qformer_width");
  require_blip2_positive(s.qformer_layers, "qformer_layers");
  require_blip2_positive(s.qformer_heads, "qformer_heads");
  require_blip2_positive(s.qformer_intermediate, "qformer_intermediate");
  require_blip2_positive(s.max_positions, "max_positions");
  require_blip2_positive(s.vocab_size, "vocab_size");
  require_blip2_positive(s.cross_attention_frequency, "cross_attention_frequency");
  require_blip2_positive(s.n_query_tokens, "n_query_tokens");
  require_blip2_positive(s.embed_dim, "embed_dim");
  if (s.image_size % s.patch_size != 0)
    bad_blip2_spec("image_size " + std::to_string(s.image_size) + " is not a multiple of patch_size " +
             std::to_string(s.patch_size));
  if (s.vision_width % s.vision_heads != 0)
    bad_blip2_spec("vision_width " + std::to_string(s.vision_width) + " is not a multiple of vision_heads " +
             std::to_string(s.vision_heads));
  if (s.qformer_width % s.qformer_heads != 0)
    bad_blip2_spec("qformer_width " + std::to_string(s.qformer_width) + " is not a multiple of qformer_heads " +
             std::to_string(s.qformer_heads));
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

}  // namespace cir::model::detail
