// OpenAI's released CLIP checkpoints are TorchScript archives (torch.jit.trace of
// clip.model.CLIP). We do not run their graphs: we read the parameters and buffers by name and
// infer the architecture from their shapes, as clip.model.build_model does.
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/script.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "cir/core.h"
#include "cir/regular_file.h"
#include "model/model_internal.h"

namespace cir::model::detail {
namespace {

std::string first_line(const char* text) {
  std::string s(text);
  const size_t nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

class TorchScriptSource final : public TensorMapSource {
 public:
  explicit TorchScriptSource(const std::string& path) : TensorMapSource("TorchScript archive '" + path + "'"), path_(path) {
    // torch::jit::load opens the path itself (and would block on a FIFO): RegularFile checks first
    // that it is a regular file, naming the path when it is not.
    { RegularFile check(path, "TorchScript archive"); }
    try {
      module_ = torch::jit::load(path, at::kCPU);
      for (const auto& p : module_.named_parameters(/*recurse=*/true)) tensors_[p.name] = p.value.detach();
      for (const auto& b : module_.named_buffers(/*recurse=*/true)) tensors_[b.name] = b.value.detach();
    } catch (const c10::Error& e) {
      throw Error(ErrorCode::kCorrupt, "'" + path + "' is not a readable TorchScript archive (" + first_line(e.what()) +
                                           ")");
    } catch (const std::exception& e) {
      throw Error(ErrorCode::kCorrupt, "'" + path + "' is not a readable TorchScript archive: " + first_line(e.what()));
    }
  }

  // The head count a traced nn.MultiheadAttention divides the width by (its first integral
  // constant divisor), if the submodule's code states it.
  std::optional<int> traced_heads(const std::string& submodule, int width) const {
    try {
      torch::jit::Module m = module_;
      std::stringstream parts(submodule);
      std::string part;
      while (std::getline(parts, part, '.')) {
        if (!m.hasattr(part)) return std::nullopt;
        m = m.attr(part).toModule();
      }
      const auto method = m.find_method("forward");
      if (!method) return std::nullopt;
      for (torch::jit::Node* node : method->graph()->nodes()) {
        const auto kind = node->kind();
        if (kind != c10::aten::div && kind != c10::aten::floor_divide && kind != c10::aten::floordiv) continue;
        if (node->inputs().size() < 2) continue;
        const auto value = torch::jit::toIValue(node->input(1));
        if (!value) continue;
        int64_t heads = 0;
        if (value->isInt()) {
          heads = value->toInt();
        } else if (value->isTensor() && value->toTensor().numel() == 1 &&
                   at::isIntegralType(value->toTensor().scalar_type(), /*includeBool=*/false)) {
          heads = value->toTensor().item<int64_t>();
        } else {
          continue;
        }
        if (heads > 0 && heads <= width && width % heads == 0) return static_cast<int>(heads);
        return std::nullopt;
      }
    } catch (const std::exception&) {
      // Graph layouts differ between torch versions; fall back to the width / 64 rule.
    }
    return std::nullopt;
  }

 private:
  std::string path_;
  torch::jit::Module module_;
};

int count_indices(const std::vector<std::string>& names, const std::string& prefix) {
  // Distinct "<prefix><index>." components, like build_model's set(k.split(".")[i]).
  std::set<std::string> indices;
  for (const auto& n : names) {
    if (n.rfind(prefix, 0) != 0) continue;
    const size_t dot = n.find('.', prefix.size());
    if (dot != std::string::npos) indices.insert(n.substr(prefix.size(), dot - prefix.size()));
  }
  return static_cast<int>(indices.size());
}

}  // namespace

std::unique_ptr<WeightSource> open_torchscript_source(const std::string& path) {
  return std::make_unique<TorchScriptSource>(path);
}

ModelSpec spec_from_torchscript(const std::string& path, const WeightSource& source) {
  const auto names = source.names();
  const bool has_visual = std::any_of(names.begin(), names.end(), [](const std::string& n) { return n.rfind("visual.", 0) == 0; });
  if (!has_visual || !source.shape("token_embedding.weight"))
    throw Error(ErrorCode::kUnsupported, source.describe() + " is not a CLIP model: it has no " +
                                             (has_visual ? "token_embedding.weight" : "visual.* tensors"));
  auto need = [&](const std::string& name, size_t rank) {
    const auto s = source.shape(name);
    if (!s) throw Error(ErrorCode::kModel, source.describe() + " lacks CLIP tensor '" + name + "'");
    if (s->size() != rank)
      throw Error(ErrorCode::kModel, source.describe() + ": tensor '" + name + "' has shape " + shape_text(*s) +
                                         ", expected rank " + std::to_string(rank));
    return *s;
  };
  const auto* ts = dynamic_cast<const TorchScriptSource*>(&source);

  ModelSpec spec;
  spec.path = path;
  spec.format = "openai_torchscript";
  spec.activation = "quick_gelu";  // OpenAI's models all use QuickGELU
  spec.weights_file = path;
  if (source.shape("visual.proj")) {
    spec.image_tower = "vit";
    const auto conv = need("visual.conv1.weight", 4);
    spec.vision_width = static_cast<int>(conv[0]);
    spec.patch_size = static_cast<int>(conv[3]);
    spec.vision_layers = 0;
    for (const auto& n : names) {
      const std::string suffix = ".attn.in_proj_weight";
      if (n.rfind("visual.", 0) == 0 && n.size() > suffix.size() &&
          n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
        ++spec.vision_layers;
    }
    const auto pos = need("visual.positional_embedding", 2);
    const int grid = static_cast<int>(std::lround(std::sqrt(static_cast<double>(pos[0] - 1))));
    spec.image_size = spec.patch_size * grid;
    spec.vision_heads = spec.vision_width / 64;
    if (ts) {
      if (auto h = ts->traced_heads("visual.transformer.resblocks.0.attn", spec.vision_width)) spec.vision_heads = *h;
    }
  } else {
    spec.image_tower = "resnet";
    for (int b = 1; b <= 4; ++b) {
      spec.resnet_layers.push_back(count_indices(names, "visual.layer" + std::to_string(b) + "."));
      spec.vision_layers += spec.resnet_layers.back();
    }
    spec.vision_width = static_cast<int>(need("visual.layer1.0.conv1.weight", 4)[0]);
    const auto pos = need("visual.attnpool.positional_embedding", 2);
    const int out_width = static_cast<int>(std::lround(std::sqrt(static_cast<double>(pos[0] - 1))));
    spec.image_size = out_width * 32;
    spec.vision_heads = spec.vision_width * 32 / 64;
    if (ts) {
      if (auto h = ts->traced_heads("visual.attnpool", spec.vision_width * 32)) spec.vision_heads = *h;
    }
  }
  spec.embed_dim = static_cast<int>(need("text_projection", 2)[1]);
  spec.context_length = static_cast<int>(need("positional_embedding", 2)[0]);
  spec.vocab_size = static_cast<int>(need("token_embedding.weight", 2)[0]);
  spec.text_width = static_cast<int>(need("ln_final.weight", 1)[0]);
  spec.text_layers = count_indices(names, "transformer.resblocks.");
  spec.text_heads = spec.text_width / 64;
  if (ts) {
    if (auto h = ts->traced_heads("transformer.resblocks.0.attn", spec.text_width)) spec.text_heads = *h;
  }
  if (spec.text_heads == 0) spec.text_heads = 1;
  if (spec.vision_heads == 0) spec.vision_heads = 1;
  spec.preprocess.image_size = spec.image_size;
  validate_spec_of(spec, path);
  return spec;
}

}  // namespace cir::model::detail

namespace cir::model {

// The dispatcher over the three layouts lives with the TorchScript reader, the one layout whose
// spec needs libtorch to read, so that config.cpp (the JSON layouts) stays std-only.
ModelSpec read_model_spec(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) throw Error(ErrorCode::kNotFound, "model path '" + path + "' does not exist");
  if (fs::is_directory(status)) {
    if (fs::exists(fs::path(path) / "config.json")) return detail::read_hf_spec(path);
    if (fs::exists(fs::path(path) / "open_clip_config.json")) return detail::read_open_clip_spec(path);
    const std::string pt = (fs::path(path) / "model.pt").string();
    if (fs::exists(pt)) {
      ModelSpec spec = detail::spec_from_torchscript(pt, *detail::open_torchscript_source(pt));
      spec.path = path;
      return spec;
    }
    throw Error(ErrorCode::kNotFound, "model directory '" + path +
                                          "' has no config.json (Hugging Face), open_clip_config.json (OpenCLIP) or model.pt");
  }
  return detail::spec_from_torchscript(path, *detail::open_torchscript_source(path));
}

}  // namespace cir::model
