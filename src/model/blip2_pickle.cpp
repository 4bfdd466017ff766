// Reading torch.save checkpoints (the zip format of torch >= 1.6) without Python, for the
// BLIP-2 family (LAVIS, SPRC): the archive is opened by TorchArchive (torch_archive.h), whose
// data.pkl goes through cir's std-only unpickler (torch_pickle.h); here the top-level dict is
// picked apart into state dicts.
#include <c10/util/Exception.h>

#include <string>
#include <utility>
#include <vector>

#include "model/blip2_net.h"
#include "model/torch_archive.h"

namespace cir::model::detail {
namespace {

using Kind = PyValue::Kind;

// Every top-level dict's tensors, in the file's order (meta tensors unless `read_tensors`).
TorchCheckpoint checkpoint_of(const std::string& path, const TorchArchive& archive, bool read_tensors) {
  TorchCheckpoint out;
  out.path = path;
  const PyValue& root = archive.root();
  if (root.kind != Kind::kDict) return out;
  for (const auto& [key, value] : root.dict) {
    if (key->kind != Kind::kString) continue;
    out.top_keys.push_back(key->s);
    if (value->kind == Kind::kInt) out.integers[key->s] = value->i;
    if (value->kind == Kind::kTensor)
      out.root_tensors.emplace_back(key->s, read_tensors ? archive.tensor(*value) : archive.meta_tensor(*value));
    if (value->kind != Kind::kDict) continue;
    auto& tensors = out.state_dicts[key->s];
    for (const auto& [name, item] : value->dict) {
      if (name->kind != Kind::kString || item->kind != Kind::kTensor) continue;
      tensors.emplace_back(name->s, read_tensors ? archive.tensor(*item) : archive.meta_tensor(*item));
    }
  }
  return out;
}

}  // namespace

TorchCheckpoint read_torch_checkpoint(const std::string& path, bool read_tensors) {
  if (!file_exists(path)) throw Error(ErrorCode::kNotFound, "checkpoint '" + path + "' does not exist");
  try {
    const TorchArchive archive(path);
    return checkpoint_of(path, archive, read_tensors);
  } catch (const c10::Error& e) {
    throw Error(ErrorCode::kCorrupt, "'" + path + "' is not a readable torch.save checkpoint (zip format, torch >= 1.6): " +
                                         e.what_without_backtrace());
  } catch (const Error& e) {
    throw Error(e.code(), "'" + path + "': " + e.what());
  }
}

std::vector<std::pair<std::string, at::Tensor>> read_lavis_state_dict(const std::string& path) {
  if (!file_exists(path)) throw Error(ErrorCode::kNotFound, "LAVIS checkpoint '" + path + "' does not exist");
  TorchCheckpoint checkpoint = read_torch_checkpoint(path, /*read_tensors=*/true);
  const auto model = checkpoint.state_dicts.find("model");
  if (model == checkpoint.state_dicts.end())
    throw Error(ErrorCode::kCorrupt, "'" + path + "' has no \"model\" state dict (expected torch.save({\"model\": state_dict}))");
  return std::move(model->second);
}

}  // namespace cir::model::detail
