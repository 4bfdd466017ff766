// The libtorch side of the safetensors reader/writer: tensors out of a file the std-only
// SafetensorsMapping (safetensors_header.cpp) has mapped and validated, and a writer that
// streams to a temp file and renames it so a crash never leaves half a file.
#include "model/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "cir/core.h"

namespace cir::model::detail {
namespace {

using nlohmann::json;

std::string safetensors_dtype_of(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return "F32";
    case at::kBFloat16: return "BF16";
    default: return "";
  }
}

}  // namespace

at::Tensor SafetensorsFile::load_float(const std::string& name) const {
  const SafetensorsEntry& e = float_entry(name);  // before allocating: an I64 entry fails first
  at::Tensor out = at::empty(e.shape, at::TensorOptions().dtype(at::kFloat));
  copy_as_float(name, std::span<float>(out.data_ptr<float>(), static_cast<size_t>(out.numel())));
  return out;
}

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata, bool as_bfloat16) {
  std::map<std::string, at::Tensor> sorted;
  for (const auto& [name, t] : tensors) {
    if (name.empty() || name == "__metadata__")
      throw Error(ErrorCode::kInvalidArgument, "write_safetensors '" + path + "': invalid tensor name '" + name + "'");
    if (!sorted.emplace(name, t).second)
      throw Error(ErrorCode::kInvalidArgument, "write_safetensors '" + path + "': duplicate tensor name '" + name + "'");
  }
  const at::ScalarType out_type = as_bfloat16 ? at::kBFloat16 : at::kFloat;
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<at::Tensor> blobs;
  uint64_t offset = 0;
  for (const auto& [name, t] : sorted) {
    at::Tensor c = t.detach().to(at::kCPU).to(out_type).contiguous();
    const uint64_t bytes = static_cast<uint64_t>(c.numel()) * c.element_size();
    header[name] = {{"dtype", safetensors_dtype_of(out_type)}, {"shape", c.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    blobs.push_back(std::move(c));
  }
  std::string header_text = header.dump();
  while (header_text.size() % 8 != 0) header_text.push_back(' ');  // data section 8-byte aligned

  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(ErrorCode::kIo, "cannot create '" + tmp + "': " + std::strerror(errno));
  auto write_all = [&](const void* data, size_t size) {
    const auto* p = static_cast<const uint8_t*>(data);
    while (size > 0) {
      const ssize_t n = ::write(fd, p, size);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int err = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        throw Error(ErrorCode::kIo, "cannot write '" + tmp + "': " + std::strerror(err));
      }
      p += n;
      size -= static_cast<size_t>(n);
    }
  };
  uint8_t len_bytes[8];
  uint64_t len = header_text.size();
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<uint8_t>(len >> (8 * i));
  write_all(len_bytes, 8);
  write_all(header_text.data(), header_text.size());
  for (const auto& c : blobs) write_all(c.data_ptr(), static_cast<size_t>(c.numel()) * c.element_size());
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    throw Error(ErrorCode::kIo, "cannot flush '" + tmp + "': " + std::strerror(errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw Error(ErrorCode::kIo, "cannot rename '" + tmp + "' to '" + path + "': " + std::strerror(err));
  }
}

}  // namespace cir::model::detail
