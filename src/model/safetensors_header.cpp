// The std-only half of the hand-written safetensors reader (Debian packages no C/C++ library
// for the format): the file is mapped and its header validated completely before any tensor is
// read, so everything later code reads lies inside the mapping at a size matching its shape.
#include "model/safetensors_header.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <string_view>

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

uint16_t read_u16_le(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

float float_from_bits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

json parse_header(const std::string& path, std::string_view text) {
  check_json_depth(text, "'" + path + "' header");
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    corrupt(path, std::string("header is not valid JSON: ") + e.what());
  }
}

std::map<std::string, std::string> read_metadata(const std::string& path, const json& value) {
  if (!value.is_object()) corrupt(path, "__metadata__ must be an object of strings, found " + json_type(value));
  std::map<std::string, std::string> metadata;
  for (const auto& [k, v] : value.items()) {
    if (!v.is_string()) corrupt(path, "__metadata__." + k + " must be a string, found " + json_type(v));
    metadata[k] = v.get<std::string>();
  }
  return metadata;
}

// The shape, refusing dimensions whose byte count (at up to 8 bytes an element) overflows
// uint64; returns the element count.
uint64_t read_shape(const std::string& path, const std::string& where, const json& shape, std::vector<int64_t>& out) {
  uint64_t numel = 1;
  for (const auto& d : shape) {
    if (!d.is_number_unsigned()) corrupt(path, where + ": shape entries must be non-negative integers, found " + d.dump());
    const uint64_t dim = d.get<uint64_t>();
    // A dimension past int64 would turn negative in the tensor shape (at::empty then throws
    // c10::Error from load_float); after a zero dimension the product check below cannot see it.
    if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      corrupt(path, where + ": shape entry " + d.dump() + " exceeds 2^63 - 1");
    if (dim != 0 && numel > std::numeric_limits<uint64_t>::max() / dim / 8) corrupt(path, where + ": shape overflows");
    numel *= dim;
    out.push_back(static_cast<int64_t>(dim));
  }
  return numel;
}

// One tensor entry, checked against the data section of `data_size` bytes.
SafetensorsEntry read_entry(const std::string& path, const std::string& name, const json& value, uint64_t data_size) {
  const std::string where = "tensor '" + name + "'";
  if (!value.is_object()) corrupt(path, where + ": entry must be an object, found " + json_type(value));
  if (!value.contains("dtype") || !value["dtype"].is_string()) corrupt(path, where + ": missing string field 'dtype'");
  if (!value.contains("shape") || !value["shape"].is_array()) corrupt(path, where + ": missing array field 'shape'");
  if (!value.contains("data_offsets") || !value["data_offsets"].is_array() || value["data_offsets"].size() != 2)
    corrupt(path, where + ": 'data_offsets' must be an array [begin, end]");
  SafetensorsEntry entry;
  entry.dtype = value["dtype"].get<std::string>();
  const int64_t elem_size = safetensors_dtype_size(entry.dtype);
  if (elem_size == 0) corrupt(path, where + ": unknown dtype '" + entry.dtype + "'");
  const uint64_t numel = read_shape(path, where, value["shape"], entry.shape);
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
  return entry;
}

// Two entries sharing bytes would alias each other's data; empty ranges overlap nothing.
void check_no_overlap(const std::string& path, const std::map<std::string, SafetensorsEntry>& entries) {
  std::vector<const std::pair<const std::string, SafetensorsEntry>*> order;
  for (const auto& item : entries) order.push_back(&item);
  std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    return std::pair(a->second.begin, a->second.end) < std::pair(b->second.begin, b->second.end);
  });
  for (size_t i = 1; i < order.size(); ++i) {
    const SafetensorsEntry& prev = order[i - 1]->second;
    const SafetensorsEntry& cur = order[i]->second;
    if (cur.begin < prev.end && cur.begin != cur.end)
      corrupt(path, "tensors '" + order[i - 1]->first + "' and '" + order[i]->first + "' overlap");
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

uint64_t element_count(const SafetensorsEntry& entry) {
  uint64_t numel = 1;
  for (const int64_t d : entry.shape) numel *= static_cast<uint64_t>(d);
  return numel;
}

float half_to_float(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1fu;
  uint32_t mantissa = bits & 0x3ffu;
  if (exponent == 0x1f) {
    // Infinity, or a NaN: quieted as the hardware conversion (and libtorch) does.
    return float_from_bits(sign | 0x7f800000u | (mantissa != 0 ? 0x400000u : 0u) | (mantissa << 13));
  }
  if (exponent != 0) return float_from_bits(sign | ((exponent + 112) << 23) | (mantissa << 13));
  if (mantissa == 0) return float_from_bits(sign);
  // Subnormal half: normal in float32. Shift the leading one into the implicit bit.
  uint32_t shifts = 0;
  while ((mantissa & 0x400u) == 0) {
    mantissa <<= 1;
    ++shifts;
  }
  return float_from_bits(sign | ((113 - shifts) << 23) | ((mantissa & 0x3ffu) << 13));
}

float bfloat16_to_float(uint16_t bits) { return float_from_bits(static_cast<uint32_t>(bits) << 16); }

SafetensorsMapping::SafetensorsMapping(const std::string& path) : path_(path) {
  // RegularFile: a FIFO or device named model.safetensors fails at once instead of blocking.
  const RegularFile file(path, "safetensors file");
  const uint64_t file_size = static_cast<uint64_t>(file.size());
  if (file_size < 8) corrupt(path, "file is " + std::to_string(file_size) + " bytes, shorter than the 8-byte header length");
  void* mapped = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, file.fd(), 0);
  if (mapped == MAP_FAILED) throw Error(ErrorCode::kIo, "cannot map safetensors file '" + path + "': " + std::strerror(errno));
  map_ = static_cast<const uint8_t*>(mapped);
  map_size_ = file_size;
  try {
    read_header();
  } catch (...) {
    ::munmap(const_cast<uint8_t*>(map_), map_size_);
    map_ = nullptr;
    throw;
  }
}

void SafetensorsMapping::read_header() {
  const uint64_t file_size = map_size_;
  const uint64_t header_len = read_u64_le(map_);
  if (header_len > kMaxHeaderBytes || header_len > file_size - 8)
    corrupt(path_, "header length " + std::to_string(header_len) + " exceeds the file (" + std::to_string(file_size) +
                       " bytes) or the format's 100 MB limit");
  data_offset_ = 8 + header_len;
  const uint64_t data_size = file_size - data_offset_;
  const json header = parse_header(path_, std::string_view(reinterpret_cast<const char*>(map_ + 8), header_len));
  if (!header.is_object()) corrupt(path_, "header must be a JSON object, found " + json_type(header));
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      metadata_ = read_metadata(path_, value);
      continue;
    }
    entries_.emplace(name, read_entry(path_, name, value, data_size));
  }
  check_no_overlap(path_, entries_);
}

SafetensorsMapping::~SafetensorsMapping() {
  if (map_ != nullptr) ::munmap(const_cast<uint8_t*>(map_), map_size_);
}

SafetensorsMapping::SafetensorsMapping(SafetensorsMapping&& other) noexcept
    : path_(std::move(other.path_)),
      map_(other.map_),
      map_size_(other.map_size_),
      data_offset_(other.data_offset_),
      entries_(std::move(other.entries_)),
      metadata_(std::move(other.metadata_)) {
  other.map_ = nullptr;
  other.map_size_ = 0;
}

const SafetensorsEntry& SafetensorsMapping::entry(const std::string& name) const {
  const auto it = entries_.find(name);
  if (it == entries_.end()) throw Error(ErrorCode::kNotFound, "safetensors file '" + path_ + "' has no tensor '" + name + "'");
  return it->second;
}

std::span<const uint8_t> SafetensorsMapping::bytes(const std::string& name) const {
  const SafetensorsEntry& e = entry(name);
  return {map_ + data_offset_ + e.begin, static_cast<size_t>(e.end - e.begin)};
}

const SafetensorsEntry& SafetensorsMapping::float_entry(const std::string& name) const {
  const SafetensorsEntry& e = entry(name);
  if (e.dtype != "F32" && e.dtype != "F16" && e.dtype != "BF16" && e.dtype != "F64")
    throw Error(ErrorCode::kUnsupported, "safetensors file '" + path_ + "': tensor '" + name + "' has dtype " + e.dtype +
                                             "; cir reads F32, F16, BF16 and F64 weights");
  return e;
}

void SafetensorsMapping::copy_as_float(const std::string& name, std::span<float> out) const {
  const SafetensorsEntry& e = float_entry(name);
  const uint64_t numel = element_count(e);
  if (out.size() != numel)
    throw Error(ErrorCode::kInvalidArgument, "safetensors file '" + path_ + "': tensor '" + name + "' has " +
                                                 std::to_string(numel) + " elements, the buffer " + std::to_string(out.size()));
  // The data section need not be aligned: read every element bytewise (memcpy for F32).
  const uint8_t* src = bytes(name).data();
  if (e.dtype == "F32") {
    if (numel > 0) std::memcpy(out.data(), src, numel * sizeof(float));
  } else if (e.dtype == "F16") {
    for (size_t i = 0; i < numel; ++i) out[i] = half_to_float(read_u16_le(src + 2 * i));
  } else if (e.dtype == "BF16") {
    for (size_t i = 0; i < numel; ++i) out[i] = bfloat16_to_float(read_u16_le(src + 2 * i));
  } else {
    for (size_t i = 0; i < numel; ++i) {
      double d;
      std::memcpy(&d, src + 8 * i, sizeof d);
      out[i] = static_cast<float>(d);
    }
  }
}

std::vector<float> SafetensorsMapping::load_floats(const std::string& name) const {
  std::vector<float> out(static_cast<size_t>(element_count(float_entry(name))));
  copy_as_float(name, out);
  return out;
}

}  // namespace cir::model::detail
