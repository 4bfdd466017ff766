// BMP, hand-written: Debian ships no BMP library. Follows Pillow 9.4's BmpImagePlugin so that
// every file Pillow opens decodes to the same RGB, and files it refuses are refused:
//   headers: OS/2 core (12 bytes) and Windows 40/64/108/124 bytes (52 and 56 are accepted too);
//   depths: 1/4/8-bit palette, 16-bit (5-5-5, or 5-6-5 via BI_BITFIELDS), 24, 32-bit;
//   compression: BI_RGB, BI_BITFIELDS with the masks Pillow knows, BI_RLE8/BI_RLE4 decoded
//   with Pillow's own run-length algorithm (quirks included);
//   rows bottom-up, or top-down when the height's top byte is 0xFF (Pillow's test).
// Alpha is dropped, never composited; indices past the palette read Pillow's gray ramp.
#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "image/codec_util.h"

namespace cir::image::detail {
namespace {

constexpr std::string_view kFormat = "BMP";
constexpr size_t kFileHeaderSize = 14;
constexpr uint32_t kBiRgb = 0, kBiRle8 = 1, kBiRle4 = 2, kBiBitfields = 3;

enum class PixelFormat { kIndexed, kBgr15, kBgr16, kBytes };

struct BmpLayout {
  int64_t width = 0;
  int64_t height = 0;
  bool top_down = false;
  int bits = 0;
  uint32_t compression = kBiRgb;
  uint64_t colors = 0;            // palette entries (bits <= 8)
  size_t palette_entry_size = 4;  // 3 for OS/2 core headers
  size_t palette_offset = 0;
  uint64_t data_offset = 0;
  PixelFormat format = PixelFormat::kIndexed;
  std::array<int, 3> rgb_byte{2, 1, 0};  // byte of R, G, B within a 24/32-bit pixel
};

[[noreturn]] void throw_truncated(const std::string& name, std::string_view what) {
  throw_corrupt(name, kFormat, "file is truncated (" + std::string(what) + ")");
}

// Pillow's table of BI_BITFIELDS masks (R, G, B, A) it decodes, as byte positions.
bool bitfield_bytes(int bits, const std::array<uint32_t, 4>& mask, BmpLayout& layout) {
  struct Known {
    int bits;
    std::array<uint32_t, 4> mask;
    PixelFormat format;
    std::array<int, 3> rgb_byte;
  };
  static constexpr Known kKnown[] = {
      {32, {0xFF0000, 0xFF00, 0xFF, 0x0}, PixelFormat::kBytes, {2, 1, 0}},                // BGRX
      {32, {0xFF000000, 0xFF0000, 0xFF00, 0x0}, PixelFormat::kBytes, {3, 2, 1}},          // XBGR
      {32, {0xFF000000, 0xFF0000, 0xFF00, 0xFF}, PixelFormat::kBytes, {3, 2, 1}},         // ABGR
      {32, {0xFF, 0xFF00, 0xFF0000, 0xFF000000}, PixelFormat::kBytes, {0, 1, 2}},         // RGBA
      {32, {0xFF0000, 0xFF00, 0xFF, 0xFF000000}, PixelFormat::kBytes, {2, 1, 0}},         // BGRA
      {32, {0x0, 0x0, 0x0, 0x0}, PixelFormat::kBytes, {2, 1, 0}},                         // BGRA
      {24, {0xFF0000, 0xFF00, 0xFF, 0}, PixelFormat::kBytes, {2, 1, 0}},                  // BGR
      {16, {0xF800, 0x7E0, 0x1F, 0}, PixelFormat::kBgr16, {0, 0, 0}},                     // BGR;16
      {16, {0x7C00, 0x3E0, 0x1F, 0}, PixelFormat::kBgr15, {0, 0, 0}},                     // BGR;15
  };
  for (const Known& known : kKnown) {
    if (known.bits != bits) continue;
    // Pillow compares the alpha mask only at 32 bits.
    const bool same = known.mask[0] == mask[0] && known.mask[1] == mask[1] && known.mask[2] == mask[2] &&
                      (bits != 32 || known.mask[3] == mask[3]);
    if (!same) continue;
    layout.format = known.format;
    layout.rgb_byte = known.rgb_byte;
    return true;
  }
  return false;
}

void read_core_header(std::span<const uint8_t> bytes, BmpLayout& layout) {
  const uint8_t* h = bytes.data() + kFileHeaderSize + 4;
  layout.width = read_u16_le(h);
  layout.height = read_u16_le(h + 2);
  layout.bits = read_u16_le(h + 6);
  layout.compression = kBiRgb;
  layout.palette_entry_size = 3;
}

void read_info_header(std::span<const uint8_t> bytes, uint32_t header_size, BmpLayout& layout,
                      std::array<uint32_t, 4>& mask, const std::string& name) {
  const uint8_t* h = bytes.data() + kFileHeaderSize + 4;
  // Pillow reads width as unsigned and treats the height as negative (top-down) only when its
  // top byte is 0xFF; other "negative" values become huge sizes that the pixel limit refuses.
  layout.width = read_u32_le(h);
  const uint32_t raw_height = read_u32_le(h + 4);
  layout.top_down = h[7] == 0xFF;
  layout.height = layout.top_down ? int64_t(1ull << 32) - raw_height : raw_height;
  layout.bits = read_u16_le(h + 10);
  layout.compression = read_u32_le(h + 12);
  layout.colors = read_u32_le(h + 28);
  layout.palette_entry_size = 4;
  if (layout.compression != kBiBitfields) return;
  // Masks sit at file offset 54 both inside long headers and right after a 40-byte one.
  const size_t n_masks = header_size >= 56 ? 4 : 3;
  if (bytes.size() < kFileHeaderSize + 40 + 4 * n_masks) throw_truncated(name, "BI_BITFIELDS masks");
  for (size_t i = 0; i < n_masks; ++i) mask[i] = read_u32_le(bytes.data() + kFileHeaderSize + 40 + 4 * i);
}

void choose_pixel_format(BmpLayout& layout, const std::array<uint32_t, 4>& mask, const std::string& name) {
  const int bits = layout.bits;
  if (bits != 1 && bits != 4 && bits != 8 && bits != 16 && bits != 24 && bits != 32) {
    throw_unsupported(name, kFormat, "pixel depth " + std::to_string(bits) + " (expected 1, 4, 8, 16, 24 or 32)");
  }
  switch (layout.compression) {
    case kBiRgb:
      layout.format = bits <= 8 ? PixelFormat::kIndexed : bits == 16 ? PixelFormat::kBgr15 : PixelFormat::kBytes;
      return;
    case kBiBitfields:
      if (!bitfield_bytes(bits, mask, layout)) {
        throw_unsupported(name, kFormat, "BI_BITFIELDS layout at " + std::to_string(bits) + " bits");
      }
      return;
    case kBiRle8:
    case kBiRle4:
      // Pillow decodes both with its RLE decoder whatever the stated depth; indices follow.
      layout.format = PixelFormat::kIndexed;
      return;
    default: throw_unsupported(name, kFormat, "compression " + std::to_string(layout.compression));
  }
}

BmpLayout parse_layout(std::span<const uint8_t> bytes, const std::string& name) {
  if (bytes.size() < kFileHeaderSize + 4) throw_truncated(name, "file header");
  BmpLayout layout;
  layout.data_offset = read_u32_le(bytes.data() + 10);
  const uint32_t header_size = read_u32_le(bytes.data() + kFileHeaderSize);
  std::array<uint32_t, 4> mask{0, 0, 0, 0};
  if (header_size == 12) {
    if (bytes.size() < kFileHeaderSize + 12) throw_truncated(name, "OS/2 header");
    read_core_header(bytes, layout);
  } else if (header_size == 40 || header_size == 52 || header_size == 56 || header_size == 64 ||
             header_size == 108 || header_size == 124) {
    if (bytes.size() < kFileHeaderSize + header_size) throw_truncated(name, "info header");
    read_info_header(bytes, header_size, layout, mask, name);
  } else {
    throw_unsupported(name, kFormat, "header size " + std::to_string(header_size) +
                                         " (expected 12, 40, 52, 56, 64, 108 or 124)");
  }
  choose_pixel_format(layout, mask, name);
  layout.palette_offset = kFileHeaderSize + header_size;
  if (layout.colors == 0) layout.colors = layout.bits <= 8 ? (1u << layout.bits) : 0;
  // Pillow: an offset pointing right after the header means "the palette comes first".
  if (layout.data_offset == kFileHeaderSize + header_size && layout.bits <= 8) layout.data_offset += 4 * layout.colors;
  if (layout.format == PixelFormat::kIndexed && (layout.colors == 0 || layout.colors > 65536)) {
    throw_unsupported(name, kFormat, "palette size " + std::to_string(layout.colors));
  }
  return layout;
}

Palette read_palette(std::span<const uint8_t> bytes, const BmpLayout& layout) {
  Palette palette = make_gray_ramp_palette();
  const size_t entry = layout.palette_entry_size;
  const size_t available = bytes.size() > layout.palette_offset ? (bytes.size() - layout.palette_offset) / entry : 0;
  const size_t n = std::min<size_t>({size_t(layout.colors), available, 256});
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* bgr = bytes.data() + layout.palette_offset + i * entry;
    palette[i] = {bgr[2], bgr[1], bgr[0]};
  }
  return palette;
}

// Pillow's BGR;15 / BGR;16 unpackers: 5- and 6-bit fields scaled with integer division.
void convert_16bit_row(const uint8_t* row, int width, bool green6, uint8_t* out) {
  for (int x = 0; x < width; ++x, out += 3) {
    const unsigned pixel = read_u16_le(row + 2 * x);
    out[2] = uint8_t((pixel & 31) * 255 / 31);
    if (green6) {
      out[1] = uint8_t(((pixel >> 5) & 63) * 255 / 63);
      out[0] = uint8_t(((pixel >> 11) & 31) * 255 / 31);
    } else {
      out[1] = uint8_t(((pixel >> 5) & 31) * 255 / 31);
      out[0] = uint8_t(((pixel >> 10) & 31) * 255 / 31);
    }
  }
}

void convert_row(const uint8_t* row, const BmpLayout& layout, const Palette& palette, int width, uint8_t* out) {
  switch (layout.format) {
    case PixelFormat::kIndexed:
      for (int x = 0; x < width; ++x, out += 3) {
        int index = 0;
        if (layout.bits == 1) index = (row[x >> 3] >> (7 - (x & 7))) & 1;
        else if (layout.bits == 4) index = (row[x >> 1] >> ((x & 1) ? 0 : 4)) & 15;
        else index = row[x];
        std::memcpy(out, palette[index].data(), 3);
      }
      return;
    case PixelFormat::kBgr15: return convert_16bit_row(row, width, false, out);
    case PixelFormat::kBgr16: return convert_16bit_row(row, width, true, out);
    case PixelFormat::kBytes: {
      const int step = layout.bits / 8;
      for (int x = 0; x < width; ++x, out += 3, row += step) {
        out[0] = row[layout.rgb_byte[0]];
        out[1] = row[layout.rgb_byte[1]];
        out[2] = row[layout.rgb_byte[2]];
      }
      return;
    }
  }
}

// Uncompressed rows padded to 4 bytes; like Pillow's raw decoder the last row needs no padding.
ImageU8 decode_uncompressed(std::span<const uint8_t> bytes, const BmpLayout& layout, const Palette& palette,
                            const std::string& name) {
  const int width = int(layout.width), height = int(layout.height);
  const uint64_t row_bytes = (uint64_t(width) * layout.bits + 7) / 8;
  const uint64_t stride = ((uint64_t(width) * layout.bits + 31) >> 3) & ~uint64_t(3);
  const uint64_t needed = uint64_t(height - 1) * stride + row_bytes;
  if (layout.data_offset > bytes.size() || bytes.size() - layout.data_offset < needed) {
    throw_truncated(name, "pixel data needs " + std::to_string(needed) + " bytes at offset " +
                              std::to_string(layout.data_offset) + ", file has " + std::to_string(bytes.size()));
  }
  ImageU8 image = make_rgb_image(width, height);
  for (int i = 0; i < height; ++i) {
    const int y = layout.top_down ? i : height - 1 - i;
    convert_row(bytes.data() + layout.data_offset + i * stride, layout, palette, width,
                image.rgb.data() + size_t(y) * width * 3);
  }
  return image;
}

// Pillow 9.4's BmpRleDecoder, step for step (its delta escape reads two bytes it then ignores;
// absolute runs may spill into the next row; odd-length runs align to the file's even offset).
// Produces width * height indices, or throws where Pillow reports "not enough image data".
std::vector<uint8_t> expand_rle(std::span<const uint8_t> bytes, const BmpLayout& layout, const std::string& name) {
  const bool rle4 = layout.compression == kBiRle4;
  const size_t width = size_t(layout.width);
  const size_t total = width * size_t(layout.height);
  std::vector<uint8_t> data;  // grows with the stream, not with what the header claims
  size_t pos = std::min<uint64_t>(layout.data_offset, bytes.size());
  size_t x = 0;
  auto remaining = [&] { return bytes.size() - pos; };
  while (data.size() < total) {
    if (remaining() < 2) break;
    const uint8_t count = bytes[pos], value = bytes[pos + 1];
    pos += 2;
    if (count != 0) {
      const size_t n = x + count > width ? (width > x ? width - x : 0) : count;
      for (size_t i = 0; i < n; ++i) data.push_back(rle4 ? ((i % 2 == 0) ? value >> 4 : value & 15) : value);
      x += n;
    } else if (value == 0) {
      data.insert(data.end(), (width - data.size() % width) % width, 0);  // pad the row
      x = 0;
    } else if (value == 1) {
      break;
    } else if (value == 2) {
      if (remaining() < 2) break;
      pos += 2;
      if (remaining() < 2) throw_truncated(name, "RLE delta escape");
      const size_t right = bytes[pos], up = bytes[pos + 1];
      pos += 2;
      // Pillow appends right + up * width zeros; anything past `total` is dropped anyway, and
      // capping here keeps a tall delta on a wide image from allocating gigabytes.
      data.insert(data.end(), std::min(right + up * width, total - data.size()), 0);
      x = data.size() % width;
    } else {
      const size_t n_bytes = rle4 ? value / 2 : value;
      const size_t got = std::min(n_bytes, remaining());
      for (size_t i = 0; i < got; ++i) {
        const uint8_t b = bytes[pos + i];
        if (rle4) {
          data.push_back(b >> 4);
          data.push_back(b & 15);
        } else {
          data.push_back(b);
        }
      }
      pos += got;
      if (got < n_bytes) break;
      x += value;
      if (pos % 2 != 0) pos = std::min(pos + 1, bytes.size());
    }
  }
  if (data.size() < total) throw_truncated(name, "run-length data ends before the last row");
  data.resize(total);
  return data;
}

ImageU8 decode_run_length(std::span<const uint8_t> bytes, const BmpLayout& layout, const Palette& palette,
                          const std::string& name) {
  const std::vector<uint8_t> indices = expand_rle(bytes, layout, name);
  const int width = int(layout.width), height = int(layout.height);
  ImageU8 image = make_rgb_image(width, height);
  for (int i = 0; i < height; ++i) {
    const int y = layout.top_down ? i : height - 1 - i;
    uint8_t* out = image.rgb.data() + size_t(y) * width * 3;
    for (int x = 0; x < width; ++x) std::memcpy(out + 3 * x, palette[indices[size_t(i) * width + x]].data(), 3);
  }
  return image;
}

}  // namespace

ImageInfo probe_bmp(std::span<const uint8_t> bytes, const std::string& name) {
  const BmpLayout layout = parse_layout(bytes, name);
  if (layout.width <= 0 || layout.height <= 0) throw_corrupt(name, kFormat, "header gives an empty image");
  if (layout.width > INT32_MAX || layout.height > INT32_MAX) {
    throw_corrupt(name, kFormat, "header dimensions exceed 2^31 - 1");
  }
  return {int(layout.width), int(layout.height), "bmp"};
}

ImageU8 decode_bmp(std::span<const uint8_t> bytes, const std::string& name, const DecodeOptions& options) {
  const BmpLayout layout = parse_layout(bytes, name);
  check_dimensions(layout.width, layout.height, options, name, kFormat);
  const Palette palette = layout.format == PixelFormat::kIndexed ? read_palette(bytes, layout) : Palette{};
  if (layout.compression == kBiRle8 || layout.compression == kBiRle4) {
    return decode_run_length(bytes, layout, palette, name);
  }
  return decode_uncompressed(bytes, layout, palette, name);
}

}  // namespace cir::image::detail
