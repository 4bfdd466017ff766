// Format sniffing, probing and dispatch to the per-format decoders, plus the small helpers
// every decoder shares (error messages, the header-first size check).
#include <algorithm>
#include <cctype>
#include <cstring>
#include <string>

#include "image/codec_util.h"

namespace cir::image {
namespace detail {

void throw_corrupt(const std::string& name, std::string_view format, std::string_view what) {
  throw Error(ErrorCode::kCorrupt, "'" + name + "': cannot decode " + std::string(format) + ": " + std::string(what));
}

void throw_unsupported(const std::string& name, std::string_view format, std::string_view what) {
  throw Error(ErrorCode::kUnsupported, "'" + name + "': unsupported " + std::string(format) + ": " + std::string(what));
}

void check_dimensions(int64_t width, int64_t height, const DecodeOptions& options, const std::string& name,
                      std::string_view format) {
  const std::string found = std::to_string(width) + "x" + std::to_string(height);
  if (width <= 0 || height <= 0) throw_corrupt(name, format, "header gives an empty image (" + found + ")");
  // No supported format stores a side wider than 32 bits, so the product fits in 64 bits; the
  // per-side cap keeps later int arithmetic (width * 3 strides) from overflowing.
  constexpr int64_t kMaxSide = INT32_MAX / 4;
  constexpr int64_t kMaxStoredSide = int64_t(1) << 32;
  const uint64_t pixels = uint64_t(std::min(width, kMaxStoredSide)) * uint64_t(std::min(height, kMaxStoredSide));
  if (width > kMaxSide || height > kMaxSide || pixels > uint64_t(std::max<int64_t>(options.max_pixels, 0))) {
    throw Error(ErrorCode::kResourceExhausted, "'" + name + "': " + std::string(format) + " image of " + found +
                                                   " = " + std::to_string(pixels) + " pixels exceeds the limit of " +
                                                   std::to_string(options.max_pixels) +
                                                   " pixels (DecodeOptions::max_pixels; at most " +
                                                   std::to_string(kMaxSide) + " per side)");
  }
}

void require_valid_image(const ImageU8& image, std::string_view operation) {
  const int64_t expected = int64_t(image.width) * int64_t(image.height) * 3;
  if (image.width <= 0 || image.height <= 0 || int64_t(image.rgb.size()) != expected) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string(operation) + ": expected a non-empty RGB image with width * height * 3 bytes, found " +
                    std::to_string(image.width) + "x" + std::to_string(image.height) + " with " +
                    std::to_string(image.rgb.size()) + " bytes");
  }
}

ImageU8 make_rgb_image(int width, int height) {
  ImageU8 image;
  image.width = width;
  image.height = height;
  image.rgb.assign(static_cast<size_t>(width) * static_cast<size_t>(height) * 3, 0);
  return image;
}

Palette make_gray_ramp_palette() {
  Palette palette{};
  for (int i = 0; i < 256; ++i) palette[i] = {uint8_t(i), uint8_t(i), uint8_t(i)};
  return palette;
}

}  // namespace detail

namespace {

enum class Format { kUnknown, kJpeg, kPng, kWebp, kGif, kBmp };

bool starts_with(std::span<const uint8_t> bytes, const char* magic, size_t offset = 0) {
  const size_t n = std::strlen(magic);
  return bytes.size() >= offset + n && std::memcmp(bytes.data() + offset, magic, n) == 0;
}

// The magic numbers Pillow's plugins accept (_accept), checked in the same spirit.
Format sniff_format(std::span<const uint8_t> bytes) {
  if (bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF) return Format::kJpeg;
  if (starts_with(bytes, "\x89PNG\r\n\x1a\n")) return Format::kPng;
  if (starts_with(bytes, "RIFF") && starts_with(bytes, "WEBP", 8)) return Format::kWebp;
  if (starts_with(bytes, "GIF87a") || starts_with(bytes, "GIF89a")) return Format::kGif;
  if (starts_with(bytes, "BM")) return Format::kBmp;
  return Format::kUnknown;
}

[[noreturn]] void throw_unknown_format(std::span<const uint8_t> bytes, const std::string& name) {
  if (bytes.empty()) throw Error(ErrorCode::kCorrupt, "'" + name + "': empty input, expected an image file");
  std::string head;
  static const char* kHex = "0123456789abcdef";
  for (size_t i = 0; i < bytes.size() && i < 8; ++i) {
    head += kHex[bytes[i] >> 4];
    head += kHex[bytes[i] & 15];
  }
  throw Error(ErrorCode::kUnsupported, "'" + name +
                                           "': not a supported image format (expected JPEG, PNG, WebP, GIF or BMP; "
                                           "first bytes are " +
                                           head + ")");
}

}  // namespace

bool has_image_extension(const std::string& path) {
  const auto dot = path.find_last_of("./");
  if (dot == std::string::npos || path[dot] != '.') return false;
  std::string ext = path.substr(dot + 1);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == "jpg" || ext == "jpeg" || ext == "png" || ext == "webp" || ext == "gif" || ext == "bmp";
}

ImageInfo probe_image(std::span<const uint8_t> bytes, const std::string& name) {
  switch (sniff_format(bytes)) {
    case Format::kJpeg: return detail::probe_jpeg(bytes, name);
    case Format::kPng: return detail::probe_png(bytes, name);
    case Format::kWebp: return detail::probe_webp(bytes, name);
    case Format::kGif: return detail::probe_gif(bytes, name);
    case Format::kBmp: return detail::probe_bmp(bytes, name);
    case Format::kUnknown: break;
  }
  throw_unknown_format(bytes, name);
}

ImageU8 decode_image(std::span<const uint8_t> bytes, const std::string& name, const DecodeOptions& options) {
  switch (sniff_format(bytes)) {
    case Format::kJpeg: return detail::decode_jpeg(bytes, name, options);
    case Format::kPng: return detail::decode_png(bytes, name, options);
    case Format::kWebp: return detail::decode_webp(bytes, name, options);
    case Format::kGif: return detail::decode_gif(bytes, name, options);
    case Format::kBmp: return detail::decode_bmp(bytes, name, options);
    case Format::kUnknown: break;
  }
  throw_unknown_format(bytes, name);
}

ImageU8 decode_image_file(const std::string& path, const DecodeOptions& options) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  return decode_image(bytes, path, options);
}

}  // namespace cir::image
