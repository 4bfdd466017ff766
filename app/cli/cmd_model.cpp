// `cir model info DIR`: what a checkpoint is (CLIP, BLIP-2 or SPRC), without running it.
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cir/blip2.h"
#include "cir/engine.h"
#include "cir/model.h"
#include "cli_common.h"

namespace cir::cli {
namespace {

nlohmann::json preprocess_to_json(const PreprocessSpec& p) {
  return {{"image_size", p.image_size},
          {"resize_mode", resize_mode_name(p.resize_mode)},
          {"target_pad_ratio", p.target_pad_ratio},
          {"mean", p.mean},
          {"std", p.std}};
}

std::string preprocess_line(const PreprocessSpec& p) {
  std::ostringstream out;
  out << resize_mode_name(p.resize_mode) << " " << p.image_size << " px, mean (" << p.mean[0] << ", " << p.mean[1]
      << ", " << p.mean[2] << "), std (" << p.std[0] << ", " << p.std[1] << ", " << p.std[2] << ")";
  return out.str();
}

nlohmann::json spec_to_json(const model::ModelSpec& s) {
  nlohmann::json j = {
      {"path", s.path},
      {"family", s.family},
      {"format", s.format},
      {"image_tower", s.image_tower},
      {"activation", s.activation},
      {"embed_dim", s.embed_dim},
      {"image_size", s.image_size},
      {"vision_width", s.vision_width},
      {"vision_layers", s.vision_layers},
      {"vision_heads", s.vision_heads},
      {"text_width", s.text_width},
      {"text_heads", s.text_heads},
      {"text_layers", s.text_layers},
      {"context_length", s.context_length},
      {"vocab_size", s.vocab_size},
      {"n_parameters", s.n_parameters},
      {"weights_file", s.weights_file},
      {"weights_sha256", s.weights_sha256},
      {"preprocess", preprocess_to_json(s.preprocess)},
  };
  if (s.image_tower == "vit") j["patch_size"] = s.patch_size;
  if (s.image_tower == "resnet") j["resnet_layers"] = s.resnet_layers;
  return j;
}

void print_human(const model::ModelSpec& s) {
  std::cout << "path:           " << s.path << "\n"
            << "family/format:  " << s.family << " / " << s.format << "\n"
            << "image tower:    " << s.image_tower << " (width " << s.vision_width << ", " << s.vision_layers
            << " layers, " << s.image_size << " px" << (s.image_tower == "vit" ? ", patch " + std::to_string(s.patch_size) : "")
            << ")\n"
            << "text tower:     width " << s.text_width << ", " << s.text_heads << " heads, " << s.text_layers
            << " layers, context " << s.context_length << ", vocab " << s.vocab_size << "\n"
            << "activation:     " << s.activation << "\n"
            << "embed dim:      " << s.embed_dim << "\n"
            << "parameters:     " << s.n_parameters << "\n"
            << "preprocessing:  " << preprocess_line(s.preprocess) << "\n"
            << "weights:        " << s.weights_file << "\n"
            << "weights sha256: " << s.weights_sha256 << "\n";
}

nlohmann::json blip2_to_json(const model::Blip2Spec& s) {
  return {
      {"path", s.path},
      {"family", "blip2"},
      {"format", s.format},
      {"vision", {{"tower", "eva_vit"}, {"image_size", s.image_size}, {"patch_size", s.patch_size},
                  {"width", s.vision_width}, {"layers", s.vision_layers}, {"heads", s.vision_heads},
                  {"mlp", s.vision_mlp}}},
      {"qformer", {{"width", s.qformer_width}, {"layers", s.qformer_layers}, {"heads", s.qformer_heads},
                   {"intermediate", s.qformer_intermediate}, {"query_tokens", s.n_query_tokens},
                   {"cross_attention_frequency", s.cross_attention_frequency},
                   {"max_positions", s.max_positions}, {"vocab_size", s.vocab_size}}},
      {"embed_dim", s.embed_dim},
      {"n_parameters", s.n_parameters},
      {"weights_file", s.weights_file},
      {"weights_sha256", s.weights_sha256},
      {"preprocess", preprocess_to_json(s.preprocess)},
  };
}

void print_blip2_human(const model::Blip2Spec& s, const std::string& family = "blip2") {
  std::cout << "path:           " << s.path << "\n"
            << "family/format:  " << family << " / " << s.format << "\n"
            << "image tower:    eva_vit (width " << s.vision_width << ", " << s.vision_layers << " layers, "
            << s.vision_heads << " heads, MLP " << s.vision_mlp << ", " << s.image_size << " px, patch "
            << s.patch_size << ")\n"
            << "Q-Former:       width " << s.qformer_width << ", " << s.qformer_layers << " layers, " << s.qformer_heads
            << " heads, " << s.n_query_tokens << " queries, cross-attention every " << s.cross_attention_frequency
            << " layers, vocab " << s.vocab_size << "\n"
            << "embed dim:      " << s.embed_dim << " (projected), " << s.qformer_width << " (Q-Former)\n"
            << "parameters:     " << s.n_parameters << "\n"
            << "preprocessing:  " << preprocess_line(s.preprocess) << "\n"
            << "weights:        " << s.weights_file << "\n"
            << "weights sha256: " << s.weights_sha256 << "\n";
}

nlohmann::json sprc_to_json(const model::SprcSpec& s) {
  nlohmann::json j = blip2_to_json(s.blip2);
  j["family"] = "sprc";
  j["layout"] = std::string(model::sprc_layout_name(s.layout));
  j["checkpoint_key"] = s.checkpoint_key;
  j["epoch"] = s.epoch;
  j["max_text_length"] = s.max_text_length;
  j["query_position"] = s.query_position;
  return j;
}

// SPRC checkpoint layouts, as `cir model info` names them.
std::string sprc_layout_line(const model::SprcSpec& s) {
  return s.layout == model::SprcLayout::kSprc
             ? "SPRC Blip2QformerCirAlignPrompt ({'epoch', 'Blip2QformerCirAlignPrompt': state_dict})"
             : "SPN4CIR blip24cir stage 2 ({'epoch', 'state_dict'}: blip_model.*, pass 2 with Qformer_query + text_proj_q)";
}

void print_sprc_human(const model::SprcSpec& s) {
  std::cout << "layout:         " << sprc_layout_line(s) << ", epoch " << s.epoch << "\n";
  print_blip2_human(s.blip2, "sprc");
}

}  // namespace

void register_model_command(CLI::App& app) {
  auto* model_cmd = app.add_subcommand("model", "Inspect model checkpoints");
  model_cmd->require_subcommand(1);
  auto* info = model_cmd->add_subcommand("info", "Family, dimensions, parameter count, preprocessing, weights hash");
  auto path = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  info->add_option("path", *path, "Model directory or .pt archive")->required();
  info->add_flag("--json", *as_json, "Print JSON");
  info->callback([path, as_json] {
    model::ModelOptions options;
    options.n_threads = 1;
    const std::string family = engine::model_family(*path);
    if (family == "sprc") {
      const auto m = model::SprcModel::load(*path, options);
      if (*as_json)
        std::cout << sprc_to_json(m->spec()).dump(2) << "\n";
      else
        print_sprc_human(m->spec());
      return;
    }
    if (family == "blip2") {
      const auto m = model::Blip2Model::load(*path, options);
      if (*as_json)
        std::cout << blip2_to_json(m->spec()).dump(2) << "\n";
      else
        print_blip2_human(m->spec());
      return;
    }
    const auto m = model::ClipModel::load(*path, options);
    if (*as_json)
      std::cout << spec_to_json(m->spec()).dump(2) << "\n";
    else
      print_human(m->spec());
  });
}

}  // namespace cir::cli
