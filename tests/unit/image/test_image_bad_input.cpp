// Bad input for every decoder: empty, random, truncated, huge or zero dimensions, damaged
// checksums and offsets. Every case must end in cir::Error naming the input (never a crash,
// hang or huge allocation). Run under ASan/UBSan (CIR_SANITIZE=ON) to check memory safety.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "cir/image.h"
#include "image_builders.h"
#include "test_support.h"

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"  // designated initializers below

namespace {

using cir::ErrorCode;
using cir::image::decode_image;
namespace build = cir::image::testing;
using build::Bytes;

cir::image::ImageU8 gradient(int width, int height) {
  cir::image::ImageU8 image;
  image.width = width;
  image.height = height;
  for (int i = 0; i < width * height; ++i) {
    image.rgb.insert(image.rgb.end(), {uint8_t(i * 3), uint8_t(i * 5 + 1), uint8_t(255 - i)});
  }
  return image;
}

// Decoding must throw cir::Error whose message names `name`; returns its code.
ErrorCode expect_decode_error(const Bytes& bytes, const std::string& name) {
  try {
    decode_image(bytes, name);
  } catch (const cir::Error& e) {
    EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << "message does not name the input: " << e.what();
    return e.code();
  }
  ADD_FAILURE() << name << ": decoded without error";
  return ErrorCode::kInternal;
}

// Either decodes or throws cir::Error naming the input; anything else fails the test.
void expect_decode_or_error(const Bytes& bytes, const std::string& name) {
  try {
    decode_image(bytes, name);
  } catch (const cir::Error& e) {
    EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
  }
}

uint32_t read_u32_be(const Bytes& bytes, size_t at) {
  return (uint32_t(bytes[at]) << 24) | (uint32_t(bytes[at + 1]) << 16) | (uint32_t(bytes[at + 2]) << 8) | bytes[at + 3];
}

// Offset of the first chunk of `type` (its length field), or 0.
size_t find_png_chunk(const Bytes& png, const std::string& type) {
  for (size_t at = 8; at + 12 <= png.size(); at += 12 + read_u32_be(png, at)) {
    if (std::string(png.begin() + at + 4, png.begin() + at + 8) == type) return at;
  }
  return 0;
}

struct Sample {
  std::string name;
  Bytes bytes;
};

Bytes small_gif() {
  build::GifSpec spec{.screen_width = 20, .screen_height = 10, .global_palette = {0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255},
                      .width = 20, .height = 10};
  for (int i = 0; i < 200; ++i) spec.indices.push_back(uint8_t(i % 4));
  return build::build_gif(spec);
}

Bytes small_bmp(int bits) {
  build::BmpSpec spec{.width = 13, .height = 7, .bits = bits};
  if (bits == 8) {
    for (int i = 0; i < 256; ++i) spec.palette.insert(spec.palette.end(), {uint8_t(i), uint8_t(i / 2), 7, 0});
  }
  for (int y = 0; y < 7; ++y) {
    Bytes row;
    for (int x = 0; x < 13 * bits / 8; ++x) row.push_back(uint8_t(x * 11 + y));
    build::append_bmp_row(spec.pixels, row);
  }
  return build::build_bmp(spec);
}

std::vector<Sample> valid_samples() {
  std::vector<Sample> samples = {
      {"sample.png", cir::image::encode_png(gradient(40, 30))},
      {"sample.jpg", cir::image::encode_jpeg(gradient(40, 30), 80)},
      {"sample.gif", small_gif()},
      {"sample24.bmp", small_bmp(24)},
      {"sample8.bmp", small_bmp(8)},
      {"sample.webp", build::kLossyAlphaWebp},
  };
  const std::string webp = cir::testing::fixture_path("fixtures/clip/vit/images/g_120x90.webp");
  if (std::filesystem::exists(webp)) samples.push_back({"lossless.webp", cir::read_file_bytes(webp)});
  const std::string jpeg = cir::testing::fixture_path("fixtures/clip/vit/images/b_300x200.jpg");
  if (std::filesystem::exists(jpeg)) samples.push_back({"fixture.jpg", cir::read_file_bytes(jpeg)});
  return samples;
}

TEST(ImageBadInput, SamplesAreValid) {
  for (const Sample& s : valid_samples()) EXPECT_NO_THROW(decode_image(s.bytes, s.name)) << s.name;
}

TEST(ImageBadInput, EmptyInputIsCorrupt) {
  EXPECT_EQ(expect_decode_error({}, "empty.png"), ErrorCode::kCorrupt);
  EXPECT_THROW(cir::image::probe_image({}, "empty.png"), cir::Error);
}

TEST(ImageBadInput, RandomBytesAreRefused) {
  std::mt19937 rng(42);
  for (int i = 0; i < 50; ++i) {
    Bytes bytes(1 + rng() % 300);
    for (uint8_t& b : bytes) b = uint8_t(rng());
    bytes[0] = 'x';  // never a magic number
    EXPECT_EQ(expect_decode_error(bytes, "random" + std::to_string(i) + ".bin"), ErrorCode::kUnsupported);
  }
  // A valid magic number followed by garbage.
  const std::vector<Bytes> magics = {{0xFF, 0xD8, 0xFF}, {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'},
                                     {'G', 'I', 'F', '8', '9', 'a'}, {'B', 'M'},
                                     {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P'}};
  for (size_t m = 0; m < magics.size(); ++m) {
    for (int i = 0; i < 40; ++i) {
      Bytes bytes = magics[m];
      const size_t n = rng() % 400;
      for (size_t k = 0; k < n; ++k) bytes.push_back(uint8_t(rng()));
      const std::string name = "garbage" + std::to_string(m) + "_" + std::to_string(i);
      expect_decode_error(bytes, name);
      try {
        cir::image::probe_image(bytes, name);
      } catch (const cir::Error&) {
      }
    }
  }
}

TEST(ImageBadInput, TruncatedFilesFailCleanly) {
  for (const Sample& s : valid_samples()) {
    SCOPED_TRACE(s.name);
    const size_t size = s.bytes.size();
    const size_t step = std::max<size_t>(1, size / 200);
    for (size_t cut = 0; cut < size; cut += step) {
      const Bytes head(s.bytes.begin(), s.bytes.begin() + cut);
      const std::string name = s.name + "@" + std::to_string(cut);
      // Up to half the file the pixel data is certainly incomplete; past it a decoder may
      // legitimately have all it needs (e.g. PNG without IEND, GIF without trailer).
      if (cut <= size / 2) {
        const ErrorCode code = expect_decode_error(head, name);
        EXPECT_TRUE(code == ErrorCode::kCorrupt || code == ErrorCode::kUnsupported) << name;
      } else {
        expect_decode_or_error(head, name);
      }
      try {
        cir::image::probe_image(head, name);
      } catch (const cir::Error&) {
      }
    }
  }
}

TEST(ImageBadInput, PixelLimitIsAppliedToEveryFormat) {
  cir::image::DecodeOptions options;
  options.max_pixels = 10;  // every sample has more pixels (the smallest is 4x3)
  for (const Sample& s : valid_samples()) {
    try {
      decode_image(s.bytes, s.name, options);
      ADD_FAILURE() << s.name << " decoded above max_pixels";
    } catch (const cir::Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kResourceExhausted) << e.what();
      EXPECT_NE(std::string(e.what()).find(s.name), std::string::npos);
    }
  }
}

// Headers that claim gigapixel images: refused from the header, before any allocation (an
// allocation of that size would take seconds or fail with bad_alloc, not cir::Error).
TEST(ImageBadInput, HugeHeaderDimensionsAreRefusedBeforeAllocation) {
  Bytes png = cir::image::encode_png(gradient(4, 4));
  build::set_u32_be(png, 16, 100000);
  build::set_u32_be(png, 20, 100000);
  EXPECT_EQ(expect_decode_error(png, "huge.png"), ErrorCode::kResourceExhausted);
  EXPECT_EQ(cir::image::probe_image(png, "huge.png").width, 100000);

  Bytes jpeg = cir::image::encode_jpeg(gradient(4, 4));
  for (size_t i = 2; i + 9 < jpeg.size(); ++i) {
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC0) {  // SOF0: length, precision, height, width
      jpeg[i + 5] = jpeg[i + 7] = 0xFD;
      jpeg[i + 6] = jpeg[i + 8] = 0xE8;
      break;
    }
  }
  EXPECT_EQ(expect_decode_error(jpeg, "huge.jpg"), ErrorCode::kResourceExhausted);

  Bytes gif = small_gif();
  build::set_u16_le(gif, 6, 65535);
  build::set_u16_le(gif, 8, 65535);
  EXPECT_EQ(expect_decode_error(gif, "huge.gif"), ErrorCode::kResourceExhausted);
  build::GifSpec frame{.screen_width = 2, .screen_height = 2, .left = 60000, .top = 60000, .width = 2, .height = 2,
                       .indices = {0, 0, 0, 0}};
  EXPECT_EQ(expect_decode_error(build::build_gif(frame), "far-frame.gif"), ErrorCode::kResourceExhausted);

  Bytes bmp = small_bmp(24);
  build::set_u32_le(bmp, 18, 60000);
  build::set_u32_le(bmp, 22, 60000);
  EXPECT_EQ(expect_decode_error(bmp, "huge.bmp"), ErrorCode::kResourceExhausted);
  Bytes negative_width = small_bmp(24);
  build::set_u32_le(negative_width, 18, uint32_t(-13));
  EXPECT_EQ(expect_decode_error(negative_width, "negative-width.bmp"), ErrorCode::kResourceExhausted);
  Bytes tall_top_down = small_bmp(24);
  build::set_u32_le(tall_top_down, 22, uint32_t(-16000000));
  EXPECT_EQ(expect_decode_error(tall_top_down, "tall.bmp"), ErrorCode::kResourceExhausted);

  // A lossless header claiming 16384 x 16384 (14-bit width - 1 and height - 1, all ones).
  const Bytes webp = {'R', 'I', 'F', 'F', 18, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', 'L', 6, 0, 0, 0,
                      0x2F, 0xFF, 0xFF, 0xFF, 0x0F, 0x00};
  EXPECT_EQ(cir::image::probe_image(webp, "huge.webp").width, 16384);
  EXPECT_EQ(expect_decode_error(webp, "huge.webp"), ErrorCode::kResourceExhausted);
}

TEST(ImageBadInput, ZeroDimensionsAreCorrupt) {
  Bytes png = cir::image::encode_png(gradient(4, 4));
  build::set_u32_be(png, 16, 0);
  EXPECT_EQ(expect_decode_error(png, "zero.png"), ErrorCode::kCorrupt);

  Bytes jpeg = cir::image::encode_jpeg(gradient(4, 4));
  for (size_t i = 2; i + 9 < jpeg.size(); ++i) {
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC0) {
      jpeg[i + 5] = jpeg[i + 6] = 0;
      break;
    }
  }
  EXPECT_EQ(expect_decode_error(jpeg, "zero.jpg"), ErrorCode::kCorrupt);

  build::GifSpec gif{.screen_width = 0, .screen_height = 0, .width = 0, .height = 0};
  EXPECT_EQ(expect_decode_error(build::build_gif(gif), "zero.gif"), ErrorCode::kCorrupt);

  Bytes bmp = small_bmp(24);
  build::set_u32_le(bmp, 18, 0);
  EXPECT_EQ(expect_decode_error(bmp, "zero.bmp"), ErrorCode::kCorrupt);
}

TEST(ImageBadInput, PngChecksumsAndCompressedData) {
  const Bytes good = cir::image::encode_png(gradient(40, 30));
  // Chunk layout: signature (8), IHDR (25), then the first data-carrying chunk.
  Bytes bad_ihdr_crc = good;
  bad_ihdr_crc[29] ^= 0xFF;
  EXPECT_EQ(expect_decode_error(bad_ihdr_crc, "ihdr-crc.png"), ErrorCode::kCorrupt);

  const size_t idat = find_png_chunk(good, "IDAT");
  ASSERT_GT(idat, 0u);
  const uint32_t length = read_u32_be(good, idat);
  Bytes bad_crc = good;
  bad_crc[idat + 8 + length / 2] ^= 0x55;
  EXPECT_EQ(expect_decode_error(bad_crc, "idat-crc.png"), ErrorCode::kCorrupt);

  // Garbled deflate data under a correct CRC: zlib must reject it.
  Bytes garbled = good;
  for (size_t k = 0; k < length; ++k) garbled[idat + 8 + k] = uint8_t(k * 37 + 11);
  build::set_u32_be(garbled, idat + 8 + length, build::crc32(garbled.data() + idat + 4, length + 4));
  EXPECT_EQ(expect_decode_error(garbled, "garbled.png"), ErrorCode::kCorrupt);

  // Pillow checks every chunk's CRC before the image data, ancillary ones included.
  build::PngSpec spec{.width = 2, .height = 1, .bit_depth = 8, .color_type = 0, .samples = {1, 2},
                      .chunks = {{"tEXt", {'k', 0, 'v'}}}};
  Bytes bad_text = build::build_png(spec);
  bad_text[33 + 8 + 3 + 1] ^= 0xFF;  // tEXt CRC's second byte
  EXPECT_EQ(expect_decode_error(bad_text, "text-crc.png"), ErrorCode::kCorrupt);

  build::PngSpec no_palette{.width = 2, .height = 1, .bit_depth = 8, .color_type = 3, .samples = {0, 1}};
  EXPECT_EQ(expect_decode_error(build::build_png(no_palette), "no-plte.png"), ErrorCode::kCorrupt);
}

TEST(ImageBadInput, BmpBogusHeaderFields) {
  const Bytes good = small_bmp(24);
  Bytes far_offset = good;
  build::set_u32_le(far_offset, 10, 0xFFFFFFF0u);
  EXPECT_EQ(expect_decode_error(far_offset, "offset.bmp"), ErrorCode::kCorrupt);
  Bytes late_offset = good;
  build::set_u32_le(late_offset, 10, uint32_t(good.size() - 10));
  EXPECT_EQ(expect_decode_error(late_offset, "late.bmp"), ErrorCode::kCorrupt);

  Bytes header_too_big = good;
  build::set_u32_le(header_too_big, 14, 0x7FFFFFFF);
  EXPECT_EQ(expect_decode_error(header_too_big, "header-size.bmp"), ErrorCode::kUnsupported);
  Bytes header_past_end = Bytes(good.begin(), good.begin() + 60);
  build::set_u32_le(header_past_end, 14, 124);
  EXPECT_EQ(expect_decode_error(header_past_end, "header-end.bmp"), ErrorCode::kCorrupt);

  Bytes odd_depth = good;
  build::set_u16_le(odd_depth, 28, 3);
  EXPECT_EQ(expect_decode_error(odd_depth, "depth.bmp"), ErrorCode::kUnsupported);
  Bytes odd_compression = good;
  build::set_u32_le(odd_compression, 30, 77);
  EXPECT_EQ(expect_decode_error(odd_compression, "compression.bmp"), ErrorCode::kUnsupported);
  Bytes many_colors = small_bmp(8);
  build::set_u32_le(many_colors, 46, 10000000);
  EXPECT_EQ(expect_decode_error(many_colors, "colors.bmp"), ErrorCode::kUnsupported);

  build::BmpSpec rle{.width = 50, .height = 50, .bits = 8, .compression = 1, .colors = 2,
                     .palette = {0, 0, 0, 0, 9, 9, 9, 0}, .pixels = {5, 1, 0, 2, 200, 200}};
  EXPECT_EQ(expect_decode_error(build::build_bmp(rle), "rle-delta.bmp"), ErrorCode::kCorrupt);
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    rle.pixels.assign(rng() % 300, 0);
    for (uint8_t& b : rle.pixels) b = uint8_t(rng() % 4 == 0 ? rng() % 3 : rng());
    expect_decode_or_error(build::build_bmp(rle), "rle-random.bmp");
  }
}

// Damaged entropy-coded data: libjpeg and giflib either recover (libjpeg warns and fills, as
// it does under Pillow) or fail; both are fine as long as nothing crashes.
TEST(ImageBadInput, DamagedPayloadsNeverCrash) {
  std::mt19937 rng(3);
  for (const Sample& s : valid_samples()) {
    for (int i = 0; i < 60; ++i) {
      Bytes damaged = s.bytes;
      const size_t n_flips = 1 + rng() % 8;
      for (size_t k = 0; k < n_flips; ++k) damaged[rng() % damaged.size()] ^= uint8_t(1 + rng() % 255);
      // Keep the magic number so the damage reaches the decoder.
      std::copy(s.bytes.begin(), s.bytes.begin() + 12, damaged.begin());
      expect_decode_or_error(damaged, s.name + "-damaged");
    }
  }
}

}  // namespace
