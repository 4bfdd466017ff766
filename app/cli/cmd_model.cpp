// `cir model info DIR`: what a checkpoint is, without running it.
#include <iostream>

#include <nlohmann/json.hpp>

#include "cir/model.h"
#include "cli_common.h"

namespace cir::cli {
namespace {

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
      {"preprocess",
       {{"image_size", s.preprocess.image_size},
        {"resize_mode", resize_mode_name(s.preprocess.resize_mode)},
        {"target_pad_ratio", s.preprocess.target_pad_ratio},
        {"mean", s.preprocess.mean},
        {"std", s.preprocess.std}}},
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
            << "preprocessing:  " << resize_mode_name(s.preprocess.resize_mode) << " " << s.preprocess.image_size
            << " px, mean (" << s.preprocess.mean[0] << ", " << s.preprocess.mean[1] << ", " << s.preprocess.mean[2]
            << "), std (" << s.preprocess.std[0] << ", " << s.preprocess.std[1] << ", " << s.preprocess.std[2] << ")\n"
            << "weights:        " << s.weights_file << "\n"
            << "weights sha256: " << s.weights_sha256 << "\n";
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
    const auto m = model::ClipModel::load(*path, options);
    if (*as_json)
      std::cout << spec_to_json(m->spec()).dump(2) << "\n";
    else
      print_human(m->spec());
  });
}

}  // namespace cir::cli
