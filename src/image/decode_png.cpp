// PNG via libpng, converted to RGB as Pillow's PngImagePlugin + convert("RGB") do. Pillow's
// modes per (bit depth, color type) decide the 8-bit values:
//   gray 1/2/4/8  -> "1"/"L" scaled to 0..255 (x255, x85, x17, x1), replicated;
//   gray 16       -> "I" (the 16-bit value) and I->RGB *clamps* to 255: not a rescale;
//   gray+alpha, RGB, RGBA at 16 bits -> the high byte ("LA;16B", "RGB;16B", "RGBA;16B");
//   palette       -> indices looked up in PLTE; indices past PLTE read Pillow's gray ramp;
//   alpha and tRNS are dropped, never composited.
// Ancillary chunks are ignored like Pillow (no gamma or ICC transforms).
#include <csetjmp>
#include <cstring>
#include <string>
#include <vector>

#include <png.h>

#include "image/codec_util.h"

namespace cir::image::detail {
namespace {

constexpr std::string_view kFormat = "PNG";
constexpr size_t kSignatureSize = 8;
constexpr size_t kHeaderEnd = 33;  // signature + IHDR (length, type, 13 bytes, CRC)

struct PngHeader {
  uint32_t width = 0;
  uint32_t height = 0;
  int bit_depth = 0;
  int color_type = 0;
};

// Reads IHDR ourselves so the size check runs before libpng allocates anything.
PngHeader parse_header(std::span<const uint8_t> bytes, const std::string& name) {
  if (bytes.size() < kHeaderEnd) {
    throw_corrupt(name, kFormat, "file is " + std::to_string(bytes.size()) + " bytes, too short for the IHDR header");
  }
  const uint8_t* ihdr = bytes.data() + kSignatureSize;
  if (read_u32_be(ihdr) != 13 || std::memcmp(ihdr + 4, "IHDR", 4) != 0) {
    throw_corrupt(name, kFormat, "first chunk is not a 13-byte IHDR");
  }
  PngHeader header;
  header.width = read_u32_be(ihdr + 8);
  header.height = read_u32_be(ihdr + 12);
  header.bit_depth = ihdr[16];
  header.color_type = ihdr[17];
  if (header.width > PNG_UINT_31_MAX || header.height > PNG_UINT_31_MAX) {
    throw_corrupt(name, kFormat, "IHDR dimensions exceed 2^31 - 1");
  }
  return header;
}

struct PngDecodeState {
  png_structp png = nullptr;
  png_infop info = nullptr;
  std::span<const uint8_t> bytes;
  size_t offset = 0;
  char message[256] = {};

  ~PngDecodeState() {
    if (png != nullptr) png_destroy_read_struct(&png, info != nullptr ? &info : nullptr, nullptr);
  }
};

extern "C" void cir_png_on_error(png_structp png, png_const_charp message) {
  auto* state = static_cast<PngDecodeState*>(png_get_error_ptr(png));
  std::snprintf(state->message, sizeof state->message, "%s", message);
  std::longjmp(png_jmpbuf(png), 1);
}

extern "C" void cir_png_on_warning(png_structp, png_const_charp) {}

extern "C" void cir_png_read_memory(png_structp png, png_bytep out, size_t length) {
  auto* state = static_cast<PngDecodeState*>(png_get_io_ptr(png));
  if (length > state->bytes.size() - state->offset) png_error(png, "file is truncated");
  std::memcpy(out, state->bytes.data() + state->offset, length);
  state->offset += length;
}

// Reads the chunks before IDAT and sets the transforms. Returns false on a libpng error.
bool read_info(PngDecodeState& state, int& n_passes) {
  if (setjmp(png_jmpbuf(state.png))) return false;
  state.info = png_create_info_struct(state.png);
  if (state.info == nullptr) png_error(state.png, "out of memory");
  png_set_read_fn(state.png, &state, cir_png_read_memory);
  // Our own max_pixels check already ran; libpng's default 1e6-per-side cap would refuse
  // long thin images that Pillow opens.
  png_set_user_limits(state.png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
  // Pillow verifies the CRC of every chunk it reads before the image data, ancillary or not.
  png_set_crc_action(state.png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
  png_read_info(state.png, state.info);
  const int bit_depth = png_get_bit_depth(state.png, state.info);
  const int color_type = png_get_color_type(state.png, state.info);
  if (bit_depth < 8) png_set_packing(state.png);  // one sample per byte; we scale ourselves
  if (bit_depth == 16 && color_type != PNG_COLOR_TYPE_GRAY) png_set_strip_16(state.png);  // keeps the high byte
  n_passes = png_set_interlace_handling(state.png);
  png_read_update_info(state.png, state.info);
  return true;
}

// Reads the next row into rows[0] (not interlaced) or the whole image (interlaced).
// Returns false on a libpng error.
bool read_rows(PngDecodeState& state, std::vector<png_bytep>& rows, bool whole_image) {
  if (setjmp(png_jmpbuf(state.png))) return false;
  if (whole_image) {
    png_read_image(state.png, rows.data());
  } else {
    png_read_row(state.png, rows[0], nullptr);
  }
  return true;
}

struct RowConverter {
  int color_type = 0;
  int bit_depth = 0;  // before transforms
  Palette palette = make_gray_ramp_palette();

  void convert(const uint8_t* row, int width, uint8_t* out) const {
    switch (color_type) {
      case PNG_COLOR_TYPE_GRAY: return convert_gray(row, width, out);
      case PNG_COLOR_TYPE_GRAY_ALPHA:
        for (int x = 0; x < width; ++x, out += 3) out[0] = out[1] = out[2] = row[2 * x];
        return;
      case PNG_COLOR_TYPE_RGB: std::memcpy(out, row, size_t(width) * 3); return;
      case PNG_COLOR_TYPE_RGB_ALPHA:
        for (int x = 0; x < width; ++x, out += 3) std::memcpy(out, row + 4 * x, 3);
        return;
      case PNG_COLOR_TYPE_PALETTE:
        for (int x = 0; x < width; ++x, out += 3) std::memcpy(out, palette[row[x]].data(), 3);
        return;
      default: return;
    }
  }

  void convert_gray(const uint8_t* row, int width, uint8_t* out) const {
    if (bit_depth == 16) {
      for (int x = 0; x < width; ++x, out += 3) {
        const unsigned value = (unsigned(row[2 * x]) << 8) | row[2 * x + 1];
        out[0] = out[1] = out[2] = static_cast<uint8_t>(value > 255 ? 255 : value);
      }
      return;
    }
    const int scale = 255 / ((1 << bit_depth) - 1);
    for (int x = 0; x < width; ++x, out += 3) out[0] = out[1] = out[2] = static_cast<uint8_t>(row[x] * scale);
  }
};

// `header` gives the file's bit depth: after png_read_update_info libpng reports the
// transformed one (8 once packing has unpacked 1/2/4-bit samples).
RowConverter make_converter(const PngDecodeState& state, const PngHeader& header) {
  RowConverter converter;
  converter.color_type = header.color_type;
  converter.bit_depth = header.bit_depth;
  png_colorp entries = nullptr;
  int n_entries = 0;
  if (png_get_PLTE(state.png, state.info, &entries, &n_entries) != 0) {
    for (int i = 0; i < n_entries && i < 256; ++i) {
      converter.palette[i] = {entries[i].red, entries[i].green, entries[i].blue};
    }
  }
  return converter;
}

}  // namespace

ImageInfo probe_png(std::span<const uint8_t> bytes, const std::string& name) {
  const PngHeader header = parse_header(bytes, name);
  if (header.width == 0 || header.height == 0) throw_corrupt(name, kFormat, "header gives an empty image");
  return {int(header.width), int(header.height), "png"};
}

ImageU8 decode_png(std::span<const uint8_t> bytes, const std::string& name, const DecodeOptions& options) {
  const PngHeader header = parse_header(bytes, name);
  check_dimensions(header.width, header.height, options, name, kFormat);

  PngDecodeState state;
  state.bytes = bytes;
  state.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, cir_png_on_error, cir_png_on_warning);
  if (state.png == nullptr) throw Error(ErrorCode::kInternal, "'" + name + "': libpng could not be initialised");
  int n_passes = 1;
  if (!read_info(state, n_passes)) throw_corrupt(name, kFormat, state.message);

  const RowConverter converter = make_converter(state, header);
  const int width = int(png_get_image_width(state.png, state.info));
  const int height = int(png_get_image_height(state.png, state.info));
  const size_t row_bytes = png_get_rowbytes(state.png, state.info);
  ImageU8 image = make_rgb_image(width, height);
  const size_t stride = size_t(width) * 3;

  if (n_passes == 1) {
    std::vector<uint8_t> row(row_bytes);
    std::vector<png_bytep> rows{row.data()};
    for (int y = 0; y < height; ++y) {
      if (!read_rows(state, rows, false)) throw_corrupt(name, kFormat, state.message);
      converter.convert(row.data(), width, image.rgb.data() + y * stride);
    }
  } else {
    // Adam7 fills rows over seven passes, so the whole native image is needed first.
    std::vector<uint8_t> native(row_bytes * size_t(height));
    std::vector<png_bytep> rows(static_cast<size_t>(height));
    for (int y = 0; y < height; ++y) rows[y] = native.data() + y * row_bytes;
    if (!read_rows(state, rows, true)) throw_corrupt(name, kFormat, state.message);
    for (int y = 0; y < height; ++y) converter.convert(rows[y], width, image.rgb.data() + y * stride);
  }
  return image;
}

}  // namespace cir::image::detail
