// Private to cir (model, and compose through it): torch.save's zip archives (torch >= 1.6) as
// at::Tensors. The zip is read with libtorch's PyTorchStreamReader; data.pkl is interpreted by
// the std-only unpickler (torch_pickle.h), whose tensor descriptions are already checked
// against their storages, and tensors are materialised here from the storage records.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <memory>
#include <string>

#include "model/torch_pickle.h"

namespace caffe2::serialize {
class PyTorchStreamReader;
}

namespace cir::model::detail {

/// One opened torch.save archive. Messages name no file: callers add it. Not thread-safe
/// (the storage cache); move-only.
class TorchArchive {
 public:
  /// Opens the zip and unpickles its data.pkl. Throws c10::Error (not a zip, damaged zip),
  /// cir::Error kCorrupt (no data.pkl; a damaged pickle) or kUnsupported (a storage dtype).
  explicit TorchArchive(const std::string& path);
  ~TorchArchive();
  TorchArchive(TorchArchive&&) noexcept;
  TorchArchive& operator=(TorchArchive&&) noexcept;

  const PyValue& root() const { return tree_->root(); }

  /// The tensor a kTensor value describes: a contiguous copy in its stored dtype, detached
  /// from the file. Each storage record is read once and shared by the views into it.
  /// Throws kCorrupt (record missing or shorter than the storage; `value` not a tensor) or
  /// c10::Error (the zip cannot be read).
  at::Tensor tensor(const PyValue& value) const;
  /// The same tensor's sizes and dtype as a meta tensor, reading no bytes (the record must
  /// exist). Throws as tensor().
  at::Tensor meta_tensor(const PyValue& value) const;

 private:
  const TensorRecord& record_of(const PyValue& value) const;
  const at::Tensor& storage(const TensorRecord& record) const;

  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader_;
  std::unique_ptr<PyTree> tree_;
  mutable std::map<std::string, at::Tensor> storages_;
};

/// The at::ScalarType of a storage dtype.
at::ScalarType scalar_type_of(StorageDtype dtype);

}  // namespace cir::model::detail
