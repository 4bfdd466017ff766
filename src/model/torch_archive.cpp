// torch.save archives as tensors: the zip through PyTorchStreamReader, the pickle through the
// std-only unpickler (torch_pickle.cpp), storages read once and viewed as the pickle says.
#include "model/torch_archive.h"

#include <caffe2/serialize/inline_container.h>

#include <cstring>

#include "cir/core.h"

namespace cir::model::detail {
namespace {

std::string record_name(const TensorRecord& record) { return "data/" + record.storage_key; }

}  // namespace

at::ScalarType scalar_type_of(StorageDtype dtype) {
  switch (dtype) {
    case StorageDtype::kFloat32: return at::kFloat;
    case StorageDtype::kFloat64: return at::kDouble;
    case StorageDtype::kFloat16: return at::kHalf;
    case StorageDtype::kBFloat16: return at::kBFloat16;
    case StorageDtype::kInt64: return at::kLong;
    case StorageDtype::kInt32: return at::kInt;
    case StorageDtype::kInt16: return at::kShort;
    case StorageDtype::kInt8: return at::kChar;
    case StorageDtype::kUInt8: return at::kByte;
    case StorageDtype::kBool: return at::kBool;
  }
  return at::kFloat;
}

TorchArchive::TorchArchive(const std::string& path)
    : reader_(std::make_unique<caffe2::serialize::PyTorchStreamReader>(path)) {
  if (!reader_->hasRecord("data.pkl"))
    throw Error(ErrorCode::kCorrupt, "the zip has no data.pkl: not a torch.save checkpoint");
  auto [data, size] = reader_->getRecord("data.pkl");
  tree_ = std::make_unique<PyTree>(unpickle_torch_save(std::string_view(static_cast<const char*>(data.get()), size)));
}

TorchArchive::~TorchArchive() = default;
TorchArchive::TorchArchive(TorchArchive&&) noexcept = default;
TorchArchive& TorchArchive::operator=(TorchArchive&&) noexcept = default;

const TensorRecord& TorchArchive::record_of(const PyValue& value) const {
  if (value.kind != PyValue::Kind::kTensor)
    throw Error(ErrorCode::kCorrupt, "expected a tensor, found " + value.kind_name());
  if (!reader_->hasRecord(record_name(value.tensor)))
    throw Error(ErrorCode::kCorrupt, "storage record '" + record_name(value.tensor) + "' is missing from the archive");
  return value.tensor;
}

const at::Tensor& TorchArchive::storage(const TensorRecord& record) const {
  if (const auto it = storages_.find(record.storage_key); it != storages_.end()) return it->second;
  auto [data, size] = reader_->getRecord(record_name(record));
  // The unpickler checked numel x element size against int64; the record must hold them all.
  const uint64_t need = static_cast<uint64_t>(record.storage_numel) * static_cast<uint64_t>(element_size(record.dtype));
  if (size < need)
    throw Error(ErrorCode::kCorrupt, "storage '" + record_name(record) + "' holds " + std::to_string(size) +
                                         " bytes, expected " + std::to_string(need));
  at::Tensor storage = at::empty({record.storage_numel}, at::TensorOptions().dtype(scalar_type_of(record.dtype)));
  if (need > 0) std::memcpy(storage.data_ptr(), data.get(), need);
  return storages_.emplace(record.storage_key, std::move(storage)).first->second;
}

at::Tensor TorchArchive::tensor(const PyValue& value) const {
  const TensorRecord& record = record_of(value);
  // The unpickler checked that every element of the view lies inside the storage.
  return storage(record).as_strided(record.sizes, record.strides, record.storage_offset).clone();
}

at::Tensor TorchArchive::meta_tensor(const PyValue& value) const {
  const TensorRecord& record = record_of(value);
  return at::empty(record.sizes, at::TensorOptions().dtype(scalar_type_of(record.dtype)).device(c10::kMeta));
}

}  // namespace cir::model::detail
