// torch.save files without Python: the zip container (data.pkl + tensor records) torch.save has
// written since 1.6 is read by the model module's TorchArchive (model/torch_archive.h, over the
// std-only unpickler of model/torch_pickle.h); here we pick the state dict out of it.
#include "compose/checkpoint.h"

#include <torch/serialize.h>

#include <filesystem>
#include <fstream>

#include "cir/core.h"
#include "model/torch_archive.h"

namespace cir::compose::detail {
namespace {

std::string describe(const std::string& path, const std::string& key) {
  return "checkpoint '" + path + "'" + (key.empty() ? "" : " key '" + key + "'");
}

// Through RegularFile (read_file_bytes): a FIFO or directory given as a checkpoint fails at once.
std::vector<char> read_bytes(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  return std::vector<char>(bytes.begin(), bytes.end());
}

std::string strip_module(std::string name) {
  while (name.rfind("module.", 0) == 0) name = name.substr(7);
  return name;
}

std::string shape_text(at::IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

using model::detail::PyValue;
using model::detail::TorchArchive;
using Kind = PyValue::Kind;

std::string dict_keys(const PyValue& dict) {
  std::string keys;
  for (const auto& [k, v] : dict.dict)
    if (k->kind == Kind::kString) keys += (keys.empty() ? "" : ", ") + k->s;
  return keys.empty() ? "(none)" : keys;
}

// The tensor a state-dict entry describes, as float32; record problems name the entry.
at::Tensor float_tensor(const TorchArchive& archive, const PyValue& value, const std::string& where) {
  try {
    return archive.tensor(value).to(at::kFloat).contiguous();
  } catch (const Error& e) {
    throw Error(e.code(), where + ": " + e.what());
  }
}

std::map<std::string, at::Tensor> to_state_dict(const TorchArchive& archive, const PyValue& value, const std::string& where) {
  if (value.kind != Kind::kDict)
    throw Error(ErrorCode::kCorrupt, where + ": expected a dict of tensors, found " + value.kind_name());
  std::map<std::string, at::Tensor> out;
  for (const auto& [k, v] : value.dict) {
    if (k->kind != Kind::kString) throw Error(ErrorCode::kCorrupt, where + ": expected string keys, found " + k->kind_name());
    if (v->kind != Kind::kTensor)
      throw Error(ErrorCode::kCorrupt, where + ": entry '" + k->s + "' is " + v->kind_name() + ", expected a tensor");
    out[strip_module(k->s)] = float_tensor(archive, *v, where + ": entry '" + k->s + "'");
  }
  return out;
}

}  // namespace

std::map<std::string, at::Tensor> read_state_dict(const std::string& path, const std::string& key) {
  const std::vector<char> bytes = read_bytes(path);
  // torch.save's zip container starts with a local file header "PK\3\4"; the legacy format
  // starts with a pickled magic number and keeps tensors outside the pickle: not supported.
  if (bytes.size() < 4 || bytes[0] != 'P' || bytes[1] != 'K')
    throw Error(ErrorCode::kCorrupt, describe(path, key) +
                                         ": not a zip-format torch.save file (garbage, or the legacy pre-1.6 format: "
                                         "re-save it with torch.save(obj, path) from PyTorch >= 1.6)");
  std::unique_ptr<TorchArchive> archive;
  try {
    archive = std::make_unique<TorchArchive>(path);
  } catch (const c10::Error& e) {
    throw Error(ErrorCode::kCorrupt, describe(path, key) + ": cannot be read (truncated or damaged zip?): " +
                                         e.what_without_backtrace());
  } catch (const Error& e) {
    throw Error(e.code(), describe(path, key) + ": cannot be unpickled: " + e.what());
  }
  const PyValue& root = archive->root();
  try {
    if (key.empty()) return to_state_dict(*archive, root, describe(path, key));
    if (root.kind != Kind::kDict)
      throw Error(ErrorCode::kCorrupt, describe(path, key) + ": the file holds " + root.kind_name() + ", expected a dict");
    for (const auto& [k, v] : root.dict)
      if (k->kind == Kind::kString && k->s == key) return to_state_dict(*archive, *v, describe(path, key));
    throw Error(ErrorCode::kNotFound, describe(path, key) + ": key missing (keys present: " + dict_keys(root) + ")");
  } catch (const c10::Error& e) {
    throw Error(ErrorCode::kCorrupt, describe(path, key) + ": " + e.what_without_backtrace());
  }
}

void write_state_dict(const std::string& path, const std::string& key, const std::map<std::string, at::Tensor>& state,
                      int64_t epoch) {
  c10::Dict<std::string, at::Tensor> sd;
  for (const auto& [name, tensor] : state) sd.insert(name, tensor.detach().contiguous());
  c10::impl::GenericDict root(c10::StringType::get(), c10::AnyType::get());
  root.insert(c10::IValue(std::string("epoch")), c10::IValue(epoch));
  root.insert(c10::IValue(key), c10::IValue(sd));
  std::vector<char> bytes;
  try {
    bytes = torch::pickle_save(c10::IValue(root));
  } catch (const c10::Error& e) {
    throw Error(ErrorCode::kInternal, "serialising checkpoint '" + path + "': " + e.what_without_backtrace());
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw Error(ErrorCode::kIo, "cannot write checkpoint '" + tmp + "'");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw Error(ErrorCode::kIo, "cannot rename '" + tmp + "' to '" + path + "': " + ec.message());
}

at::Tensor take_tensor(const std::map<std::string, at::Tensor>& state, const std::string& name,
                       const std::vector<int64_t>& expected, const std::string& file) {
  const auto it = state.find(name);
  if (it == state.end()) throw Error(ErrorCode::kModel, "checkpoint '" + file + "': tensor '" + name + "' is missing");
  const auto shape = it->second.sizes();
  bool ok = shape.size() == expected.size();
  for (size_t i = 0; ok && i < expected.size(); ++i) ok = expected[i] < 0 || expected[i] == shape[i];
  if (!ok)
    throw Error(ErrorCode::kModel, "checkpoint '" + file + "': tensor '" + name + "' has shape " + shape_text(shape) +
                                       ", expected " + shape_text(expected));
  return it->second;
}

}  // namespace cir::compose::detail
