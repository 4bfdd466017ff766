// Reading a ModelSpec from the two JSON checkpoint layouts (Hugging Face, OpenCLIP), and writing
// the Hugging Face config files for a spec. Config problems name the file and the field with
// expected and found values. Std-only (config.h): read_model_spec, which also reads TorchScript
// archives, is in torchscript.cpp.
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cir/core.h"
#include "model/config.h"
#include "model/json_file.h"
#include "model/spec_check.h"

namespace cir::model {
namespace detail {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using Fields = JsonFields;

void check_layer_norm_eps(const Fields& f) {
  const double eps = f.get_number("layer_norm_eps", 1e-5);
  if (std::fabs(eps - 1e-5) > 1e-9)
    throw Error(ErrorCode::kUnsupported, f.where("layer_norm_eps") + ": CLIP uses 1e-05, found " + std::to_string(eps));
}

// Hugging Face image processor sizes are either an int or an object.
int hf_size(const Fields& f, const std::string& key, int fallback, bool* is_shortest) {
  if (!f.has(key)) return fallback;
  const json& v = f.obj.at(key);
  if (v.is_number_integer()) return f.get_int(key);
  if (!v.is_object()) f.wrong_type(key, "an integer or an object");
  const Fields sub{v, f.file, f.prefix + key + "."};
  if (sub.has("shortest_edge")) {
    if (is_shortest) *is_shortest = true;
    return sub.get_int("shortest_edge");
  }
  const int height = sub.get_int("height"), width = sub.get_int("width");
  if (height != width) throw Error(ErrorCode::kUnsupported, f.where(key) + ": non-square sizes are not supported");
  if (is_shortest) *is_shortest = false;
  return height;
}

PreprocessSpec read_hf_preprocess(const std::string& path, int image_size) {
  PreprocessSpec pre;
  pre.image_size = image_size;
  if (!fs::exists(path)) return pre;
  const json doc = parse_json_file(path);
  if (!doc.is_object()) throw Error(ErrorCode::kModel, "'" + path + "' must hold a JSON object");
  const Fields f{doc, path, ""};
  bool shortest = true;
  const int resize = hf_size(f, "size", image_size, &shortest);
  const bool center_crop = f.get_bool("do_center_crop", true);
  const int crop = hf_size(f, "crop_size", image_size, nullptr);
  pre.image_size = center_crop ? crop : resize;
  pre.resize_mode = (shortest || center_crop) ? ResizeMode::kShortestCenterCrop : ResizeMode::kSquash;
  if (shortest && center_crop && resize != crop)
    log(LogLevel::kWarn, "'" + path + "': resize to " + std::to_string(resize) + " then crop " + std::to_string(crop) +
                             " is approximated by resizing straight to the crop size");
  pre.mean = f.get_triple("image_mean", pre.mean);
  pre.std = f.get_triple("image_std", pre.std);
  // cir's own keys (written by save_hf_directory) for modes Hugging Face has no name for.
  if (f.has("cir_resize_mode")) {
    try {
      pre.resize_mode = parse_resize_mode(f.get_string("cir_resize_mode", ""));
    } catch (const Error& e) {
      throw Error(ErrorCode::kModel, f.where("cir_resize_mode") + ": " + e.what());
    }
  }
  pre.target_pad_ratio = f.get_number("cir_target_pad_ratio", pre.target_pad_ratio);
  if (pre.image_size != image_size)
    throw Error(ErrorCode::kModel, "'" + path + "': image size " + std::to_string(pre.image_size) +
                                       " does not match the model's vision_config.image_size " + std::to_string(image_size));
  return pre;
}

std::string find_hf_weights(const std::string& dir) {
  for (const char* name : {"model.safetensors", "model.safetensors.index.json"}) {
    const std::string p = (fs::path(dir) / name).string();
    if (fs::exists(p)) return p;
  }
  for (const char* name : {"pytorch_model.bin", "pytorch_model.bin.index.json"}) {
    if (fs::exists(fs::path(dir) / name))
      throw Error(ErrorCode::kUnsupported, "'" + dir + "' holds only " + name +
                                               " (pickle); cir reads model.safetensors: convert the checkpoint to safetensors");
  }
  throw Error(ErrorCode::kNotFound, "'" + dir + "' has config.json but no model.safetensors or model.safetensors.index.json");
}

}  // namespace

ModelSpec read_hf_spec(const std::string& dir) {
  const std::string path = (fs::path(dir) / "config.json").string();
  const json doc = parse_json_file(path);
  if (!doc.is_object()) throw Error(ErrorCode::kModel, "'" + path + "' must hold a JSON object");
  const Fields top{doc, path, ""};
  const std::string model_type = top.get_string("model_type", "clip");
  if (model_type != "clip")
    throw Error(ErrorCode::kUnsupported, "'" + path + "': model_type '" + model_type + "' is not supported (expected clip)");
  // Old configs carry the towers as *_config_dict with *_config null.
  const std::string text_key = top.has("text_config") || !top.has("text_config_dict") ? "text_config" : "text_config_dict";
  const std::string vision_key =
      top.has("vision_config") || !top.has("vision_config_dict") ? "vision_config" : "vision_config_dict";
  const Fields text = top.object(text_key);
  const Fields vision = top.object(vision_key);

  // Missing tower fields take Hugging Face's CLIPTextConfig/CLIPVisionConfig defaults, as
  // transformers itself does (recent versions omit default values when saving).
  ModelSpec spec;
  spec.path = dir;
  spec.format = "hf";
  spec.image_tower = "vit";
  spec.embed_dim = top.get_int("projection_dim", 512);
  spec.text_width = text.get_int("hidden_size", 512);
  spec.text_heads = text.get_int("num_attention_heads", 8);
  spec.text_layers = text.get_int("num_hidden_layers", 12);
  spec.context_length = text.get_int("max_position_embeddings", 77);
  spec.vocab_size = text.get_int("vocab_size", 49408);
  spec.vision_width = vision.get_int("hidden_size", 768);
  spec.vision_heads = vision.get_int("num_attention_heads", 12);
  spec.vision_layers = vision.get_int("num_hidden_layers", 12);
  spec.image_size = vision.get_int("image_size", 224);
  spec.patch_size = vision.get_int("patch_size", 32);
  if (vision.get_int("num_channels", 3) != 3)
    throw Error(ErrorCode::kUnsupported, vision.where("num_channels") + ": only 3-channel images are supported");
  const int text_mlp = text.get_int("intermediate_size", 4 * spec.text_width);
  const int vision_mlp = vision.get_int("intermediate_size", 4 * spec.vision_width);
  if (text_mlp != 4 * spec.text_width)
    throw Error(ErrorCode::kUnsupported, text.where("intermediate_size") + ": CLIP uses 4 x hidden_size = " +
                                             std::to_string(4 * spec.text_width) + ", found " + std::to_string(text_mlp));
  if (vision_mlp != 4 * spec.vision_width)
    throw Error(ErrorCode::kUnsupported, vision.where("intermediate_size") + ": CLIP uses 4 x hidden_size = " +
                                             std::to_string(4 * spec.vision_width) + ", found " + std::to_string(vision_mlp));
  const std::string text_act = text.get_string("hidden_act", "quick_gelu");
  const std::string vision_act = vision.get_string("hidden_act", "quick_gelu");
  for (const auto& [fields, act] : {std::pair{&text, text_act}, std::pair{&vision, vision_act}})
    if (act != "quick_gelu" && act != "gelu")
      throw Error(ErrorCode::kUnsupported, fields->where("hidden_act") + ": expected quick_gelu or gelu, found " + act);
  if (text_act != vision_act)
    throw Error(ErrorCode::kUnsupported, "'" + path + "': text and vision hidden_act differ (" + text_act + " vs " +
                                             vision_act + "); cir uses one activation for both towers");
  spec.activation = text_act;
  check_layer_norm_eps(text);
  check_layer_norm_eps(vision);
  spec.preprocess = read_hf_preprocess((fs::path(dir) / "preprocessor_config.json").string(), spec.image_size);
  spec.weights_file = find_hf_weights(dir);
  validate_spec_of(spec, (fs::path(dir) / "config.json").string());
  return spec;
}

ModelSpec read_open_clip_spec(const std::string& dir) {
  const std::string path = (fs::path(dir) / "open_clip_config.json").string();
  const json doc = parse_json_file(path);
  if (!doc.is_object()) throw Error(ErrorCode::kModel, "'" + path + "' must hold a JSON object");
  const Fields top{doc, path, ""};
  const Fields model = top.object("model_cfg");
  const Fields vision = model.object("vision_cfg");
  const Fields text = model.object("text_cfg");
  for (const auto& [fields, key] : {std::pair{&vision, "timm_model_name"}, std::pair{&text, "hf_model_name"}})
    if (fields->has(key))
      throw Error(ErrorCode::kUnsupported, fields->where(key) + ": OpenCLIP towers from timm/transformers are not supported");
  for (const Fields* f : {&vision, &text}) {
    if (std::fabs(f->get_number("mlp_ratio", 4.0) - 4.0) > 1e-9)
      throw Error(ErrorCode::kUnsupported, f->where("mlp_ratio") + ": only 4.0 (CLIP's MLP) is supported");
    // OpenCLIP variants whose extra or missing layers the OpenAI architecture would silently
    // get wrong (layer scale, no ln_pre, attentional pooling, other pooling, biased projections).
    for (const char* key : {"ls_init_value", "attentional_pool", "no_ln_pre", "final_ln_after_pool", "proj_bias",
                            "embed_cls", "output_tokens"}) {
      if (!f->has(key)) continue;
      const auto& v = f->obj.at(key);
      if (v.is_boolean() && !v.get<bool>()) continue;
      throw Error(ErrorCode::kUnsupported, f->where(key) + " = " + v.dump() + " is an OpenCLIP variant cir does not implement");
    }
    const std::string pool = f->get_string("pool_type", f == &vision ? "tok" : "argmax");
    if (pool != (f == &vision ? "tok" : "argmax"))
      throw Error(ErrorCode::kUnsupported, f->where("pool_type") + " '" + pool + "' is not CLIP's pooling");
  }

  ModelSpec spec;
  spec.path = dir;
  spec.format = "open_clip";
  spec.embed_dim = model.get_int("embed_dim");
  spec.activation = model.get_bool("quick_gelu", false) ? "quick_gelu" : "gelu";
  if (vision.has("image_size") && vision.obj.at("image_size").is_array()) {
    const json& s = vision.obj.at("image_size");
    if (s.size() != 2 || !s[0].is_number_integer() || s[0] != s[1])
      throw Error(ErrorCode::kUnsupported, vision.where("image_size") + ": expected a square size, found " + s.dump());
    if (!Fields::is_positive_int(s[0])) vision.wrong_type("image_size", "a square size of positive integers");
    spec.image_size = s[0].get<int>();
  } else {
    spec.image_size = vision.get_int("image_size", 224);
  }
  spec.vision_width = vision.get_int("width", 768);
  const int head_width = vision.get_int("head_width", 64);
  if (vision.has("layers") && vision.obj.at("layers").is_array()) {
    spec.image_tower = "resnet";
    const json& layers = vision.obj.at("layers");
    if (layers.size() != 4) vision.wrong_type("layers", "an integer or a list of 4 integers");
    for (const auto& n : layers) {
      // Bounded like every size (is_positive_int): [2^31 - 1, 2^31 - 1, 1, 1] overflowed the
      // vision_layers sum, and 2^32 + 1 was read as 1 by get<int>().
      if (!Fields::is_positive_int(n)) vision.wrong_type("layers", "a list of 4 positive integers");
      spec.resnet_layers.push_back(n.get<int>());
      spec.vision_layers += n.get<int>();
    }
    spec.vision_heads = spec.vision_width * 32 / head_width;
  } else {
    spec.image_tower = "vit";
    spec.vision_layers = vision.get_int("layers", 12);
    spec.patch_size = vision.get_int("patch_size", 16);
    spec.vision_heads = spec.vision_width / head_width;
  }
  spec.context_length = text.get_int("context_length", 77);
  spec.vocab_size = text.get_int("vocab_size", 49408);
  spec.text_width = text.get_int("width", 512);
  spec.text_heads = text.get_int("heads", 8);
  spec.text_layers = text.get_int("layers", 12);

  spec.preprocess.image_size = spec.image_size;
  if (top.has("preprocess_cfg")) {
    const Fields pre = top.object("preprocess_cfg");
    spec.preprocess.mean = pre.get_triple("mean", spec.preprocess.mean);
    spec.preprocess.std = pre.get_triple("std", spec.preprocess.std);
    const std::string mode = pre.get_string("resize_mode", "shortest");
    if (mode == "shortest") spec.preprocess.resize_mode = ResizeMode::kShortestCenterCrop;
    else if (mode == "squash") spec.preprocess.resize_mode = ResizeMode::kSquash;
    else
      throw Error(ErrorCode::kUnsupported, pre.where("resize_mode") + ": expected shortest or squash, found '" + mode + "'");
    const std::string interpolation = pre.get_string("interpolation", "bicubic");
    if (interpolation != "bicubic")
      log(LogLevel::kWarn, pre.where("interpolation") + " is '" + interpolation + "'; cir resizes with bicubic");
  }
  spec.weights_file = (fs::path(dir) / "open_clip_model.safetensors").string();
  if (!fs::exists(spec.weights_file)) {
    if (fs::exists(fs::path(dir) / "open_clip_pytorch_model.bin"))
      throw Error(ErrorCode::kUnsupported, "'" + dir + "' holds only open_clip_pytorch_model.bin (pickle); "
                                               "cir reads open_clip_model.safetensors: convert the checkpoint");
    throw Error(ErrorCode::kNotFound, "'" + dir + "' has open_clip_config.json but no open_clip_model.safetensors");
  }
  validate_spec_of(spec, (fs::path(dir) / "open_clip_config.json").string());
  return spec;
}

std::string hf_config_text(const ModelSpec& spec) {
  if (spec.image_tower != "vit")
    throw Error(ErrorCode::kUnsupported, "Hugging Face CLIP has no ResNet image tower; cannot write a config for '" +
                                             spec.image_tower + "'");
  const json text = {{"hidden_size", spec.text_width},
                     {"intermediate_size", 4 * spec.text_width},
                     {"num_attention_heads", spec.text_heads},
                     {"num_hidden_layers", spec.text_layers},
                     {"max_position_embeddings", spec.context_length},
                     {"vocab_size", spec.vocab_size},
                     {"hidden_act", spec.activation},
                     {"layer_norm_eps", 1e-5},
                     {"bos_token_id", 49406},
                     {"eos_token_id", 49407},
                     {"pad_token_id", 1},
                     {"projection_dim", spec.embed_dim}};
  const json vision = {{"hidden_size", spec.vision_width},
                       {"intermediate_size", 4 * spec.vision_width},
                       {"num_attention_heads", spec.vision_heads},
                       {"num_hidden_layers", spec.vision_layers},
                       {"image_size", spec.image_size},
                       {"patch_size", spec.patch_size},
                       {"hidden_act", spec.activation},
                       {"layer_norm_eps", 1e-5},
                       {"num_channels", 3},
                       {"projection_dim", spec.embed_dim}};
  const json doc = {{"architectures", {"CLIPModel"}},
                    {"model_type", "clip"},
                    {"projection_dim", spec.embed_dim},
                    {"logit_scale_init_value", 2.6592},
                    {"torch_dtype", "float32"},
                    {"text_config", text},
                    {"vision_config", vision}};
  return doc.dump(2) + "\n";
}

std::string hf_preprocessor_text(const ModelSpec& spec) {
  const PreprocessSpec& pre = spec.preprocess;
  const bool squash = pre.resize_mode == ResizeMode::kSquash;
  json doc = {{"crop_size", {{"height", pre.image_size}, {"width", pre.image_size}}},
              {"do_center_crop", !squash},
              {"do_convert_rgb", true},
              {"do_normalize", true},
              {"do_rescale", true},
              {"do_resize", true},
              {"image_mean", pre.mean},
              {"image_std", pre.std},
              {"resample", 3},
              {"rescale_factor", 1.0 / 255.0},
              {"image_processor_type", "CLIPImageProcessor"}};
  if (squash) doc["size"] = {{"height", pre.image_size}, {"width", pre.image_size}};
  else doc["size"] = {{"shortest_edge", pre.image_size}};
  if (pre.resize_mode == ResizeMode::kTargetPad) {
    doc["cir_resize_mode"] = std::string(resize_mode_name(pre.resize_mode));
    doc["cir_target_pad_ratio"] = pre.target_pad_ratio;
  }
  return doc.dump(2) + "\n";
}

}  // namespace detail
}  // namespace cir::model
