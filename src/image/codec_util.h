// Private to cir_image: error helpers, the header-first size check and the per-format entry
// points that decode.cpp dispatches to. Nothing here is visible outside src/image.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "cir/image.h"

namespace cir::image::detail {

/// Throws kCorrupt: "<name>: cannot decode <format>: <what>".
[[noreturn]] void throw_corrupt(const std::string& name, std::string_view format, std::string_view what);
/// Throws kUnsupported: "<name>: unsupported <format>: <what>".
[[noreturn]] void throw_unsupported(const std::string& name, std::string_view format, std::string_view what);

/// Refuses zero or negative dimensions (kCorrupt) and more than options.max_pixels pixels
/// (kResourceExhausted). Called with the header's dimensions before any pixel buffer exists.
void check_dimensions(int64_t width, int64_t height, const DecodeOptions& options, const std::string& name,
                      std::string_view format);

/// Throws kInvalidArgument unless the image has positive dimensions and exactly
/// width * height * 3 bytes; `operation` names the caller ("encode_png", "resize_bicubic").
void require_valid_image(const ImageU8& image, std::string_view operation);

/// An RGB image of the given (already checked) size, zero-filled.
ImageU8 make_rgb_image(int width, int height);

/// A 256-entry RGB lookup table as Pillow's palette starts: a gray ramp (i, i, i). Formats
/// overwrite the entries their file defines; indices past the file's palette keep the ramp,
/// which is what Pillow's convert("RGB") shows for them.
using Palette = std::array<std::array<uint8_t, 3>, 256>;
Palette make_gray_ramp_palette();

/// Little-endian / big-endian readers over a byte span (callers check bounds first).
inline uint32_t read_u32_le(const uint8_t* p) {
  return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}
inline uint16_t read_u16_le(const uint8_t* p) { return uint16_t(p[0] | (p[1] << 8)); }
inline uint32_t read_u32_be(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}
inline uint16_t read_u16_be(const uint8_t* p) { return uint16_t((p[0] << 8) | p[1]); }

// Per-format probes (header only) and decoders. Each throws cir::Error naming `name`.
ImageInfo probe_jpeg(std::span<const uint8_t> bytes, const std::string& name);
ImageInfo probe_png(std::span<const uint8_t> bytes, const std::string& name);
ImageInfo probe_webp(std::span<const uint8_t> bytes, const std::string& name);
ImageInfo probe_gif(std::span<const uint8_t> bytes, const std::string& name);
ImageInfo probe_bmp(std::span<const uint8_t> bytes, const std::string& name);

ImageU8 decode_jpeg(std::span<const uint8_t> bytes, const std::string& name, const DecodeOptions& options);
ImageU8 decode_png(std::span<const uint8_t> bytes, const std::string& name, const DecodeOptions& options);
ImageU8 decode_webp(std::span<const uint8_t> bytes, const std::string& name, const DecodeOptions& options);
ImageU8 decode_gif(std::span<const uint8_t> bytes, const std::string& name, const DecodeOptions& options);
ImageU8 decode_bmp(std::span<const uint8_t> bytes, const std::string& name, const DecodeOptions& options);

}  // namespace cir::image::detail
