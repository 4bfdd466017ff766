// Checking a CLIP config's tower sizes against the checkpoint's tensor shapes before the net is
// allocated. The net is built from the config first and filled afterwards, so without this a
// mistaken or hostile config ("num_hidden_layers": 1000000) allocated gigabytes before the first
// shape check could fail. Only tensor names and shapes are read here (std-only, spec_check.h).
#include <set>

#include "cir/core.h"
#include "model/spec_check.h"

namespace cir::model::detail {
namespace {

// Layer indices present under `prefix` ("text_model.encoder.layers." -> {0, 1, ...}).
std::set<int> layer_indices(const std::vector<std::string>& names, const std::string& prefix) {
  std::set<int> indices;
  for (const std::string& name : names) {
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    size_t end = prefix.size();
    while (end < name.size() && name[end] >= '0' && name[end] <= '9') ++end;
    if (end == prefix.size() || end >= name.size() || name[end] != '.' || end - prefix.size() > 6) continue;
    indices.insert(std::stoi(name.substr(prefix.size(), end - prefix.size())));
  }
  return indices;
}

void check_layer_count(const WeightShapes& source, const std::vector<std::string>& names, const std::string& prefix,
                       int configured, const std::string& field) {
  const std::set<int> found = layer_indices(names, prefix);
  const int n_found = static_cast<int>(found.size());
  const bool contiguous = found.empty() || (*found.begin() == 0 && *found.rbegin() == n_found - 1);
  if (n_found == configured && contiguous) return;
  throw Error(ErrorCode::kModel, source.describe() + ": the config gives " + field + " = " + std::to_string(configured) +
                                     " but the weights hold " + std::to_string(n_found) + " layers under '" + prefix +
                                     "'" + (contiguous ? "" : " (not numbered 0..n-1)"));
}

void check_shape(const WeightShapes& source, const std::string& name, const std::vector<int64_t>& expected,
                 const std::string& fields) {
  const auto found = source.shape(name);
  if (!found)
    throw Error(ErrorCode::kModel, source.describe() + " lacks tensor '" + name + "' (expected shape " +
                                       shape_text(expected) + " from " + fields + ")");
  if (*found != expected)
    throw Error(ErrorCode::kModel, source.describe() + ": tensor '" + name + "' has shape " + shape_text(*found) +
                                       ", expected " + shape_text(expected) + " from the config (" + fields + ")");
}

struct TowerNames {
  std::string text_layers, vision_layers, token_embedding, text_positions, patch_embedding, vision_positions;
};

TowerNames tower_names(bool hf_names) {
  if (hf_names)
    return {"text_model.encoder.layers.", "vision_model.encoder.layers.",
            "text_model.embeddings.token_embedding.weight", "text_model.embeddings.position_embedding.weight",
            "vision_model.embeddings.patch_embedding.weight", "vision_model.embeddings.position_embedding.weight"};
  return {"transformer.resblocks.", "visual.transformer.resblocks.", "token_embedding.weight", "positional_embedding",
          "visual.conv1.weight", "visual.positional_embedding"};
}

}  // namespace

void check_sizes_against_weights(const ModelSpec& spec, const WeightShapes& source, bool hf_names) {
  const std::vector<std::string> names = source.names();
  const TowerNames t = tower_names(hf_names);
  check_layer_count(source, names, t.text_layers, spec.text_layers, "text layers");
  check_shape(source, t.token_embedding, {spec.vocab_size, spec.text_width}, "vocab_size x text width");
  check_shape(source, t.text_positions, {spec.context_length, spec.text_width}, "context length x text width");
  if (spec.image_tower == "vit") {
    check_layer_count(source, names, t.vision_layers, spec.vision_layers, "vision layers");
    check_shape(source, t.patch_embedding, {spec.vision_width, 3, spec.patch_size, spec.patch_size},
                "vision width, patch size");
    const int64_t grid = spec.patch_size > 0 ? spec.image_size / spec.patch_size : 0;
    check_shape(source, t.vision_positions, {grid * grid + 1, spec.vision_width}, "image size, patch size, vision width");
  } else if (spec.image_tower == "resnet") {
    for (size_t stage = 0; stage < spec.resnet_layers.size(); ++stage)
      check_layer_count(source, names, "visual.layer" + std::to_string(stage + 1) + ".", spec.resnet_layers[stage],
                        "resnet stage " + std::to_string(stage + 1) + " blocks");
  }
}

}  // namespace cir::model::detail
