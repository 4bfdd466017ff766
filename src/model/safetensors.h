// Private to cir_model: reader and writer of the safetensors format (Hugging Face's
// `safetensors`: 8-byte little-endian header length, a JSON header naming each tensor's dtype,
// shape and [begin, end) byte range in the data section that follows, then the raw
// little-endian bytes). Debian packages no C/C++ safetensors library, so this is hand-written
// from the format description.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace cir::model::detail {

/// One tensor entry of a safetensors header, already validated against the file.
struct SafetensorsEntry {
  std::string dtype;             ///< safetensors dtype string ("F32", "F16", "BF16", "I64", ...)
  std::vector<int64_t> shape;    ///< may be empty (a scalar)
  uint64_t begin = 0;            ///< byte offset in the data section
  uint64_t end = 0;              ///< one past the last byte
};

/// A memory-mapped, validated safetensors file. Opening checks the whole header: its length
/// against the file size, that it is a JSON object, every entry's dtype string, shape and
/// offsets (inside the data section, matching shape x dtype size, not overlapping), so a
/// truncated or garbled file fails at open with kCorrupt naming the file and the tensor.
/// Move-only; unmaps on destruction.
class SafetensorsFile {
 public:
  /// Throws kNotFound (no file), kIo (cannot read/map), kCorrupt (bad header or offsets).
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(SafetensorsFile&& other) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) = delete;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::map<std::string, SafetensorsEntry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool contains(const std::string& name) const { return entries_.count(name) != 0; }

  /// Copies a tensor out of the mapping as float32 (converting F16/BF16/F64).
  /// Throws kNotFound (no such tensor) or kUnsupported (integer or 8-bit float dtypes).
  at::Tensor load_float(const std::string& name) const;

 private:
  std::string path_;
  const uint8_t* map_ = nullptr;
  size_t map_size_ = 0;
  uint64_t data_offset_ = 0;
  std::map<std::string, SafetensorsEntry> entries_;
  std::map<std::string, std::string> metadata_;
};

/// Bytes per element of a safetensors dtype string, or 0 when the string is not a dtype of
/// the format.
int64_t safetensors_dtype_size(const std::string& dtype);

/// Writes tensors (any float dtype; each is written as float32 when `as_bfloat16` is false,
/// else as BF16) to a safetensors file, crash-safely (temp file, fsync, rename). Names are
/// written in sorted order; `metadata` goes to the "__metadata__" entry.
/// Throws kInvalidArgument (duplicate or empty name) or kIo.
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}},
                       bool as_bfloat16 = false);

}  // namespace cir::model::detail
