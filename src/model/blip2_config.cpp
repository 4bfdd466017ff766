// Reading a Blip2Spec: Hugging Face Blip2Config JSON (config.json + preprocessor_config.json)
// for both layouts, since LAVIS checkpoints carry no dimensions; without a config a LAVIS
// checkpoint is taken to be the stock EVA ViT-g/14 + BERT-base model (the Blip2Spec defaults).
// Std-only (fuzz target blip2_config); the weights are read elsewhere (blip2_weights.cpp).
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cir/blip2.h"
#include "model/spec_check.h"
#include "model/json_file.h"

namespace cir::model {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using detail::JsonFields;
using detail::parse_json_file;

// Blip2Config fields (vision_config, qformer_config, num_query_tokens, image_text_hidden_size);
// absent fields keep the Blip2Spec defaults, which are Blip2Config's own defaults too.
void apply_config(const std::string& path, Blip2Spec& spec) {
  const json root = parse_json_file(path);
  if (!root.is_object()) throw Error(ErrorCode::kModel, "'" + path + "' must hold a JSON object, found " + root.dump());
  const JsonFields top{root, path, ""};
  const std::string type = top.get_string("model_type", "blip-2");
  if (type != "blip-2" && type != "blip_2")
    throw Error(ErrorCode::kUnsupported, "'" + path + "' field model_type: expected \"blip-2\", found \"" + type + "\"");
  spec.n_query_tokens = top.get_int("num_query_tokens", spec.n_query_tokens);
  spec.embed_dim = top.get_int("image_text_hidden_size", spec.embed_dim);
  const JsonFields v = top.child("vision_config");
  spec.vision_width = v.get_int("hidden_size", spec.vision_width);
  spec.vision_mlp = v.get_int("intermediate_size", spec.vision_mlp);
  spec.vision_layers = v.get_int("num_hidden_layers", spec.vision_layers);
  spec.vision_heads = v.get_int("num_attention_heads", spec.vision_heads);
  spec.image_size = v.get_int("image_size", spec.image_size);
  spec.patch_size = v.get_int("patch_size", spec.patch_size);
  spec.vision_eps = v.get_number("layer_norm_eps", spec.vision_eps);
  const JsonFields q = top.child("qformer_config");
  spec.qformer_width = q.get_int("hidden_size", spec.qformer_width);
  spec.qformer_layers = q.get_int("num_hidden_layers", spec.qformer_layers);
  spec.qformer_heads = q.get_int("num_attention_heads", spec.qformer_heads);
  spec.qformer_intermediate = q.get_int("intermediate_size", spec.qformer_intermediate);
  spec.qformer_eps = q.get_number("layer_norm_eps", spec.qformer_eps);
  spec.max_positions = q.get_int("max_position_embeddings", spec.max_positions);
  spec.vocab_size = q.get_int("vocab_size", spec.vocab_size);
  spec.cross_attention_frequency = q.get_int("cross_attention_frequency", spec.cross_attention_frequency);
  if (v.get_string("hidden_act", "gelu") != "gelu" || q.get_string("hidden_act", "gelu") != "gelu")
    throw Error(ErrorCode::kUnsupported, "'" + path + "': only hidden_act \"gelu\" (exact erf GELU) is supported");
  const int encoder_width = q.get_int("encoder_hidden_size", spec.vision_width);
  if (encoder_width != spec.vision_width)
    throw Error(ErrorCode::kModel, "'" + path + "' field qformer_config.encoder_hidden_size: expected the vision width " +
                                       std::to_string(spec.vision_width) + ", found " + std::to_string(encoder_width));
}

// BlipImageProcessor: squash resize to size.height x size.width, bicubic (resample 3).
void apply_preprocessor(const std::string& path, Blip2Spec& spec) {
  const json root = parse_json_file(path);
  const JsonFields top{root, path, ""};
  const JsonFields size = top.child("size");
  const int height = size.get_int("height", spec.image_size), width = size.get_int("width", spec.image_size);
  if (height != width || height != spec.image_size)
    throw Error(ErrorCode::kModel, "'" + path + "' field size: expected " + std::to_string(spec.image_size) + "x" +
                                       std::to_string(spec.image_size) + " (the vision image_size), found " +
                                       std::to_string(height) + "x" + std::to_string(width));
  if (top.get_int("resample", 3) != 3)
    throw Error(ErrorCode::kUnsupported, "'" + path + "' field resample: only 3 (bicubic) is supported");
  spec.preprocess.mean = top.get_triple("image_mean", spec.preprocess.mean);
  spec.preprocess.std = top.get_triple("image_std", spec.preprocess.std);
}

// The .pth of a LAVIS directory: the only *.pth / *.pt file in it.
std::string find_lavis_checkpoint(const fs::path& dir) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string ext = entry.path().extension().string();
    if (entry.is_regular_file() && (ext == ".pth" || ext == ".pt")) found.push_back(entry.path().string());
  }
  if (found.size() == 1) return found[0];
  if (found.empty())
    throw Error(ErrorCode::kNotFound, "'" + dir.string() + "' holds neither model.safetensors (Hugging Face BLIP-2) "
                                      "nor a .pth checkpoint (LAVIS)");
  throw Error(ErrorCode::kInvalidArgument, "'" + dir.string() + "' holds several .pth/.pt files; pass one of them");
}

}  // namespace

Blip2Spec read_blip2_spec(const std::string& path) {
  Blip2Spec spec;
  spec.path = path;
  std::error_code ec;
  const fs::path p(path);
  fs::path dir;
  if (fs::is_directory(p, ec)) {
    dir = p;
    if (fs::exists(p / "model.safetensors", ec) || fs::exists(p / "model.safetensors.index.json", ec)) {
      spec.format = "hf";
      spec.weights_file = (fs::exists(p / "model.safetensors", ec) ? p / "model.safetensors"
                                                                   : p / "model.safetensors.index.json").string();
    } else {
      spec.format = "lavis";
      spec.weights_file = find_lavis_checkpoint(p);
    }
  } else if (fs::exists(p, ec)) {
    dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
    spec.format = p.extension() == ".safetensors" || p.extension() == ".json" ? "hf" : "lavis";
    spec.weights_file = path;
  } else {
    throw Error(ErrorCode::kNotFound, "BLIP-2 checkpoint '" + path + "' does not exist");
  }
  const fs::path config = dir / "config.json";
  if (spec.format == "hf" && !fs::exists(config, ec))
    throw Error(ErrorCode::kNotFound, "Hugging Face BLIP-2 checkpoint '" + path + "' has no config.json beside it");
  if (fs::exists(config, ec)) {
    apply_config(config.string(), spec);
    spec.config_file = config.string();
  }
  if (spec.format == "hf") {
    spec.ln_vision_eps = spec.vision_eps;  // HF's post_layernorm uses the vision layer_norm_eps
  }
  spec.preprocess.image_size = spec.image_size;
  spec.preprocess.resize_mode = ResizeMode::kSquash;
  const fs::path preprocessor = dir / "preprocessor_config.json";
  if (fs::exists(preprocessor, ec)) apply_preprocessor(preprocessor.string(), spec);
  detail::validate_blip2_spec(spec);
  return spec;
}

}  // namespace cir::model
