// Private to compose: a minimal unpickler for torch.save's zip files. libtorch's own
// pickle_load cannot read what Python writes for state dicts (OrderedDict carrying a
// `_metadata` attribute via BUILD, single SETITEM), so cir reads the subset torch.save emits:
// dicts, lists, tuples, strings, numbers, OrderedDict and tensors (_rebuild_tensor_v2 /
// _rebuild_parameter over persistent storages).
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace cir::compose::detail {

/// One unpickled Python value (only what torch.save state dicts hold).
struct PyValue {
  enum class Kind { kNone, kBool, kInt, kFloat, kString, kTuple, kList, kDict, kTensor, kGlobal, kStorage, kOther };
  Kind kind = Kind::kNone;
  int64_t i = 0;
  double f = 0;
  std::string s;  ///< string, or "module.name" of a global, or a storage key
  std::vector<std::shared_ptr<PyValue>> items;  ///< tuple / list elements
  std::vector<std::pair<std::shared_ptr<PyValue>, std::shared_ptr<PyValue>>> dict;  ///< in insertion order
  at::Tensor tensor;  ///< tensor, or a storage's 1-d data
  std::string kind_name() const;
};

/// Reads data.pkl of a torch.save zip archive at `path`, with its tensors. Throws
/// c10::Error (zip) or cir::Error kCorrupt (pickle) — callers add the file context.
std::shared_ptr<PyValue> load_torch_pickle(const std::string& path);

}  // namespace cir::compose::detail
