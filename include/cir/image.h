// cir image (L1): decoding image files to 8-bit RGB exactly as Pillow's open().convert("RGB"),
// Pillow-exact resampling, the torchvision/CIR-repo preprocessing modes, and encoding.
//
// Contract: std + codec libraries only (libjpeg-turbo, libpng, libwebp, giflib). Thread-safe:
// every function is reentrant. Errors: cir::Error naming the input (file name or the
// `name` argument) — kCorrupt for damaged/truncated data, kUnsupported for unknown formats,
// kResourceExhausted when the pixel limit is exceeded (checked from the header, before any
// pixel buffer is allocated). Layout: ImageU8 is row-major HWC RGB; preprocessed output is
// CHW float32.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "cir/core.h"

namespace cir::image {

/// 8-bit RGB image, row-major, 3 bytes per pixel.
struct ImageU8 {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  ///< width * height * 3
};

struct DecodeOptions {
  /// Images with more pixels are refused before decoding (Pillow's MAX_IMAGE_PIXELS default).
  int64_t max_pixels = 89'478'485;
};

/// What the header says, without decoding pixels.
struct ImageInfo {
  int width = 0;
  int height = 0;
  std::string format;  ///< "jpeg" | "png" | "webp" | "gif" | "bmp"
};

/// True when the path's extension (any case) is one the decoders handle: .jpg .jpeg .png .webp
/// .gif .bmp. How galleries are scanned and how the CLI tells an image path from a text.
bool has_image_extension(const std::string& path);

/// Reads only the header. Throws kUnsupported for unknown formats, kCorrupt for bad headers.
ImageInfo probe_image(std::span<const uint8_t> bytes, const std::string& name);

/// Decodes any supported format and converts to RGB as Pillow's convert("RGB") does
/// (alpha dropped, not composited; gray replicated; palette looked up; 16-bit -> 8-bit as
/// Pillow; GIF: first frame). `name` is used in error messages.
ImageU8 decode_image(std::span<const uint8_t> bytes, const std::string& name, const DecodeOptions& options = {});
ImageU8 decode_image_file(const std::string& path, const DecodeOptions& options = {});

/// Pillow-exact bicubic resize (Image.resize(size, BICUBIC), a = -0.5, separable, fixed point).
ImageU8 resize_bicubic(const ImageU8& image, int out_width, int out_height);
/// torchvision CenterCrop: offsets int(round((h - th) / 2)); pads with black if smaller.
ImageU8 center_crop(const ImageU8& image, int out_width, int out_height);
/// CIR repos' TargetPad: if max/min side ratio >= `ratio`, pad symmetrically with black so
/// that the ratio becomes exactly `ratio`.
ImageU8 target_pad(const ImageU8& image, double ratio);

/// Full preprocessing per spec; writes 3 * size * size floats (CHW, normalised) to `out`.
void preprocess_into(const ImageU8& image, const PreprocessSpec& spec, float* out);
/// Batch form: n x 3 x size x size, row-major.
std::vector<float> preprocess_images(const std::vector<ImageU8>& images, const PreprocessSpec& spec);

/// Encoders (for the synthetic world, thumbnails, tests).
std::vector<uint8_t> encode_png(const ImageU8& image);
std::vector<uint8_t> encode_jpeg(const ImageU8& image, int quality = 90);

}  // namespace cir::image
