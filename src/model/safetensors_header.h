// Private to cir_model: the std-only half of the safetensors reader (Hugging Face's
// `safetensors`: 8-byte little-endian header length, a JSON header naming each tensor's dtype,
// shape and [begin, end) byte range in the data section that follows, then the raw
// little-endian bytes). Everything that looks at bytes from the file lives here, without
// libtorch, so the fuzz target fuzz_safetensors reaches all of it; safetensors.h turns the
// validated entries into at::Tensors.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace cir::model::detail {

/// One tensor entry of a safetensors header, already validated against the file.
struct SafetensorsEntry {
  std::string dtype;             ///< safetensors dtype string ("F32", "F16", "BF16", "I64", ...)
  std::vector<int64_t> shape;    ///< may be empty (a scalar)
  uint64_t begin = 0;            ///< byte offset in the data section
  uint64_t end = 0;              ///< one past the last byte
};

/// Bytes per element of a safetensors dtype string, or 0 when the string is not a dtype of
/// the format.
int64_t safetensors_dtype_size(const std::string& dtype);

/// A memory-mapped, validated safetensors file. Opening checks the whole header: its length
/// against the file size, that it is a JSON object, every entry's dtype string, shape and
/// offsets (inside the data section, matching shape x dtype size, not overlapping), so a
/// truncated or garbled file fails at open with kCorrupt naming the file and the tensor.
/// Move-only; unmaps on destruction. Reads only (any thread, the mapping is immutable).
class SafetensorsMapping {
 public:
  /// Opens through cir::RegularFile. Throws kNotFound (no file), kInvalidArgument (not a
  /// regular file), kIo (cannot read/map), kCorrupt (bad header or offsets).
  explicit SafetensorsMapping(const std::string& path);
  ~SafetensorsMapping();
  SafetensorsMapping(SafetensorsMapping&& other) noexcept;
  SafetensorsMapping& operator=(SafetensorsMapping&&) = delete;
  SafetensorsMapping(const SafetensorsMapping&) = delete;
  SafetensorsMapping& operator=(const SafetensorsMapping&) = delete;

  const std::string& path() const { return path_; }
  const std::map<std::string, SafetensorsEntry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool contains(const std::string& name) const { return entries_.count(name) != 0; }

  /// The entry `name`; throws kNotFound naming the file and the tensor.
  const SafetensorsEntry& entry(const std::string& name) const;
  /// The entry `name` when copy_as_float can read it; throws kNotFound, or kUnsupported for
  /// integer and 8-bit float dtypes.
  const SafetensorsEntry& float_entry(const std::string& name) const;
  /// The tensor's raw little-endian bytes inside the mapping (entry.end - entry.begin of them,
  /// not aligned); valid while this object lives. Throws kNotFound.
  std::span<const uint8_t> bytes(const std::string& name) const;
  /// Converts the tensor to float32 into `out`, which must hold exactly its element count
  /// (F32 copied, F16 / BF16 widened exactly, F64 rounded to nearest). Throws kNotFound,
  /// kUnsupported (integer or 8-bit float dtypes), kInvalidArgument (`out` of another size).
  void copy_as_float(const std::string& name, std::span<float> out) const;
  /// copy_as_float into a new buffer.
  std::vector<float> load_floats(const std::string& name) const;

 private:
  void read_header();

  std::string path_;
  const uint8_t* map_ = nullptr;
  size_t map_size_ = 0;
  uint64_t data_offset_ = 0;
  std::map<std::string, SafetensorsEntry> entries_;
  std::map<std::string, std::string> metadata_;
};

/// Element count of a validated entry (the product of its shape; 1 for a scalar).
uint64_t element_count(const SafetensorsEntry& entry);

/// IEEE binary16 / bfloat16 bit patterns as float32 (exact; NaNs stay NaN).
float half_to_float(uint16_t bits);
float bfloat16_to_float(uint16_t bits);

}  // namespace cir::model::detail
