// Reading SPRC checkpoints: which layout a torch.save file is (from its pickle alone), the
// sizes (config.json beside the file, or the EVA ViT-g/14 + BERT-base defaults, since the
// released files carry none), and filling an SprcNet with presence and shape checks.
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "model/json_file.h"
#include "model/model_internal.h"
#include "model/sprc/sprc_net.h"

namespace cir::model {
namespace {

namespace fs = std::filesystem;
using detail::JsonFields;

constexpr const char* kSprcKey = "Blip2QformerCirAlignPrompt";  // SPRC save_model: the class name
constexpr const char* kSpnKey = "state_dict";                    // SPN4CIR save_model
constexpr const char* kSpnPrefix = "blip_model.";                // CIRPlus.blip_model
constexpr const char* kSpnStage2Probe = "blip_model.Qformer_query.bert.embeddings.word_embeddings.weight";

bool has_tensor(const std::vector<std::pair<std::string, at::Tensor>>& tensors, const std::string& name) {
  for (const auto& entry : tensors)
    if (entry.first == name) return true;
  return false;
}

std::optional<SprcLayout> layout_of(const detail::TorchCheckpoint& checkpoint) {
  if (checkpoint.state_dicts.count(kSprcKey)) return SprcLayout::kSprc;
  const auto spn = checkpoint.state_dicts.find(kSpnKey);
  if (spn != checkpoint.state_dicts.end() && has_tensor(spn->second, kSpnStage2Probe)) return SprcLayout::kSpn4cirBlip24cir;
  return std::nullopt;
}

std::string joined_keys(const std::vector<std::string>& keys) {
  std::string out;
  for (const std::string& k : keys) out += (out.empty() ? "'" : ", '") + k + "'";
  return out.empty() ? "none" : out;
}

// A directory stands for the one .pt/.pth file in it.
std::string checkpoint_file(const std::string& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    if (!fs::exists(path, ec)) throw Error(ErrorCode::kNotFound, "SPRC checkpoint '" + path + "' does not exist");
    return path;
  }
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator(path, ec)) {
    const std::string ext = entry.path().extension().string();
    if (entry.is_regular_file() && (ext == ".pt" || ext == ".pth")) found.push_back(entry.path().string());
  }
  if (found.size() == 1) return found[0];
  throw Error(found.empty() ? ErrorCode::kNotFound : ErrorCode::kInvalidArgument,
              "'" + path + "' holds " + std::to_string(found.size()) + " .pt/.pth files; an SPRC directory holds exactly one");
}

// shared/fixtures/sprc/config.json's schema: {"vision": {...}, "qformer": {...}, "embed_dim"}.
void apply_sprc_config(const nlohmann::json& root, const std::string& path, SprcSpec& spec) {
  const JsonFields top{root, path, ""};
  Blip2Spec& b = spec.blip2;
  b.embed_dim = top.get_int("embed_dim", b.embed_dim);
  const JsonFields v = top.child("vision");
  b.image_size = v.get_int("image_size", b.image_size);
  b.patch_size = v.get_int("patch_size", b.patch_size);
  b.vision_width = v.get_int("width", b.vision_width);
  b.vision_layers = v.get_int("layers", b.vision_layers);
  b.vision_heads = v.get_int("heads", b.vision_heads);
  b.vision_mlp = v.get_int("mlp_hidden", b.vision_mlp);
  b.vision_eps = v.get_number("layer_norm_eps", b.vision_eps);
  b.ln_vision_eps = v.get_number("ln_vision_eps", b.ln_vision_eps);
  const JsonFields q = top.child("qformer");
  b.qformer_width = q.get_int("hidden", b.qformer_width);
  b.qformer_layers = q.get_int("layers", b.qformer_layers);
  b.qformer_heads = q.get_int("heads", b.qformer_heads);
  b.qformer_intermediate = q.get_int("intermediate", b.qformer_intermediate);
  b.max_positions = q.get_int("max_pos", b.max_positions);
  b.vocab_size = q.get_int("vocab_size", b.vocab_size);
  b.cross_attention_frequency = q.get_int("cross_attention_freq", b.cross_attention_frequency);
  b.qformer_eps = q.get_number("layer_norm_eps", b.qformer_eps);
  b.n_query_tokens = q.get_int("num_query_token", b.n_query_tokens);
  spec.max_text_length = q.get_int("max_txt_len", spec.max_text_length);
}

// Sizes: the fixture schema when config.json has "vision"/"qformer", else what the BLIP-2 LAVIS
// path reads (a Hugging Face Blip2Config beside the file, or the defaults).
void read_sizes(const std::string& file, SprcSpec& spec) {
  const fs::path dir = fs::path(file).parent_path().empty() ? fs::path(".") : fs::path(file).parent_path();
  const fs::path config = dir / "config.json";
  std::error_code ec;
  if (fs::exists(config, ec)) {
    const nlohmann::json root = detail::parse_json_file(config.string());
    if (root.is_object() && (root.contains("vision") || root.contains("qformer"))) {
      spec.blip2.path = file;
      spec.blip2.weights_file = file;
      apply_sprc_config(root, config.string(), spec);
      spec.blip2.config_file = config.string();
      return;
    }
  }
  spec.blip2 = read_blip2_spec(file);
}

}  // namespace

std::string_view sprc_layout_name(SprcLayout layout) {
  return layout == SprcLayout::kSprc ? "sprc" : "spn4cir_blip24cir";
}

std::optional<SprcLayout> detect_sprc_checkpoint(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;
  try {
    return layout_of(detail::read_torch_checkpoint(path, /*read_tensors=*/false));
  } catch (const Error&) {
    return std::nullopt;  // not a torch.save zip: some other family's file
  }
}

SprcSpec read_sprc_spec(const std::string& path) {
  const std::string file = checkpoint_file(path);
  const detail::TorchCheckpoint checkpoint = detail::read_torch_checkpoint(file, /*read_tensors=*/false);
  const std::optional<SprcLayout> layout = layout_of(checkpoint);
  if (!layout) {
    const bool lavis = checkpoint.state_dicts.count("model") > 0;
    throw Error(ErrorCode::kModel, "'" + file + "' is not an SPRC checkpoint: expected top-level key '" + kSprcKey +
                                       "' (SPRC) or 'state_dict' holding '" + kSpnStage2Probe +
                                       "' (SPN4CIR blip24cir), found keys " + joined_keys(checkpoint.top_keys) +
                                       (lavis ? " (a LAVIS {'model': ...} file: open it as BLIP-2)" : ""));
  }
  SprcSpec spec;
  spec.layout = *layout;
  spec.checkpoint_key = *layout == SprcLayout::kSprc ? kSprcKey : kSpnKey;
  if (const auto epoch = checkpoint.integers.find("epoch"); epoch != checkpoint.integers.end()) spec.epoch = epoch->second;
  read_sizes(file, spec);
  spec.blip2.path = path;
  spec.blip2.weights_file = file;
  spec.blip2.format = std::string(sprc_layout_name(*layout));
  // SPRC's targetpad_transform(1.25, size): pad to ratio, shorter side bicubic, centre crop.
  spec.blip2.preprocess.image_size = spec.blip2.image_size;
  spec.blip2.preprocess.resize_mode = ResizeMode::kTargetPad;
  spec.blip2.preprocess.target_pad_ratio = 1.25;
  detail::validate_blip2_spec(spec.blip2);
  return spec;
}

namespace detail {

int64_t load_sprc_weights(SprcNet& net, const SprcSpec& spec) {
  const std::string& file = spec.blip2.weights_file;
  TorchCheckpoint checkpoint = read_torch_checkpoint(file, /*read_tensors=*/true);
  const auto dict = checkpoint.state_dicts.find(spec.checkpoint_key);
  if (dict == checkpoint.state_dicts.end())
    throw Error(ErrorCode::kCorrupt, "SPRC checkpoint '" + file + "' lost its '" + spec.checkpoint_key + "' state dict");
  std::map<std::string, at::Tensor> tensors(dict->second.begin(), dict->second.end());
  const std::string prefix = spec.layout == SprcLayout::kSpn4cirBlip24cir ? kSpnPrefix : "";
  int64_t n_parameters = 0;
  for (const Blip2WeightSlot& slot : net.slots()) {
    const std::string name = prefix + slot.name;
    const auto it = tensors.find(name);
    if (it == tensors.end())
      throw Error(ErrorCode::kModel, "SPRC checkpoint '" + file + "' lacks tensor '" + name + "' (expected shape " +
                                         shape_text(slot.shape) + ")");
    if (it->second.sizes().vec() != slot.shape)
      throw Error(ErrorCode::kModel, "SPRC checkpoint '" + file + "' tensor '" + name + "': expected shape " +
                                         shape_text(slot.shape) + ", found " + shape_text(it->second.sizes().vec()) +
                                         " (sizes come from the config.json beside the checkpoint, or default to "
                                         "EVA ViT-g/14 + BERT-base)");
    // fp16 ViT weights (saved from CUDA) become fp32 here; the model dtype is applied later.
    *slot.tensor = it->second.to(at::kFloat).contiguous();
    n_parameters += it->second.numel();
  }
  return n_parameters;
}

}  // namespace detail
}  // namespace cir::model
