// CLIP weights inside torch.save checkpoints (methods.md §12.2, §12.3): CLIP4Cir's fine-tuned
// `{'epoch', 'CLIP': state_dict}`, SPN4CIR's clip4cir `best.pt` `{'epoch', 'state_dict':
// {'clip.' + OpenAI names}}` and a bare OpenAI state dict. All carry OpenAI's tensor names, so
// the spec comes from the shapes exactly as clip.model.build_model derives it (heads = width / 64).
#include <caffe2/serialize/inline_container.h>

#include <algorithm>
#include <map>

#include "cir/core.h"
#include "model/blip2_net.h"
#include "model/model_internal.h"

namespace cir::model::detail {
namespace {

// The tensors of one state dict, names with `prefix` removed (entries without it are not CLIP's).
class StateDictSource final : public TensorMapSource {
 public:
  StateDictSource(std::string describe, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                  const std::string& prefix)
      : TensorMapSource(std::move(describe)) {
    for (const auto& [name, tensor] : tensors)
      if (name.rfind(prefix, 0) == 0) tensors_[name.substr(prefix.size())] = tensor;
  }
};

bool has_prefix(const std::vector<std::pair<std::string, at::Tensor>>& tensors, const std::string& prefix) {
  return std::any_of(tensors.begin(), tensors.end(), [&](const auto& t) { return t.first.rfind(prefix, 0) == 0; });
}

std::string key_list(const std::vector<std::string>& keys) {
  std::string out;
  for (const auto& k : keys) out += (out.empty() ? "'" : ", '") + k + "'";
  return out.empty() ? "none" : out;
}

}  // namespace

std::optional<std::vector<int64_t>> TensorMapSource::shape(const std::string& name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) return std::nullopt;
  return it->second.sizes().vec();
}

at::Tensor TensorMapSource::load(const std::string& name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) throw Error(ErrorCode::kNotFound, what_ + " has no tensor '" + name + "'");
  if (!at::isFloatingType(it->second.scalar_type()))
    throw Error(ErrorCode::kUnsupported, what_ + ": tensor '" + name + "' is not floating point");
  return it->second.to(at::kFloat);
}

std::vector<std::string> TensorMapSource::names() const {
  std::vector<std::string> out;
  for (const auto& [name, t] : tensors_) out.push_back(name);
  return out;
}

PtKind pt_kind(const std::string& path) {
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    // torch.jit.save writes the module's code and constants beside data.pkl; torch.save does not.
    return reader.hasRecord("constants.pkl") || reader.hasRecord("code/__torch__.py") ? PtKind::kTorchScript
                                                                                       : PtKind::kTorchSave;
  } catch (const c10::Error& e) {
    throw Error(ErrorCode::kCorrupt, "'" + path + "' is neither a TorchScript archive nor a torch.save checkpoint (both zip " +
                                         "files; torch >= 1.6): " + e.what_without_backtrace());
  }
}

ClipStateDict open_clip_state_dict(const std::string& path) {
  const TorchCheckpoint checkpoint = read_torch_checkpoint(path, /*read_tensors=*/true);
  ClipStateDict out;
  const auto find = [&](const std::string& key) -> const std::vector<std::pair<std::string, at::Tensor>>* {
    const auto it = checkpoint.state_dicts.find(key);
    return it == checkpoint.state_dicts.end() ? nullptr : &it->second;
  };
  if (const auto* clip = find("CLIP")) {
    out.layout = "clip4cir";
    out.source = std::make_unique<StateDictSource>("CLIP4Cir checkpoint '" + path + "' ['CLIP']", *clip, "");
  } else if (const auto* sd = find("state_dict"); sd && has_prefix(*sd, "backbone.clip.")) {
    throw Error(ErrorCode::kUnsupported,
                "'" + path + "' is an SPN4CIR tgcir checkpoint (backbone.clip.*, backbone.tokenlearn.*): TG-CIR's "
                "12-token towers and s_remain_map fusion are not implemented in cir; its CLIP alone is not the model");
  } else if (sd && has_prefix(*sd, "clip.")) {
    out.layout = "spn4cir_clip4cir";
    out.source = std::make_unique<StateDictSource>("SPN4CIR clip4cir checkpoint '" + path + "' ['state_dict']", *sd, "clip.");
  } else if (has_prefix(checkpoint.root_tensors, "visual.")) {
    out.layout = "openai_state_dict";
    out.source = std::make_unique<StateDictSource>("state dict '" + path + "'", checkpoint.root_tensors, "");
  } else {
    throw Error(ErrorCode::kModel, "'" + path + "' is a torch.save checkpoint with top-level keys " +
                                       key_list(checkpoint.top_keys) +
                                       ", not a CLIP: expected CLIP4Cir's {'CLIP': state_dict}, SPN4CIR clip4cir's "
                                       "{'state_dict': {'clip.*'}} or an OpenAI CLIP state dict");
  }
  return out;
}

}  // namespace cir::model::detail
