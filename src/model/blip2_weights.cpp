// Filling a Blip2Net: from a LAVIS checkpoint (torch.save zip, read in blip2_pickle.cpp),
// from a Hugging Face safetensors checkpoint through the LAVIS -> HF name mapping, or with
// random values for benchmarks. Every slot is checked for presence and shape.
#include <filesystem>
#include <map>
#include <optional>

#include "model/blip2_net.h"
#include "model/model_internal.h"

namespace cir::model::detail {
namespace {

// LAVIS checkpoints carry no sizes, so a mismatch usually means the config is missing or wrong.
constexpr const char* kLavisSizesHint =
    " (a LAVIS checkpoint's sizes come from the config.json beside it, or default to EVA ViT-g/14 + BERT-base)";

// Replaces the prefix `from` of `name` with `to`; false when `name` does not start with it.
bool replace_prefix(std::string& name, const std::string& from, const std::string& to) {
  if (name.rfind(from, 0) != 0) return false;
  name = to + name.substr(from.size());
  return true;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
}

// "blocks.N.rest" -> {"N.", "rest"} after a prefix was stripped.
std::pair<std::string, std::string> split_index(const std::string& rest) {
  const size_t dot = rest.find('.');
  return {rest.substr(0, dot + 1), rest.substr(dot + 1)};
}

std::string hf_vit_block_name(const std::string& rest) {
  auto [index, tail] = split_index(rest);
  replace_prefix(tail, "norm1.", "layer_norm1.") || replace_prefix(tail, "norm2.", "layer_norm2.") ||
      replace_prefix(tail, "attn.proj.", "self_attn.projection.") || replace_prefix(tail, "attn.", "self_attn.");
  return "vision_model.encoder.layers." + index + tail;
}

std::string hf_qformer_layer_name(const std::string& rest) {
  std::string name = "qformer.encoder.layer." + rest;
  replace_all(name, "attention.self.", "attention.attention.");  // also crossattention.self.
  return name;
}

int64_t numel_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (const int64_t d : shape) n *= d;
  return n;
}

// Tensors by name from either layout, with the file named in messages.
struct CheckpointTensors {
  std::string file;
  std::unique_ptr<WeightSource> safetensors;       // HF layout
  std::map<std::string, at::Tensor> state_dict;   // LAVIS layout

  std::optional<std::vector<int64_t>> shape(const std::string& name) const {
    if (safetensors) return safetensors->shape(name);
    const auto it = state_dict.find(name);
    if (it == state_dict.end()) return std::nullopt;
    return it->second.sizes().vec();
  }
  at::Tensor load(const std::string& name) const {
    if (safetensors) return safetensors->load(name);
    return state_dict.at(name);
  }
};

}  // namespace

std::string blip2_hf_name(const std::string& lavis_name) {
  std::string n = lavis_name;
  if (n == "visual_encoder.cls_token") return "vision_model.embeddings.class_embedding";
  if (n == "visual_encoder.pos_embed") return "vision_model.embeddings.position_embedding";
  if (replace_prefix(n, "visual_encoder.patch_embed.proj.", "vision_model.embeddings.patch_embedding.")) return n;
  if (n.rfind("visual_encoder.blocks.", 0) == 0) return hf_vit_block_name(n.substr(std::string("visual_encoder.blocks.").size()));
  if (replace_prefix(n, "ln_vision.", "vision_model.post_layernorm.")) return n;
  if (replace_prefix(n, "Qformer.bert.embeddings.LayerNorm.", "qformer.layernorm.")) return n;
  if (replace_prefix(n, "Qformer.bert.embeddings.", "embeddings.")) return n;
  if (n.rfind("Qformer.bert.encoder.layer.", 0) == 0)
    return hf_qformer_layer_name(n.substr(std::string("Qformer.bert.encoder.layer.").size()));
  if (replace_prefix(n, "vision_proj.", "vision_projection.")) return n;
  if (replace_prefix(n, "text_proj.", "text_projection.")) return n;
  return n;  // query_tokens
}

int64_t load_blip2_weights(Blip2Net& net, const Blip2Spec& spec) {
  CheckpointTensors source;
  source.file = spec.weights_file;
  const bool hf = spec.format == "hf";
  if (hf) {
    source.safetensors = open_safetensors_source(spec.weights_file);
  } else {
    for (auto& [name, tensor] : read_lavis_state_dict(spec.weights_file)) source.state_dict.emplace(name, std::move(tensor));
  }
  int64_t n_parameters = 0;
  for (const Blip2WeightSlot& slot : net.slots()) {
    const std::string name = hf ? blip2_hf_name(slot.name) : slot.name;
    const auto shape = source.shape(name);
    if (!shape)
      throw Error(ErrorCode::kModel, "BLIP-2 checkpoint '" + source.file + "' lacks tensor '" + name + "' (expected shape " +
                                         shape_text(slot.shape) + ")");
    if (*shape != slot.shape)
      throw Error(ErrorCode::kModel, "BLIP-2 checkpoint '" + source.file + "' tensor '" + name + "': expected shape " +
                                         shape_text(slot.shape) + " from the config, found " + shape_text(*shape) +
                                         (hf ? "" : kLavisSizesHint));
    try {
      *slot.tensor = source.load(name).to(at::kFloat).contiguous();
    } catch (const c10::Error& e) {
      throw Error(ErrorCode::kModel, "BLIP-2 checkpoint '" + source.file + "' tensor '" + name + "': " + e.what_without_backtrace());
    }
    n_parameters += numel_of(slot.shape);
  }
  return n_parameters;
}

int64_t fill_random_blip2(Blip2Net& net, at::ScalarType dtype, uint64_t seed) {
  return fill_random_slots(net.slots(), dtype, seed);
}

int64_t fill_random_slots(const std::vector<Blip2WeightSlot>& slots, at::ScalarType dtype, uint64_t seed) {
  at::Generator generator = at::detail::createCPUGenerator(seed);
  int64_t n_parameters = 0;
  for (const Blip2WeightSlot& slot : slots) {
    const bool is_bias = slot.name.size() > 5 && slot.name.compare(slot.name.size() - 5, 5, ".bias") == 0;
    at::Tensor t;
    if (slot.is_norm_weight) t = at::ones(slot.shape, at::TensorOptions().dtype(dtype));
    else if (is_bias || slot.name.find("q_bias") != std::string::npos || slot.name.find("v_bias") != std::string::npos)
      t = at::zeros(slot.shape, at::TensorOptions().dtype(dtype));
    else
      t = at::empty(slot.shape, at::TensorOptions().dtype(at::kFloat)).normal_(0.0, 0.02, generator).to(dtype);
    *slot.tensor = t;
    n_parameters += numel_of(slot.shape);
  }
  return n_parameters;
}

namespace {

// Bytes of the checkpoint: the file, or every .safetensors shard beside a sharded index.
std::optional<uintmax_t> checkpoint_bytes(const std::string& weights_file) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path file(weights_file);
  if (file.filename().string().ends_with(".index.json")) {
    uintmax_t total = 0;
    for (const auto& entry : fs::directory_iterator(file.parent_path(), ec))
      if (entry.path().extension() == ".safetensors") total += entry.file_size(ec);
    return ec ? std::nullopt : std::optional<uintmax_t>(total);
  }
  const uintmax_t size = fs::file_size(file, ec);
  return ec ? std::nullopt : std::optional<uintmax_t>(size);
}

}  // namespace

// The net is allocated from the config before any tensor is read, so a config claiming huge
// towers ("num_hidden_layers": 1000000) would allocate gigabytes before the first shape check.
// A lower bound on the parameters the config implies (attention and MLP matrices, word
// embeddings; at 2 bytes each, the smallest dtype a checkpoint may store) must fit in the file.
// Only sizes a config claims are checked: LAVIS defaults (EVA ViT-g) are what a real checkpoint
// without a config holds, and a damaged file is best reported by the loader as damaged.
void check_parameter_budget(const Blip2Spec& spec) {
  if (spec.config_file.empty()) return;
  const auto w = [](int v) { return static_cast<double>(v); };
  const double vision = w(spec.vision_layers) * (4 * w(spec.vision_width) * w(spec.vision_width) +
                                                 2 * w(spec.vision_width) * w(spec.vision_mlp));
  const double qformer = w(spec.qformer_layers) * (4 * w(spec.qformer_width) * w(spec.qformer_width) +
                                                   2 * w(spec.qformer_width) * w(spec.qformer_intermediate));
  const double words = w(spec.vocab_size) * w(spec.qformer_width);
  const double min_bytes = 2 * (vision + qformer + words);
  const auto bytes = checkpoint_bytes(spec.weights_file);
  if (!bytes) return;  // the loader reports an unreadable file itself, naming it
  const uintmax_t file_bytes = *bytes;
  if (min_bytes > 1.05 * static_cast<double>(file_bytes) + (1 << 20))
    throw Error(ErrorCode::kModel, "BLIP-2 model '" + spec.path + "': the config's sizes (" +
                                       std::to_string(spec.vision_layers) + " vision layers of width " +
                                       std::to_string(spec.vision_width) + ", " + std::to_string(spec.qformer_layers) +
                                       " Q-Former layers of width " + std::to_string(spec.qformer_width) +
                                       ") need at least " + std::to_string(static_cast<int64_t>(min_bytes / 1e6)) +
                                       " MB of weights, but '" + spec.weights_file + "' holds " +
                                       std::to_string(file_bytes / 1000000) + " MB: '" + spec.config_file + "' does not fit the checkpoint");
}

}  // namespace cir::model::detail
