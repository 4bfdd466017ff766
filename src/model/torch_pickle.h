// Private to cir (model, and compose through it): a std-only unpickler for the data.pkl of
// torch.save's zip archives (torch >= 1.6). libtorch 1.13's own unpickler (torch::pickle_load,
// readArchiveAndTensors) cannot read what Python writes for state dicts: it lacks SETITEM, which
// Python emits for every one-entry dict (LAVIS's {"model": state_dict}), and OrderedDict's
// `_metadata` BUILD. So cir reads the subset torch.save emits: dicts (OrderedDict included),
// lists, tuples, strings, numbers, booleans, None, and tensors
// (torch._utils._rebuild_tensor_v2 / _rebuild_parameter over persistent-id storages). Any other
// callable yields an opaque value, an error only if a tensor is built from it.
//
// Tensors come out as descriptions (TensorRecord: which storage record, dtype, offset, sizes,
// strides), checked against their storage's element count; no libtorch here, so fuzz target
// torch_pickle reaches every byte-level decision. torch_archive.h reads the zip and turns the
// descriptions into at::Tensors.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cir::model::detail {

/// Element type of a torch storage (the pickled global torch.<Name>Storage).
enum class StorageDtype { kFloat32, kFloat64, kFloat16, kBFloat16, kInt64, kInt32, kInt16, kInt8, kUInt8, kBool };

/// Bytes per element (1 to 8).
int64_t element_size(StorageDtype dtype);
/// "float32", "bfloat16", "int64", ... for messages.
std::string_view dtype_name(StorageDtype dtype);

/// A tensor as data.pkl describes it. Nothing is read: the bytes are the archive record
/// "data/<storage_key>". For a kTensor value every field is set and checked (sizes and strides
/// of one rank, non-negative, every element inside the storage, byte counts within int64); for
/// a kStorage value only the storage fields are.
struct TensorRecord {
  std::string storage_key;      ///< the record "data/<storage_key>" holds the storage's bytes
  std::string storage_type;     ///< the pickled global, e.g. "torch.FloatStorage"
  StorageDtype dtype = StorageDtype::kFloat32;
  int64_t storage_numel = 0;    ///< elements of the storage, as the persistent id states
  int64_t storage_offset = 0;   ///< the tensor's first element in the storage, in elements
  std::vector<int64_t> sizes;   ///< empty for a scalar
  std::vector<int64_t> strides; ///< in elements, same rank as sizes
  bool requires_grad = false;   ///< from _rebuild_tensor_v2 / _rebuild_parameter
  int64_t numel() const;        ///< product of sizes (1 for a scalar)
};

/// One unpickled Python value (only what torch.save state dicts hold). Values are owned by
/// their PyTree and point at each other: a pickle may make a value contain itself (a list
/// appended to itself), so code walking a tree must not assume it is acyclic.
struct PyValue {
  enum class Kind { kNone, kBool, kInt, kFloat, kString, kTuple, kList, kDict, kTensor, kGlobal, kStorage, kOther };
  Kind kind = Kind::kNone;
  int64_t i = 0;  ///< int, or bool (0 / 1)
  double f = 0;   ///< float
  std::string s;  ///< string; "module.name" of a global, or of the callable behind a kOther
  std::vector<PyValue*> items;                         ///< tuple / list elements
  std::vector<std::pair<PyValue*, PyValue*>> dict;     ///< dict entries, in insertion order
  TensorRecord tensor;                                 ///< kTensor, kStorage
  /// "None", "int", "dict", "tensor", ... or the callable's name for a kOther.
  std::string kind_name() const;
};

/// The values of one unpickled data.pkl, owned together (so self-references cannot leak).
/// Move-only; pointers into it stay valid across moves.
class PyTree {
 public:
  PyTree(std::vector<std::unique_ptr<PyValue>> values, const PyValue* root)
      : values_(std::move(values)), root_(root) {}
  const PyValue& root() const { return *root_; }

 private:
  std::vector<std::unique_ptr<PyValue>> values_;
  const PyValue* root_;
};

/// Interprets a torch.save data.pkl. Throws cir::Error whose message starts "data.pkl at byte
/// <n>: " (callers add the file): kCorrupt (truncated or damaged pickle, an opcode outside the
/// subset, a tensor reaching past its storage), kUnsupported (a storage dtype cir lacks).
PyTree unpickle_torch_save(std::string_view pickle);

}  // namespace cir::model::detail
