// NumPy .npy reader/writer. Hand-written: no Debian package reads .npy from C++ (cnpy is not
// packaged), and the format is a short text header plus raw C-order data.
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>

#include "cir/core.h"

namespace cir {
namespace {

constexpr char kMagic[] = "\x93NUMPY";

[[noreturn]] void corrupt(const std::string& path, const std::string& why) {
  throw Error(ErrorCode::kCorrupt, "'" + path + "' is not a valid .npy file: " + why);
}

// Extracts the value text after 'key': in the header dict.
std::string header_field(const std::string& header, const std::string& key, const std::string& path) {
  const auto pos = header.find("'" + key + "'");
  if (pos == std::string::npos) corrupt(path, "header has no '" + key + "'");
  auto colon = header.find(':', pos);
  if (colon == std::string::npos) corrupt(path, "header field '" + key + "' has no value");
  ++colon;
  while (colon < header.size() && header[colon] == ' ') ++colon;
  return header.substr(colon);
}

// Bytes per item of a descr such as "f4" or "i8": the digits after the kind letter, 1 to 16
// (numpy's largest scalar); anything else is 0, an unknown dtype.
size_t dtype_size(const std::string& dtype) {
  if (dtype.size() < 2 || dtype.size() > 3) return 0;
  size_t n = 0;
  for (size_t i = 1; i < dtype.size(); ++i) {
    if (dtype[i] < '0' || dtype[i] > '9') return 0;
    n = n * 10 + static_cast<size_t>(dtype[i] - '0');
  }
  return n <= 16 ? n : 0;
}

// One shape entry: a non-negative decimal integer (spaces around it allowed; Python 2's numpy
// wrote longs as "3L").
int64_t shape_dim(const std::string& part, const std::string& path) {
  const size_t first = part.find_first_not_of(' ');
  const size_t last = part.find_last_not_of(' ');
  std::string digits = part.substr(first, last - first + 1);
  if (digits.size() > 1 && digits.back() == 'L') digits.pop_back();
  int64_t dim = 0;
  if (digits.empty()) corrupt(path, "bad shape entry ''");
  for (const char c : digits) {
    if (c < '0' || c > '9' || dim > (INT64_MAX - 9) / 10) corrupt(path, "bad shape entry '" + digits + "'");
    dim = dim * 10 + (c - '0');
  }
  return dim;
}

}  // namespace

int64_t NpyArray::size() const {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}

std::vector<float> NpyArray::as_floats() const {
  const int64_t n = size();
  std::vector<float> out(static_cast<size_t>(n));
  // An empty array has no buffers: memcpy on their null data pointers is undefined.
  if (n == 0 && (dtype == "f4" || dtype == "f2" || dtype == "f8")) return out;
  if (dtype == "f4") {
    std::memcpy(out.data(), data.data(), out.size() * 4);
  } else if (dtype == "f2") {
    for (int64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, data.data() + 2 * i, 2);
      out[i] = half_to_float(h);
    }
  } else if (dtype == "f8") {
    for (int64_t i = 0; i < n; ++i) {
      double v;
      std::memcpy(&v, data.data() + 8 * i, 8);
      out[i] = static_cast<float>(v);
    }
  } else {
    throw Error(ErrorCode::kUnsupported, "npy dtype '" + dtype + "' cannot be read as float");
  }
  return out;
}

NpyArray read_npy(const std::string& path) {
  const auto bytes = read_file_bytes(path);
  if (bytes.size() < 10 || std::memcmp(bytes.data(), kMagic, 6) != 0) corrupt(path, "bad magic");
  const int major = bytes[6];
  size_t header_len = 0, offset = 0;
  if (major == 1) {
    header_len = bytes[8] | (bytes[9] << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) corrupt(path, "truncated header");
    header_len = bytes[8] | (bytes[9] << 8) | (bytes[10] << 16) | (size_t(bytes[11]) << 24);
    offset = 12;
  } else {
    corrupt(path, "unknown version " + std::to_string(major));
  }
  if (offset + header_len > bytes.size()) corrupt(path, "truncated header");
  const std::string header(bytes.begin() + offset, bytes.begin() + offset + header_len);
  NpyArray arr;
  std::string descr = header_field(header, "descr", path);
  if (descr.size() < 4 || descr[0] != '\'') corrupt(path, "bad descr");
  descr = descr.substr(1, descr.find('\'', 1) - 1);
  if (descr[0] == '>') throw Error(ErrorCode::kUnsupported, "'" + path + "': big-endian npy not supported");
  arr.dtype = (descr[0] == '<' || descr[0] == '|' || descr[0] == '=') ? descr.substr(1) : descr;
  if (header_field(header, "fortran_order", path).rfind("True", 0) == 0)
    throw Error(ErrorCode::kUnsupported, "'" + path + "': Fortran-order npy not supported");
  const std::string shape_text = header_field(header, "shape", path);
  const auto close = shape_text.find(')');
  if (shape_text.empty() || shape_text[0] != '(' || close == std::string::npos) corrupt(path, "bad shape");
  std::stringstream ss(shape_text.substr(1, close - 1));
  std::string part;
  while (std::getline(ss, part, ',')) {
    if (part.find_first_not_of(' ') == std::string::npos) continue;
    arr.shape.push_back(shape_dim(part, path));
  }
  const size_t item = dtype_size(arr.dtype);
  if (item == 0) corrupt(path, "unknown dtype '" + arr.dtype + "'");
  // The element count must fit the file: checked per dimension so the product cannot overflow.
  const uint64_t max_items = (bytes.size() - offset - header_len) / item;
  uint64_t n_items = 1;
  for (const int64_t dim : arr.shape) {
    if (dim != 0 && n_items > max_items / static_cast<uint64_t>(dim)) n_items = max_items + 1;
    else n_items *= static_cast<uint64_t>(dim);
  }
  if (n_items > max_items)
    corrupt(path, "shape needs more data than the file's " + std::to_string(bytes.size() - offset - header_len) + " bytes");
  const size_t need = static_cast<size_t>(n_items) * item;
  const size_t data_off = offset + header_len;
  if (bytes.size() - data_off < need)
    corrupt(path, "data is " + std::to_string(bytes.size() - data_off) + " bytes, shape needs " + std::to_string(need));
  arr.data.assign(bytes.begin() + data_off, bytes.begin() + data_off + need);
  return arr;
}

void write_npy_raw(const std::string& path, const std::vector<int64_t>& shape, std::string_view descr,
                   std::span<const uint8_t> bytes) {
  std::string shape_text = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    shape_text += std::to_string(shape[i]);
    if (shape.size() == 1 || i + 1 < shape.size()) shape_text += ",";
    if (i + 1 < shape.size()) shape_text += " ";
  }
  shape_text += ")";
  std::string header = "{'descr': '" + std::string(descr) + "', 'fortran_order': False, 'shape': " + shape_text + ", }";
  // Pad so that magic + len + header + '\n' is a multiple of 64 (what numpy writes).
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::string out(kMagic, 6);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>((header.size() >> 8) & 0xff);
  out += header;
  out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  write_file_atomic(path, out);
}

void write_npy_f32(const std::string& path, const std::vector<int64_t>& shape, std::span<const float> values) {
  write_npy_raw(path, shape, "<f4",
                std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(values.data()), values.size() * 4));
}

uint16_t float_to_half(float value) {
  const uint32_t f = std::bit_cast<uint32_t>(value);
  const uint32_t sign = (f >> 16) & 0x8000u;
  const uint32_t abs = f & 0x7fffffffu;
  if (abs >= 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (abs < 0x38800000u) {                                                // subnormal half
    const float scaled = std::bit_cast<float>(abs) * 16777216.0f;        // * 2^24
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(std::nearbyint(scaled)));
  }
  const uint32_t mant_odd = (abs >> 13) & 1u;
  const uint32_t rounded = abs + 0xfffu + mant_odd;
  return static_cast<uint16_t>(sign | ((rounded - 0x38000000u) >> 13));
}

float half_to_float(uint16_t h) {
  const uint32_t sign = (uint32_t(h) & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  const uint32_t mant = h & 0x3ff;
  if (exp == 0) {
    const float v = static_cast<float>(mant) / 16777216.0f;  // mant * 2^-24
    return sign ? -v : v;
  }
  if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t float_to_bf16(float value) {
  uint32_t f = std::bit_cast<uint32_t>(value);
  if ((f & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((f >> 16) | 0x40);
  f += 0x7fffu + ((f >> 16) & 1u);
  return static_cast<uint16_t>(f >> 16);
}

float bf16_to_float(uint16_t value) { return std::bit_cast<float>(uint32_t(value) << 16); }

}  // namespace cir
