// Hand-written safetensors reader/writer: Debian packages no C/C++ library for the format.
// The reader maps the file and validates the header completely before any tensor is read;
// the writer streams to a temp file and renames it so a crash never leaves half a file.
#include "model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "cir/core.h"
#include "cir/regular_file.h"

namespace cir::model::detail {
namespace {

using nlohmann::json;

// The format caps the header at 100 MB; a larger length is a garbled file, not a big model.
constexpr uint64_t kMaxHeaderBytes = 100ull * 1024 * 1024;

[[noreturn]] void corrupt(const std::string& path, const std::string& what) {
  throw Error(ErrorCode::kCorrupt, "safetensors file '" + path + "': " + what);
}

std::string json_type(const json& j) { return j.type_name(); }

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

at::ScalarType scalar_type_of(const std::string& dtype) {
  if (dtype == "F32") return at::kFloat;
  if (dtype == "F16") return at::kHalf;
  if (dtype == "BF16") return at::kBFloat16;
  if (dtype == "F64") return at::kDouble;
  return at::ScalarType::Undefined;
}

std::string safetensors_dtype_of(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return "F32";
    case at::kBFloat16: return "BF16";
    default: return "";
  }
}

}  // namespace

int64_t safetensors_dtype_size(const std::string& dtype) {
  static const std::map<std::string, int64_t> sizes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"I16", 2},
      {"U16", 2},  {"F16", 2}, {"BF16", 2}, {"I32", 4},     {"U32", 4},     {"F32", 4},
      {"I64", 8},  {"U64", 8}, {"F64", 8}};
  const auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  // RegularFile: a FIFO or device named model.safetensors fails at once instead of blocking.
  const RegularFile file(path, "safetensors file");
  const uint64_t file_size = static_cast<uint64_t>(file.size());
  if (file_size < 8) corrupt(path, "file is " + std::to_string(file_size) + " bytes, shorter than the 8-byte header length");
  void* mapped = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, file.fd(), 0);
  if (mapped == MAP_FAILED) throw Error(ErrorCode::kIo, "cannot map safetensors file '" + path + "': " + std::strerror(errno));
  map_ = static_cast<const uint8_t*>(mapped);
  map_size_ = file_size;

  try {
    const uint64_t header_len = read_u64_le(map_);
    if (header_len > kMaxHeaderBytes || header_len > file_size - 8)
      corrupt(path, "header length " + std::to_string(header_len) + " exceeds the file (" +
                        std::to_string(file_size) + " bytes) or the format's 100 MB limit");
    data_offset_ = 8 + header_len;
    const uint64_t data_size = file_size - data_offset_;
    json header;
    check_json_depth(std::string_view(reinterpret_cast<const char*>(map_ + 8), data_offset_ - 8),
                     "'" + path + "' header");
    try {
      header = json::parse(reinterpret_cast<const char*>(map_ + 8), reinterpret_cast<const char*>(map_ + data_offset_));
    } catch (const json::exception& e) {
      corrupt(path, std::string("header is not valid JSON: ") + e.what());
    }
    if (!header.is_object()) corrupt(path, "header must be a JSON object, found " + json_type(header));

    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    std::vector<const std::string*> range_names;
    for (const auto& [name, value] : header.items()) {
      if (name == "__metadata__") {
        if (!value.is_object()) corrupt(path, "__metadata__ must be an object of strings, found " + json_type(value));
        for (const auto& [k, v] : value.items()) {
          if (!v.is_string()) corrupt(path, "__metadata__." + k + " must be a string, found " + json_type(v));
          metadata_[k] = v.get<std::string>();
        }
        continue;
      }
      const std::string where = "tensor '" + name + "'";
      if (!value.is_object()) corrupt(path, where + ": entry must be an object, found " + json_type(value));
      if (!value.contains("dtype") || !value["dtype"].is_string())
        corrupt(path, where + ": missing string field 'dtype'");
      if (!value.contains("shape") || !value["shape"].is_array())
        corrupt(path, where + ": missing array field 'shape'");
      if (!value.contains("data_offsets") || !value["data_offsets"].is_array() || value["data_offsets"].size() != 2)
        corrupt(path, where + ": 'data_offsets' must be an array [begin, end]");
      SafetensorsEntry entry;
      entry.dtype = value["dtype"].get<std::string>();
      const int64_t elem_size = safetensors_dtype_size(entry.dtype);
      if (elem_size == 0) corrupt(path, where + ": unknown dtype '" + entry.dtype + "'");
      uint64_t numel = 1;
      for (const auto& d : value["shape"]) {
        if (!d.is_number_unsigned()) corrupt(path, where + ": shape entries must be non-negative integers, found " + d.dump());
        const uint64_t dim = d.get<uint64_t>();
        // A dimension past int64 would turn negative in the tensor shape (at::empty then throws
        // c10::Error from load_float); after a zero dimension the product check below cannot see it.
        if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
          corrupt(path, where + ": shape entry " + d.dump() + " exceeds 2^63 - 1");
        if (dim != 0 && numel > std::numeric_limits<uint64_t>::max() / dim / 8) corrupt(path, where + ": shape overflows");
        numel *= dim;
        entry.shape.push_back(static_cast<int64_t>(dim));
      }
      for (const auto& o : value["data_offsets"])
        if (!o.is_number_unsigned()) corrupt(path, where + ": data_offsets must be non-negative integers, found " + o.dump());
      entry.begin = value["data_offsets"][0].get<uint64_t>();
      entry.end = value["data_offsets"][1].get<uint64_t>();
      if (entry.begin > entry.end || entry.end > data_size)
        corrupt(path, where + ": data_offsets [" + std::to_string(entry.begin) + ", " + std::to_string(entry.end) +
                          ") outside the data section of " + std::to_string(data_size) + " bytes (file truncated?)");
      const uint64_t expected_bytes = numel * static_cast<uint64_t>(elem_size);
      if (entry.end - entry.begin != expected_bytes)
        corrupt(path, where + ": data_offsets span " + std::to_string(entry.end - entry.begin) + " bytes, expected " +
                          std::to_string(expected_bytes) + " for dtype " + entry.dtype + " and its shape");
      auto [it, inserted] = entries_.emplace(name, std::move(entry));
      ranges.emplace_back(it->second.begin, it->second.end);
      range_names.push_back(&it->first);
    }
    std::vector<size_t> order(ranges.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ranges[a] < ranges[b]; });
    for (size_t i = 1; i < order.size(); ++i) {
      const auto& prev = ranges[order[i - 1]];
      const auto& cur = ranges[order[i]];
      if (cur.first < prev.second && cur.first != cur.second)
        corrupt(path, "tensors '" + *range_names[order[i - 1]] + "' and '" + *range_names[order[i]] + "' overlap");
    }
  } catch (...) {
    ::munmap(const_cast<uint8_t*>(map_), map_size_);
    map_ = nullptr;
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) ::munmap(const_cast<uint8_t*>(map_), map_size_);
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& other) noexcept
    : path_(std::move(other.path_)),
      map_(other.map_),
      map_size_(other.map_size_),
      data_offset_(other.data_offset_),
      entries_(std::move(other.entries_)),
      metadata_(std::move(other.metadata_)) {
  other.map_ = nullptr;
  other.map_size_ = 0;
}

at::Tensor SafetensorsFile::load_float(const std::string& name) const {
  const auto it = entries_.find(name);
  if (it == entries_.end()) throw Error(ErrorCode::kNotFound, "safetensors file '" + path_ + "' has no tensor '" + name + "'");
  const SafetensorsEntry& e = it->second;
  const at::ScalarType type = scalar_type_of(e.dtype);
  if (type == at::ScalarType::Undefined)
    throw Error(ErrorCode::kUnsupported, "safetensors file '" + path_ + "': tensor '" + name + "' has dtype " + e.dtype +
                                             "; cir reads F32, F16, BF16 and F64 weights");
  // Copy into an owned, aligned buffer first: the data section need not be aligned.
  at::Tensor raw = at::empty(e.shape, at::TensorOptions().dtype(type));
  if (e.end > e.begin) std::memcpy(raw.data_ptr(), map_ + data_offset_ + e.begin, e.end - e.begin);
  return type == at::kFloat ? raw : raw.to(at::kFloat);
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
