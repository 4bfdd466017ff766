// A trainable ClipNet loaded from a checkpoint path: ClipModel keeps its net private and in
// inference mode, so code that optimises through the towers (OTI, SPN4CIR, mapping-network
// training) loads its own float32 copy here, with the same readers ClipModel::load uses.
#include <filesystem>

#include "model/clip_modules.h"
#include "model/model_internal.h"

namespace cir::model::detail {

ClipNet load_clip_net(const std::string& path, ModelSpec* spec_out) {
  namespace fs = std::filesystem;
  try {
    std::error_code ec;
    const bool is_dir = fs::is_directory(path, ec);
    std::string pt_path;
    if (!is_dir && fs::exists(path, ec)) pt_path = path;
    if (is_dir && !fs::exists(fs::path(path) / "config.json") && !fs::exists(fs::path(path) / "open_clip_config.json") &&
        fs::exists(fs::path(path) / "model.pt"))
      pt_path = (fs::path(path) / "model.pt").string();
    std::unique_ptr<WeightSource> source;
    ModelSpec spec;
    bool hf_names = false;
    if (!pt_path.empty()) {
      source = open_torchscript_source(pt_path);
      spec = spec_from_torchscript(pt_path, *source);
      spec.path = path;
    } else {
      spec = read_model_spec(path);
      hf_names = spec.format == "hf";
      source = open_safetensors_source(spec.weights_file);
    }
    ClipNet net(spec);
    spec.n_parameters = load_weights(*net, *source, hf_names);
    net->eval();
    if (spec_out) *spec_out = spec;
    return net;
  } catch (const c10::Error& e) {
    throw Error(ErrorCode::kModel, "loading trainable model '" + path + "': libtorch error: " + e.what_without_backtrace());
  }
}

}  // namespace cir::model::detail
