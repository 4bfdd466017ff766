// Decoding rules per format, checked against values derived by hand from Pillow 9.4's
// behaviour (open + convert("RGB")), plus encoder round trips and probe_image.
#include <gtest/gtest.h>

#include <array>
#include <cstdlib>
#include <string>
#include <vector>

#include "cir/image.h"
#include "image_builders.h"
#include "test_support.h"

// The specs below are built with designated initializers that leave defaulted members out on
// purpose; GCC 12 warns about that even when the members have default initializers.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace {

using cir::image::ImageU8;
using cir::image::decode_image;
namespace build = cir::image::testing;

std::array<int, 3> pixel(const ImageU8& image, int x, int y) {
  const uint8_t* p = image.rgb.data() + (size_t(y) * image.width + x) * 3;
  return {p[0], p[1], p[2]};
}

ImageU8 gradient_image(int width, int height) {
  ImageU8 image;
  image.width = width;
  image.height = height;
  image.rgb.resize(size_t(width) * height * 3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = image.rgb.data() + (size_t(y) * width + x) * 3;
      p[0] = uint8_t(x * 255 / std::max(width - 1, 1));
      p[1] = uint8_t(y * 255 / std::max(height - 1, 1));
      p[2] = uint8_t((x * 7 + y * 13) % 256);
    }
  }
  return image;
}

// ---------------------------------------------------------------------------------------------
// Encoders

TEST(ImageEncode, PngRoundTripIsExact) {
  for (const auto& [w, h] : std::vector<std::pair<int, int>>{{1, 1}, {7, 3}, {64, 33}, {300, 2}}) {
    const ImageU8 image = gradient_image(w, h);
    const ImageU8 back = decode_image(cir::image::encode_png(image), "roundtrip.png");
    EXPECT_EQ(back.width, w);
    EXPECT_EQ(back.height, h);
    EXPECT_EQ(back.rgb, image.rgb);
  }
}

TEST(ImageEncode, JpegDecodesToSameSizeAndCloseValues) {
  const ImageU8 image = gradient_image(61, 47);
  const std::vector<uint8_t> high = cir::image::encode_jpeg(image, 95);
  const std::vector<uint8_t> low = cir::image::encode_jpeg(image, 20);
  EXPECT_LT(low.size(), high.size());
  const ImageU8 back = decode_image(high, "roundtrip.jpg");
  ASSERT_EQ(back.width, 61);
  ASSERT_EQ(back.height, 47);
  double total = 0;
  for (size_t i = 0; i < back.rgb.size(); ++i) total += std::abs(int(back.rgb[i]) - int(image.rgb[i]));
  EXPECT_LT(total / double(back.rgb.size()), 8.0);  // lossy: only a loose bound makes sense
  EXPECT_EQ(cir::image::probe_image(low, "low.jpg").format, "jpeg");
}

TEST(ImageEncode, RejectsBadArguments) {
  ImageU8 empty;
  EXPECT_THROW(cir::image::encode_png(empty), cir::Error);
  ImageU8 short_buffer = gradient_image(4, 4);
  short_buffer.rgb.pop_back();
  EXPECT_THROW(cir::image::encode_jpeg(short_buffer), cir::Error);
  EXPECT_THROW(cir::image::encode_jpeg(gradient_image(2, 2), 0), cir::Error);
  EXPECT_THROW(cir::image::encode_jpeg(gradient_image(2, 2), 101), cir::Error);
}

// ---------------------------------------------------------------------------------------------
// PNG: Pillow's mode per (bit depth, color type)

ImageU8 decode_png_spec(const build::PngSpec& spec) { return decode_image(build::build_png(spec), "spec.png"); }

TEST(ImagePng, LowBitGrayIsScaledToFullRange) {
  for (const int depth : {1, 2, 4}) {
    build::PngSpec spec{.width = 1 << depth, .height = 1, .bit_depth = depth, .color_type = 0};
    for (uint32_t v = 0; v < (1u << depth); ++v) spec.samples.push_back(v);
    const ImageU8 image = decode_png_spec(spec);
    for (int v = 0; v < (1 << depth); ++v) {
      const int expected = v * 255 / ((1 << depth) - 1);
      EXPECT_EQ(pixel(image, v, 0), (std::array<int, 3>{expected, expected, expected})) << "depth " << depth;
    }
  }
}

TEST(ImagePng, SixteenBitGrayClampsLikePillowModeI) {
  // Pillow opens 16-bit gray as mode "I" and I -> RGB clamps at 255 instead of rescaling.
  const build::PngSpec spec{.width = 6, .height = 1, .bit_depth = 16, .color_type = 0,
                            .samples = {0, 1, 254, 255, 256, 65535}};
  const ImageU8 image = decode_png_spec(spec);
  const int expected[] = {0, 1, 254, 255, 255, 255};
  for (int x = 0; x < 6; ++x) EXPECT_EQ(pixel(image, x, 0)[0], expected[x]) << x;
}

TEST(ImagePng, SixteenBitColorKeepsHighByte) {
  const ImageU8 rgb = decode_png_spec({.width = 1, .height = 1, .bit_depth = 16, .color_type = 2,
                                       .samples = {0x1234, 0xABFF, 0x00FF}});
  EXPECT_EQ(pixel(rgb, 0, 0), (std::array<int, 3>{0x12, 0xAB, 0x00}));
  const ImageU8 la = decode_png_spec({.width = 1, .height = 1, .bit_depth = 16, .color_type = 4,
                                      .samples = {0x80FF, 0x0000}});
  EXPECT_EQ(pixel(la, 0, 0), (std::array<int, 3>{0x80, 0x80, 0x80}));
  const ImageU8 rgba = decode_png_spec({.width = 1, .height = 1, .bit_depth = 16, .color_type = 6,
                                        .samples = {0x0101, 0x0202, 0x0303, 0}});
  EXPECT_EQ(pixel(rgba, 0, 0), (std::array<int, 3>{1, 2, 3}));
}

TEST(ImagePng, AlphaIsDroppedNotComposited) {
  const ImageU8 rgba = decode_png_spec({.width = 2, .height = 1, .bit_depth = 8, .color_type = 6,
                                        .samples = {10, 20, 30, 0, 200, 100, 50, 128}});
  EXPECT_EQ(pixel(rgba, 0, 0), (std::array<int, 3>{10, 20, 30}));
  EXPECT_EQ(pixel(rgba, 1, 0), (std::array<int, 3>{200, 100, 50}));
  const ImageU8 la = decode_png_spec({.width = 1, .height = 1, .bit_depth = 8, .color_type = 4, .samples = {77, 0}});
  EXPECT_EQ(pixel(la, 0, 0), (std::array<int, 3>{77, 77, 77}));
}

TEST(ImagePng, PaletteLookupWithShortPaletteAndTrns) {
  build::PngSpec spec{.width = 4, .height = 1, .bit_depth = 2, .color_type = 3, .samples = {0, 1, 2, 3}};
  spec.chunks = {{"PLTE", {10, 20, 30, 40, 50, 60, 70, 80, 90}}, {"tRNS", {0, 128}}};
  const ImageU8 image = decode_png_spec(spec);
  EXPECT_EQ(pixel(image, 0, 0), (std::array<int, 3>{10, 20, 30}));  // transparent entry: color kept
  EXPECT_EQ(pixel(image, 2, 0), (std::array<int, 3>{70, 80, 90}));
  EXPECT_EQ(pixel(image, 3, 0), (std::array<int, 3>{3, 3, 3}));  // past PLTE: Pillow's gray ramp
}

TEST(ImagePng, InterlacedEqualsProgressive) {
  build::PngSpec spec{.width = 11, .height = 9, .bit_depth = 8, .color_type = 2};
  for (int i = 0; i < 11 * 9 * 3; ++i) spec.samples.push_back(uint32_t((i * 37) % 256));
  const ImageU8 plain = decode_png_spec(spec);
  spec.interlaced = true;
  const ImageU8 interlaced = decode_png_spec(spec);
  EXPECT_EQ(plain.rgb, interlaced.rgb);
  for (const auto& [w, h] : std::vector<std::pair<int, int>>{{1, 1}, {1, 5}, {5, 1}}) {
    build::PngSpec tiny{.width = w, .height = h, .bit_depth = 1, .color_type = 0, .interlaced = true};
    for (int i = 0; i < w * h; ++i) tiny.samples.push_back(uint32_t(i % 2));
    const ImageU8 image = decode_png_spec(tiny);
    for (int i = 0; i < w * h; ++i) EXPECT_EQ(image.rgb[size_t(i) * 3], (i % 2) * 255);
  }
}

// ---------------------------------------------------------------------------------------------
// GIF: first frame on the logical screen

build::GifSpec small_gif() {
  build::GifSpec spec;
  spec.screen_width = 4;
  spec.screen_height = 3;
  spec.global_palette = {1, 2, 3, 10, 20, 30, 40, 50, 60, 70, 80, 90};
  spec.left = 1;
  spec.top = 1;
  spec.width = 2;
  spec.height = 2;
  spec.indices = {1, 2, 3, 1};
  return spec;
}

TEST(ImageGif, FrameIsPlacedOnScreenWithIndexZeroAround) {
  const ImageU8 image = decode_image(build::build_gif(small_gif()), "frame.gif");
  ASSERT_EQ(image.width, 4);
  ASSERT_EQ(image.height, 3);
  EXPECT_EQ(pixel(image, 0, 0), (std::array<int, 3>{1, 2, 3}));
  EXPECT_EQ(pixel(image, 1, 1), (std::array<int, 3>{10, 20, 30}));
  EXPECT_EQ(pixel(image, 2, 1), (std::array<int, 3>{40, 50, 60}));
  EXPECT_EQ(pixel(image, 1, 2), (std::array<int, 3>{70, 80, 90}));
  EXPECT_EQ(pixel(image, 3, 2), (std::array<int, 3>{1, 2, 3}));
}

TEST(ImageGif, TransparentIndexFillsOutsideAndColorIsKept) {
  build::GifSpec spec = small_gif();
  spec.transparent_index = 2;
  const ImageU8 image = decode_image(build::build_gif(spec), "trns.gif");
  EXPECT_EQ(pixel(image, 0, 0), (std::array<int, 3>{40, 50, 60}));
  EXPECT_EQ(pixel(image, 2, 1), (std::array<int, 3>{40, 50, 60}));
}

TEST(ImageGif, ScreenGrowsToHoldTheFrame) {
  build::GifSpec spec = small_gif();
  spec.left = 3;
  spec.top = 2;
  const ImageU8 image = decode_image(build::build_gif(spec), "grow.gif");
  EXPECT_EQ(image.width, 5);
  EXPECT_EQ(image.height, 4);
  EXPECT_EQ(pixel(image, 4, 3), (std::array<int, 3>{10, 20, 30}));
  EXPECT_EQ(cir::image::probe_image(build::build_gif(spec), "grow.gif").width, 5);
}

TEST(ImageGif, LocalPaletteWinsAndMissingPaletteMeansGray) {
  build::GifSpec spec = small_gif();
  spec.local_palette = {9, 9, 9, 8, 8, 8};
  spec.indices = {1, 0, 3, 1};  // index 3 is past the 2-entry local palette: gray ramp
  const ImageU8 local = decode_image(build::build_gif(spec), "local.gif");
  EXPECT_EQ(pixel(local, 1, 1), (std::array<int, 3>{8, 8, 8}));
  EXPECT_EQ(pixel(local, 1, 2), (std::array<int, 3>{3, 3, 3}));
  spec.local_palette.clear();
  spec.global_palette.clear();
  const ImageU8 gray = decode_image(build::build_gif(spec), "gray.gif");
  EXPECT_EQ(pixel(gray, 1, 1), (std::array<int, 3>{1, 1, 1}));
}

TEST(ImageGif, InterlacedRowsLandInDisplayOrder) {
  build::GifSpec spec;
  spec.screen_width = spec.width = 3;
  spec.screen_height = spec.height = 11;
  spec.global_palette.resize(256 * 3);
  for (int i = 0; i < 256; ++i) spec.global_palette[i * 3] = uint8_t(255 - i);
  for (int y = 0; y < 11; ++y) spec.indices.insert(spec.indices.end(), 3, uint8_t(y));
  spec.interlaced = true;
  const ImageU8 image = decode_image(build::build_gif(spec), "interlaced.gif");
  for (int y = 0; y < 11; ++y) EXPECT_EQ(pixel(image, 2, y)[0], 255 - y) << y;
}

// ---------------------------------------------------------------------------------------------
// BMP

TEST(ImageBmp, TwentyFourBitBottomUpAndTopDown) {
  build::BmpSpec spec{.width = 2, .height = 2, .bits = 24};
  build::append_bmp_row(spec.pixels, {1, 2, 3, 4, 5, 6});      // stored first: bottom row (BGR)
  build::append_bmp_row(spec.pixels, {7, 8, 9, 10, 11, 12});   // top row
  const ImageU8 bottom_up = decode_image(build::build_bmp(spec), "b.bmp");
  EXPECT_EQ(pixel(bottom_up, 0, 1), (std::array<int, 3>{3, 2, 1}));
  EXPECT_EQ(pixel(bottom_up, 1, 0), (std::array<int, 3>{12, 11, 10}));
  spec.top_down = true;
  const ImageU8 top_down = decode_image(build::build_bmp(spec), "t.bmp");
  EXPECT_EQ(pixel(top_down, 0, 0), (std::array<int, 3>{3, 2, 1}));
}

TEST(ImageBmp, PaletteDepthsLookUpBgrxEntries) {
  const build::Bytes palette = {30, 20, 10, 0, 60, 50, 40, 0, 90, 80, 70, 0};  // 3 entries
  struct Case {
    int bits;
    build::Bytes row;
  };
  // Pixels: indices 1, 0, 2, 5 (5 is past the palette: gray ramp).
  for (const Case& c : {Case{4, {0x10, 0x25}}, Case{8, {1, 0, 2, 5}}}) {
    build::BmpSpec spec{.width = 4, .height = 1, .bits = c.bits, .colors = 3, .palette = palette};
    build::append_bmp_row(spec.pixels, c.row);
    const ImageU8 image = decode_image(build::build_bmp(spec), "p.bmp");
    EXPECT_EQ(pixel(image, 0, 0), (std::array<int, 3>{40, 50, 60})) << c.bits;
    EXPECT_EQ(pixel(image, 1, 0), (std::array<int, 3>{10, 20, 30})) << c.bits;
    EXPECT_EQ(pixel(image, 2, 0), (std::array<int, 3>{70, 80, 90})) << c.bits;
    EXPECT_EQ(pixel(image, 3, 0), (std::array<int, 3>{5, 5, 5})) << c.bits;
  }
  build::BmpSpec one{.width = 9, .height = 1, .bits = 1, .palette = {0, 0, 255, 0, 255, 0, 0, 0}};
  build::append_bmp_row(one.pixels, {0b10100000, 0b10000000});
  const ImageU8 image = decode_image(build::build_bmp(one), "1bit.bmp");
  EXPECT_EQ(pixel(image, 0, 0), (std::array<int, 3>{0, 0, 255}));
  EXPECT_EQ(pixel(image, 1, 0), (std::array<int, 3>{255, 0, 0}));
  EXPECT_EQ(pixel(image, 8, 0), (std::array<int, 3>{0, 0, 255}));
}

TEST(ImageBmp, SixteenAndThirtyTwoBitLayouts) {
  build::BmpSpec rgb555{.width = 2, .height = 1, .bits = 16};
  build::append_bmp_row(rgb555.pixels, {0x1F, 0x00, 0x00, 0x7C});
  const ImageU8 a = decode_image(build::build_bmp(rgb555), "555.bmp");
  EXPECT_EQ(pixel(a, 0, 0), (std::array<int, 3>{0, 0, 255}));
  EXPECT_EQ(pixel(a, 1, 0), (std::array<int, 3>{255, 0, 0}));

  build::BmpSpec rgb565{.width = 1, .height = 1, .bits = 16, .compression = 3, .masks = {0xF800, 0x7E0, 0x1F}};
  build::append_bmp_row(rgb565.pixels, {0x20, 0x00});  // green = 1 of 63
  EXPECT_EQ(pixel(decode_image(build::build_bmp(rgb565), "565.bmp"), 0, 0), (std::array<int, 3>{0, 4, 0}));

  build::BmpSpec bgrx{.width = 1, .height = 1, .bits = 32};
  build::append_bmp_row(bgrx.pixels, {1, 2, 3, 4});
  EXPECT_EQ(pixel(decode_image(build::build_bmp(bgrx), "bgrx.bmp"), 0, 0), (std::array<int, 3>{3, 2, 1}));

  build::BmpSpec rgba{.width = 1, .height = 1, .bits = 32, .compression = 3, .header_size = 124,
                      .masks = {0xFF, 0xFF00, 0xFF0000, 0xFF000000}};
  build::append_bmp_row(rgba.pixels, {1, 2, 3, 0});
  EXPECT_EQ(pixel(decode_image(build::build_bmp(rgba), "rgba.bmp"), 0, 0), (std::array<int, 3>{1, 2, 3}));

  build::BmpSpec odd = rgba;
  odd.masks = {0x3FF00000, 0xFFC00, 0x3FF, 0};
  try {
    decode_image(build::build_bmp(odd), "odd.bmp");
    FAIL() << "10-bit masks should be unsupported, as in Pillow";
  } catch (const cir::Error& e) {
    EXPECT_EQ(e.code(), cir::ErrorCode::kUnsupported);
  }
}

TEST(ImageBmp, Os2HeaderAndRle8) {
  build::BmpSpec os2{.width = 2, .height = 1, .bits = 8, .header_size = 12, .palette = {3, 2, 1, 6, 5, 4}};
  build::append_bmp_row(os2.pixels, {1, 0});
  const ImageU8 a = decode_image(build::build_bmp(os2), "os2.bmp");
  EXPECT_EQ(pixel(a, 0, 0), (std::array<int, 3>{4, 5, 6}));
  EXPECT_EQ(pixel(a, 1, 0), (std::array<int, 3>{1, 2, 3}));

  build::BmpSpec rle{.width = 3, .height = 2, .bits = 8, .compression = 1, .colors = 2,
                     .palette = {0, 0, 200, 0, 0, 100, 0, 0}};
  // Bottom row: run of 3 x index 1; end of line; top row: absolute [0, 1, 0] (+pad); end of bitmap.
  rle.pixels = {3, 1, 0, 0, 0, 3, 0, 1, 0, 0, 0, 1};
  const ImageU8 b = decode_image(build::build_bmp(rle), "rle.bmp");
  EXPECT_EQ(pixel(b, 0, 1), (std::array<int, 3>{0, 100, 0}));
  EXPECT_EQ(pixel(b, 1, 0), (std::array<int, 3>{0, 100, 0}));
  EXPECT_EQ(pixel(b, 0, 0), (std::array<int, 3>{200, 0, 0}));
}

// ---------------------------------------------------------------------------------------------
// WebP (no encoder in the test binary: see kLossyAlphaWebp)

TEST(ImageWebp, LossyWithAlphaMatchesPillow) {
  const ImageU8 image = decode_image(build::kLossyAlphaWebp, "tiny.webp");
  EXPECT_EQ(image.width, 4);
  EXPECT_EQ(image.height, 3);
  EXPECT_EQ(image.rgb, build::kLossyAlphaWebpPillowRgb);
}

// ---------------------------------------------------------------------------------------------
// Fixture images: probe agrees with decode and with the size in the file name

TEST(ImageProbe, FixtureHeadersMatchDecodedSizes) {
  CIR_REQUIRE_FIXTURE("fixtures/clip/vit/images");
  struct Expect {
    const char* file;
    int width, height;
    const char* format;
  };
  const Expect expected[] = {{"a_97x61.png", 97, 61, "png"},         {"b_300x200.jpg", 300, 200, "jpeg"},
                             {"c_50x120_rgba.png", 50, 120, "png"},  {"d_64x64_gray.png", 64, 64, "png"},
                             {"e_33x33_gray.jpg", 33, 33, "jpeg"},   {"f_80x40_palette.gif", 80, 40, "gif"},
                             {"g_120x90.webp", 120, 90, "webp"},     {"h_45x70.bmp", 45, 70, "bmp"},
                             {"i_640x427.jpg", 640, 427, "jpeg"},    {"j_16x9.png", 16, 9, "png"}};
  for (const Expect& e : expected) {
    SCOPED_TRACE(e.file);
    const std::string path = cir::testing::fixture_path(std::string("fixtures/clip/vit/images/") + e.file);
    const std::vector<uint8_t> bytes = cir::read_file_bytes(path);
    const cir::image::ImageInfo info = cir::image::probe_image(bytes, path);
    EXPECT_EQ(info.width, e.width);
    EXPECT_EQ(info.height, e.height);
    EXPECT_EQ(info.format, e.format);
    const ImageU8 image = cir::image::decode_image_file(path);
    EXPECT_EQ(image.width, e.width);
    EXPECT_EQ(image.height, e.height);
  }
}

TEST(ImageProbe, GrayJpegIsReplicated) {
  CIR_REQUIRE_FIXTURE("fixtures/clip/vit/images/e_33x33_gray.jpg");
  const ImageU8 image =
      cir::image::decode_image_file(cir::testing::fixture_path("fixtures/clip/vit/images/e_33x33_gray.jpg"));
  for (size_t i = 0; i < image.rgb.size(); i += 3) {
    ASSERT_EQ(image.rgb[i], image.rgb[i + 1]);
    ASSERT_EQ(image.rgb[i], image.rgb[i + 2]);
  }
}

TEST(ImageProbe, MissingFileIsNotFound) {
  try {
    cir::image::decode_image_file("/nonexistent/cir/image.png");
    FAIL() << "expected an error";
  } catch (const cir::Error& e) {
    EXPECT_EQ(e.code(), cir::ErrorCode::kNotFound);
  }
}

TEST(ImageExtension, DecidesWhatGalleriesScan) {
  for (const char* yes : {"a.jpg", "b.JPEG", "dir/c.png", "d.WebP", "e.gif", "f.bmp", "g.tar.png"})
    EXPECT_TRUE(cir::image::has_image_extension(yes)) << yes;
  for (const char* no : {"a.txt", "b", "dir.png/readme", "c.jpg.json", "d.pngx", ""})
    EXPECT_FALSE(cir::image::has_image_extension(no)) << no;
}

}  // namespace
