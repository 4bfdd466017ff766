// Test-only builders of small PNG, BMP and GIF files with exact control over every header
// field, so the decoders' rules (bit depths, palettes, offsets, interlacing) and their error
// paths can be tested without codec libraries in the test binary. PNG data is stored
// uncompressed (deflate "stored" blocks); GIF LZW clears the table often enough that code
// widths never grow.
#pragma once

#include <cstdint>
#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

namespace cir::image::testing {

using Bytes = std::vector<uint8_t>;

inline void put_u16_le(Bytes& out, uint32_t v) {
  out.push_back(uint8_t(v));
  out.push_back(uint8_t(v >> 8));
}
inline void put_u32_le(Bytes& out, uint32_t v) {
  put_u16_le(out, v & 0xFFFF);
  put_u16_le(out, v >> 16);
}
inline void put_u32_be(Bytes& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(uint8_t(v >> shift));
}
inline void set_u32_le(Bytes& out, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[at + i] = uint8_t(v >> (8 * i));
}
inline void set_u32_be(Bytes& out, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[at + i] = uint8_t(v >> (24 - 8 * i));
}
inline void set_u16_le(Bytes& out, size_t at, uint32_t v) {
  out[at] = uint8_t(v);
  out[at + 1] = uint8_t(v >> 8);
}

// ---------------------------------------------------------------------------------------------
// PNG

inline uint32_t crc32(const uint8_t* data, size_t n, uint32_t crc = 0) {
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) {
    crc ^= data[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
  }
  return ~crc;
}

inline Bytes zlib_stored(const Bytes& raw) {
  Bytes out{0x78, 0x01};
  size_t pos = 0;
  do {
    const size_t n = std::min<size_t>(65535, raw.size() - pos);
    out.push_back(pos + n == raw.size() ? 1 : 0);
    put_u16_le(out, uint32_t(n));
    put_u16_le(out, uint32_t(~n & 0xFFFF));
    out.insert(out.end(), raw.begin() + pos, raw.begin() + pos + n);
    pos += n;
  } while (pos < raw.size());
  uint32_t a = 1, b = 0;
  for (uint8_t byte : raw) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  put_u32_be(out, (b << 16) | a);
  return out;
}

inline void append_png_chunk(Bytes& png, const char* type, const Bytes& data) {
  put_u32_be(png, uint32_t(data.size()));
  Bytes typed(type, type + 4);
  typed.insert(typed.end(), data.begin(), data.end());
  png.insert(png.end(), typed.begin(), typed.end());
  put_u32_be(png, crc32(typed.data(), typed.size()));
}

struct PngSpec {
  int width = 1;
  int height = 1;
  int bit_depth = 8;
  int color_type = 2;  // 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA
  bool interlaced = false;
  std::vector<uint32_t> samples;  // row-major, channels per pixel, display order
  std::vector<std::pair<std::string, Bytes>> chunks;  // inserted before IDAT (PLTE, tRNS, ...)
};

inline int png_channels(int color_type) {
  switch (color_type) {
    case 0: return 1;
    case 2: return 3;
    case 3: return 1;
    case 4: return 2;
    default: return 4;
  }
}

// Filter type 0 rows of the sub-image starting at (x0, y0) stepping (dx, dy).
inline void pack_png_rows(const PngSpec& spec, int x0, int y0, int dx, int dy, Bytes& raw) {
  const int channels = png_channels(spec.color_type);
  for (int y = y0; y < spec.height; y += dy) {
    if (x0 >= spec.width) return;
    raw.push_back(0);
    uint32_t bits = 0;
    int n_bits = 0;
    for (int x = x0; x < spec.width; x += dx) {
      for (int c = 0; c < channels; ++c) {
        const uint32_t v = spec.samples[(size_t(y) * spec.width + x) * channels + c];
        if (spec.bit_depth == 16) {
          raw.push_back(uint8_t(v >> 8));
          raw.push_back(uint8_t(v));
        } else if (spec.bit_depth == 8) {
          raw.push_back(uint8_t(v));
        } else {
          bits = (bits << spec.bit_depth) | v;
          n_bits += spec.bit_depth;
          if (n_bits == 8) {
            raw.push_back(uint8_t(bits));
            bits = 0;
            n_bits = 0;
          }
        }
      }
    }
    if (n_bits > 0) raw.push_back(uint8_t(bits << (8 - n_bits)));
  }
}

inline Bytes build_png(const PngSpec& spec) {
  Bytes raw;
  if (spec.interlaced) {
    static constexpr int kPasses[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                                          {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};
    for (const auto& p : kPasses) pack_png_rows(spec, p[0], p[1], p[2], p[3], raw);
  } else {
    pack_png_rows(spec, 0, 0, 1, 1, raw);
  }
  Bytes png{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  Bytes ihdr;
  put_u32_be(ihdr, uint32_t(spec.width));
  put_u32_be(ihdr, uint32_t(spec.height));
  ihdr.insert(ihdr.end(), {uint8_t(spec.bit_depth), uint8_t(spec.color_type), 0, 0, uint8_t(spec.interlaced)});
  append_png_chunk(png, "IHDR", ihdr);
  for (const auto& [type, data] : spec.chunks) append_png_chunk(png, type.c_str(), data);
  append_png_chunk(png, "IDAT", zlib_stored(raw));
  append_png_chunk(png, "IEND", {});
  return png;
}

// ---------------------------------------------------------------------------------------------
// BMP

struct BmpSpec {
  int width = 1;
  int height = 1;   // positive; top_down writes it negated
  bool top_down = false;
  int bits = 24;
  uint32_t compression = 0;
  uint32_t header_size = 40;  // 12 (OS/2), 40, 108, 124
  uint32_t colors = 0;        // biClrUsed
  Bytes palette;              // raw entries (4 bytes each, 3 for OS/2)
  std::vector<uint32_t> masks;  // BI_BITFIELDS masks (R, G, B[, A])
  Bytes pixels;               // raw pixel data as stored (rows padded by the caller)
};

inline Bytes build_bmp(const BmpSpec& spec) {
  Bytes dib;
  if (spec.header_size == 12) {
    put_u32_le(dib, 12);
    put_u16_le(dib, uint32_t(spec.width));
    put_u16_le(dib, uint32_t(spec.height));
    put_u16_le(dib, 1);
    put_u16_le(dib, uint32_t(spec.bits));
  } else {
    put_u32_le(dib, spec.header_size);
    put_u32_le(dib, uint32_t(spec.width));
    put_u32_le(dib, spec.top_down ? uint32_t(-spec.height) : uint32_t(spec.height));
    put_u16_le(dib, 1);
    put_u16_le(dib, uint32_t(spec.bits));
    put_u32_le(dib, spec.compression);
    put_u32_le(dib, uint32_t(spec.pixels.size()));
    put_u32_le(dib, 2835);
    put_u32_le(dib, 2835);
    put_u32_le(dib, spec.colors);
    put_u32_le(dib, 0);
    for (size_t i = 0; i < spec.masks.size() && spec.header_size > 40; ++i) put_u32_le(dib, spec.masks[i]);
    dib.resize(spec.header_size, 0);
  }
  Bytes extra;  // a 40-byte header keeps its three masks right after it
  if (spec.header_size == 40) {
    for (size_t i = 0; i < spec.masks.size() && i < 3; ++i) put_u32_le(extra, spec.masks[i]);
  }
  const uint32_t offset = uint32_t(14 + dib.size() + extra.size() + spec.palette.size());
  Bytes bmp{'B', 'M'};
  put_u32_le(bmp, uint32_t(offset + spec.pixels.size()));
  put_u32_le(bmp, 0);
  put_u32_le(bmp, offset);
  for (const Bytes* part : std::initializer_list<const Bytes*>{&dib, &extra, &spec.palette, &spec.pixels}) {
    bmp.insert(bmp.end(), part->begin(), part->end());
  }
  return bmp;
}

// Pads `row` to BMP's 4-byte row stride.
inline void append_bmp_row(Bytes& pixels, Bytes row) {
  row.resize((row.size() + 3) / 4 * 4, 0);
  pixels.insert(pixels.end(), row.begin(), row.end());
}

// ---------------------------------------------------------------------------------------------
// GIF

struct GifSpec {
  int screen_width = 1;
  int screen_height = 1;
  Bytes global_palette;  // RGB triples, a power of two of them (or empty)
  int left = 0;
  int top = 0;
  int width = 1;
  int height = 1;
  Bytes local_palette;  // RGB triples, a power of two of them (or empty)
  bool interlaced = false;
  int transparent_index = -1;
  Bytes indices;  // width * height, display order
};

inline int palette_size_bits(const Bytes& palette) {
  int bits = 1;
  while ((3u << bits) < palette.size()) ++bits;
  return bits;
}

inline Bytes lzw_encode(const Bytes& symbols, int min_code_size) {
  const uint32_t clear = 1u << min_code_size;
  const int code_size = min_code_size + 1;
  // Clearing this often keeps the decoder's table far from the next code width.
  const size_t run = std::max<size_t>(1, (clear - 2) / 2);
  Bytes out;
  uint32_t acc = 0;
  int n_bits = 0;
  auto emit = [&](uint32_t code) {
    acc |= code << n_bits;
    n_bits += code_size;
    while (n_bits >= 8) {
      out.push_back(uint8_t(acc));
      acc >>= 8;
      n_bits -= 8;
    }
  };
  for (size_t i = 0; i < symbols.size(); ++i) {
    if (i % run == 0) emit(clear);
    emit(symbols[i]);
  }
  emit(clear + 1);
  if (n_bits > 0) out.push_back(uint8_t(acc));
  return out;
}

inline Bytes build_gif(const GifSpec& spec) {
  Bytes gif{'G', 'I', 'F', '8', '9', 'a'};
  put_u16_le(gif, uint32_t(spec.screen_width));
  put_u16_le(gif, uint32_t(spec.screen_height));
  const bool global = !spec.global_palette.empty();
  gif.push_back(uint8_t(global ? 0xF0 | (palette_size_bits(spec.global_palette) - 1) : 0x70));
  gif.push_back(0);
  gif.push_back(0);
  gif.insert(gif.end(), spec.global_palette.begin(), spec.global_palette.end());
  if (spec.transparent_index >= 0) gif.insert(gif.end(), {0x21, 0xF9, 4, 1, 0, 0, uint8_t(spec.transparent_index), 0});
  gif.push_back(0x2C);
  put_u16_le(gif, uint32_t(spec.left));
  put_u16_le(gif, uint32_t(spec.top));
  put_u16_le(gif, uint32_t(spec.width));
  put_u16_le(gif, uint32_t(spec.height));
  const bool local = !spec.local_palette.empty();
  gif.push_back(uint8_t((local ? 0x80 | (palette_size_bits(spec.local_palette) - 1) : 0) | (spec.interlaced ? 0x40 : 0)));
  gif.insert(gif.end(), spec.local_palette.begin(), spec.local_palette.end());
  Bytes ordered;
  if (spec.interlaced) {
    static constexpr int kStart[4] = {0, 4, 2, 1}, kStep[4] = {8, 8, 4, 2};
    for (int pass = 0; pass < 4; ++pass) {
      for (int y = kStart[pass]; y < spec.height; y += kStep[pass]) {
        ordered.insert(ordered.end(), spec.indices.begin() + y * spec.width, spec.indices.begin() + (y + 1) * spec.width);
      }
    }
  } else {
    ordered = spec.indices;
  }
  const int min_code_size = 8;
  gif.push_back(uint8_t(min_code_size));
  const Bytes data = lzw_encode(ordered, min_code_size);
  for (size_t pos = 0; pos < data.size(); pos += 255) {
    const size_t n = std::min<size_t>(255, data.size() - pos);
    gif.push_back(uint8_t(n));
    gif.insert(gif.end(), data.begin() + pos, data.begin() + pos + n);
  }
  gif.push_back(0);
  gif.push_back(0x3B);
  return gif;
}

// ---------------------------------------------------------------------------------------------
// WebP: no encoder in the test binary, so a 4x3 lossy file with an alpha channel (VP8X + ALPH +
// VP8, written by Pillow 9.4 at quality 60) and the RGB that Pillow 9.4 decodes from it.

inline const Bytes kLossyAlphaWebp = {
    0x52, 0x49, 0x46, 0x46, 0x8a, 0x00, 0x00, 0x00, 0x57, 0x45, 0x42, 0x50, 0x56, 0x50, 0x38, 0x58, 0x0a, 0x00,
    0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x02, 0x00, 0x00, 0x41, 0x4c, 0x50, 0x48, 0x0d, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x80, 0xff, 0x07, 0x00, 0x80, 0xff, 0x07, 0x00, 0x80, 0xff, 0x07, 0x00, 0x56, 0x50,
    0x38, 0x20, 0x56, 0x00, 0x00, 0x00, 0x30, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x04, 0x00, 0x03, 0x00, 0x02, 0x80,
    0x42, 0x25, 0xb0, 0x02, 0x74, 0x4c, 0x80, 0x5f, 0x00, 0x02, 0xcd, 0x9e, 0xd6, 0x60, 0x00, 0xfc, 0xb4, 0x16,
    0xd6, 0x7d, 0x5f, 0x8a, 0xe8, 0x8f, 0x29, 0x7b, 0xff, 0xe0, 0xd7, 0xcd, 0xe3, 0xff, 0xdf, 0xff, 0x9b, 0xc4,
    0x78, 0x82, 0x3f, 0xe5, 0x8f, 0x9f, 0xe4, 0xe4, 0xcb, 0x37, 0xfe, 0x05, 0xf9, 0x65, 0xfc, 0x9d, 0xd4, 0xdf,
    0xf6, 0x91, 0xfd, 0x51, 0x92, 0x3e, 0xc4, 0x4c, 0xfd, 0x14, 0x62, 0xe8, 0x6b, 0x74, 0xa0, 0x5d, 0x67, 0x80,
    0x00, 0x00};
inline const Bytes kLossyAlphaWebpPillowRgb = {
    128, 181, 111, 162, 237, 180, 69, 189, 155, 68, 211, 188, 132, 160, 96, 157, 208, 163,
    21, 113, 109, 89, 202, 218, 168, 150, 95, 134, 135, 117, 49, 88, 143, 103, 160, 253};

}  // namespace cir::image::testing
