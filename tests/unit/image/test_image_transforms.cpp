// Resize, crop, pad and normalisation: small cases checked by hand (and, for the resampler,
// values printed by Pillow 9.4's Image.resize(..., BICUBIC)).
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "cir/image.h"

namespace {

using cir::image::ImageU8;

// push_back rather than insert({r, g, b}): GCC 12 at -O3 reports a false -Wstringop-overflow
// for the initializer-list insert.
void append_rgb(ImageU8& image, int r, int g, int b) {
  image.rgb.push_back(uint8_t(r));
  image.rgb.push_back(uint8_t(g));
  image.rgb.push_back(uint8_t(b));
}

ImageU8 gray_row(const std::vector<int>& values, int width, int height) {
  ImageU8 image;
  image.width = width;
  image.height = height;
  for (int v : values) append_rgb(image, v, v, v);
  return image;
}

// Each pixel's R holds its x, G its y (so crops and pads can be read back), B = 9.
ImageU8 coordinate_image(int width, int height) {
  ImageU8 image;
  image.width = width;
  image.height = height;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) append_rgb(image, x, y, 9);
  }
  return image;
}

std::vector<int> first_channel(const ImageU8& image) {
  std::vector<int> out;
  for (size_t i = 0; i < image.rgb.size(); i += 3) out.push_back(image.rgb[i]);
  return out;
}

std::array<int, 3> at(const ImageU8& image, int x, int y) {
  const uint8_t* p = image.rgb.data() + (size_t(y) * image.width + x) * 3;
  return {p[0], p[1], p[2]};
}

TEST(ImageResize, MatchesPillowOnTinyCases) {
  using cir::image::resize_bicubic;
  EXPECT_EQ(first_channel(resize_bicubic(gray_row({0, 255}, 2, 1), 4, 1)), (std::vector<int>{0, 53, 202, 255}));
  EXPECT_EQ(first_channel(resize_bicubic(gray_row({0, 255}, 2, 1), 5, 1)),
            (std::vector<int>{0, 17, 128, 238, 255}));
  EXPECT_EQ(first_channel(resize_bicubic(gray_row({10, 200, 30, 90}, 4, 1), 2, 1)), (std::vector<int>{97, 79}));
  EXPECT_EQ(first_channel(resize_bicubic(gray_row({0, 50, 100, 150, 200, 250, 0, 50, 100}, 3, 3), 2, 2)),
            (std::vector<int>{74, 144, 74, 144}));
  EXPECT_EQ(first_channel(resize_bicubic(gray_row({0, 255, 0, 255, 0, 255, 0, 255, 0}, 9, 1), 4, 1)),
            (std::vector<int>{111, 129, 129, 111}));
}

TEST(ImageResize, ConstantStaysConstantAndSameSizeIsCopy) {
  const ImageU8 flat = gray_row(std::vector<int>(12 * 7, 77), 12, 7);
  for (const auto& [w, h] : std::vector<std::pair<int, int>>{{1, 1}, {5, 3}, {40, 9}, {12, 30}}) {
    const ImageU8 out = cir::image::resize_bicubic(flat, w, h);
    ASSERT_EQ(out.width, w);
    ASSERT_EQ(out.height, h);
    for (uint8_t v : out.rgb) ASSERT_EQ(v, 77);
  }
  const ImageU8 image = coordinate_image(6, 4);
  EXPECT_EQ(cir::image::resize_bicubic(image, 6, 4).rgb, image.rgb);
  EXPECT_THROW(cir::image::resize_bicubic(image, 0, 4), cir::Error);
}

TEST(ImageCenterCrop, OffsetsUseBankersRounding) {
  struct Case {
    int width, crop, first_x;
  };
  // int(round(d / 2)): d = 1 -> 0, 3 -> 2 (1.5 -> 2), 5 -> 2 (2.5 -> 2), 7 -> 4 (3.5 -> 4), 4 -> 2.
  for (const Case& c : {Case{4, 3, 0}, Case{5, 2, 2}, Case{7, 2, 2}, Case{9, 2, 4}, Case{6, 2, 2}}) {
    const ImageU8 out = cir::image::center_crop(coordinate_image(c.width, 1), c.crop, 1);
    EXPECT_EQ(out.width, c.crop);
    EXPECT_EQ(at(out, 0, 0)[0], c.first_x) << "width " << c.width << " crop " << c.crop;
  }
  const ImageU8 tall = cir::image::center_crop(coordinate_image(1, 5), 1, 2);
  EXPECT_EQ(at(tall, 0, 0)[1], 2);
}

TEST(ImageCenterCrop, PadsWithBlackWhenSmaller) {
  // 2x2 into 5x5: torchvision pads left/top by (5 - 2) // 2 = 1, right/bottom by 2.
  const ImageU8 out = cir::image::center_crop(coordinate_image(2, 2), 5, 5);
  ASSERT_EQ(out.width, 5);
  ASSERT_EQ(out.height, 5);
  EXPECT_EQ(at(out, 0, 0), (std::array<int, 3>{0, 0, 0}));
  EXPECT_EQ(at(out, 1, 1), (std::array<int, 3>{0, 0, 9}));
  EXPECT_EQ(at(out, 2, 2), (std::array<int, 3>{1, 1, 9}));
  EXPECT_EQ(at(out, 3, 3), (std::array<int, 3>{0, 0, 0}));
  // Mixed: width padded (left 1), height cropped (offset round(3 / 2) = 2).
  const ImageU8 mixed = cir::image::center_crop(coordinate_image(2, 6), 5, 3);
  EXPECT_EQ(at(mixed, 1, 0), (std::array<int, 3>{0, 2, 9}));
  EXPECT_EQ(at(mixed, 2, 2), (std::array<int, 3>{1, 4, 9}));
  EXPECT_EQ(at(mixed, 0, 1), (std::array<int, 3>{0, 0, 0}));
}

TEST(ImageTargetPad, PadsTheShorterSideLikeClip4Cir) {
  using cir::image::target_pad;
  // 100x50 at 1.25: max / ratio = 80; vertical pad int((80 - 50) / 2) = 15 each side.
  const ImageU8 wide = target_pad(coordinate_image(100, 50), 1.25);
  EXPECT_EQ(wide.width, 100);
  EXPECT_EQ(wide.height, 80);
  EXPECT_EQ(at(wide, 3, 14), (std::array<int, 3>{0, 0, 0}));
  EXPECT_EQ(at(wide, 3, 15), (std::array<int, 3>{3, 0, 9}));
  EXPECT_EQ(at(wide, 3, 64), (std::array<int, 3>{3, 49, 9}));
  EXPECT_EQ(at(wide, 3, 65), (std::array<int, 3>{0, 0, 0}));
  const ImageU8 tall = target_pad(coordinate_image(50, 100), 1.25);
  EXPECT_EQ(tall.width, 80);
  EXPECT_EQ(tall.height, 100);
  EXPECT_EQ(at(tall, 15, 0), (std::array<int, 3>{0, 0, 9}));
  // 10x3 at 1.25: 10 / 1.25 = 8, pad int(2.5) = 2 -> 10x7.
  EXPECT_EQ(target_pad(coordinate_image(10, 3), 1.25).height, 7);
  // Below the ratio, or padding that truncates to 0: unchanged.
  EXPECT_EQ(target_pad(coordinate_image(100, 90), 1.25).height, 90);
  EXPECT_EQ(target_pad(coordinate_image(125, 100), 1.25).height, 100);
  EXPECT_EQ(target_pad(coordinate_image(7, 3), 1.5).height, 3);
  EXPECT_THROW(target_pad(coordinate_image(4, 4), 0.5), cir::Error);
}

// Applies ToTensor + Normalize to an already resized image, as torch does in float32.
std::vector<float> normalise(const ImageU8& image, const cir::PreprocessSpec& spec) {
  const size_t plane = size_t(image.width) * image.height;
  std::vector<float> out(3 * plane);
  for (int c = 0; c < 3; ++c) {
    for (size_t i = 0; i < plane; ++i) {
      out[c * plane + i] = (float(image.rgb[i * 3 + c]) / 255.0f - spec.mean[c]) / spec.std[c];
    }
  }
  return out;
}

std::vector<float> preprocess(const ImageU8& image, const cir::PreprocessSpec& spec) {
  std::vector<float> out(3 * size_t(spec.image_size) * spec.image_size);
  cir::image::preprocess_into(image, spec, out.data());
  return out;
}

TEST(ImagePreprocess, ModesComposeResizeCropAndPad) {
  using namespace cir::image;
  cir::PreprocessSpec spec;
  spec.image_size = 32;
  const ImageU8 wide = coordinate_image(100, 50);
  // Shortest side: 100x50 -> 64x32, crop 32x32 at x = round(32 / 2) = 16.
  EXPECT_EQ(preprocess(wide, spec), normalise(center_crop(resize_bicubic(wide, 64, 32), 32, 32), spec));
  // Longer side truncated: 50x33 -> int(32 * 50 / 33) = 48 x 32.
  const ImageU8 odd = coordinate_image(50, 33);
  EXPECT_EQ(preprocess(odd, spec), normalise(center_crop(resize_bicubic(odd, 48, 32), 32, 32), spec));
  // Shorter side already 32: no resize at all, only the crop.
  const ImageU8 exact = coordinate_image(40, 32);
  EXPECT_EQ(preprocess(exact, spec), normalise(center_crop(exact, 32, 32), spec));

  spec.resize_mode = cir::ResizeMode::kSquash;
  EXPECT_EQ(preprocess(wide, spec), normalise(resize_bicubic(wide, 32, 32), spec));

  spec.resize_mode = cir::ResizeMode::kTargetPad;
  spec.target_pad_ratio = 1.25;
  const ImageU8 padded = target_pad(wide, 1.25);  // 100x80 -> 40x32 -> crop
  ASSERT_EQ(padded.height, 80);
  EXPECT_EQ(preprocess(wide, spec), normalise(center_crop(resize_bicubic(padded, 40, 32), 32, 32), spec));
}

TEST(ImagePreprocess, NormalisesPerChannelInChwOrder) {
  cir::PreprocessSpec spec;
  spec.image_size = 2;
  ImageU8 image;
  image.width = image.height = 2;
  for (int i = 0; i < 4; ++i) append_rgb(image, 255, 0, 128);
  const std::vector<float> out = preprocess(image, spec);
  ASSERT_EQ(out.size(), 12u);
  const float expected[3] = {(1.0f - spec.mean[0]) / spec.std[0], (0.0f - spec.mean[1]) / spec.std[1],
                             (128.0f / 255.0f - spec.mean[2]) / spec.std[2]};
  for (int c = 0; c < 3; ++c) {
    for (int i = 0; i < 4; ++i) EXPECT_EQ(out[c * 4 + i], expected[c]) << c;
  }
  const std::vector<float> batch = cir::image::preprocess_images({image, coordinate_image(3, 2)}, spec);
  ASSERT_EQ(batch.size(), 24u);
  EXPECT_EQ(std::vector<float>(batch.begin(), batch.begin() + 12), out);
  EXPECT_EQ(std::vector<float>(batch.begin() + 12, batch.end()), preprocess(coordinate_image(3, 2), spec));
  spec.image_size = 0;
  EXPECT_THROW(preprocess_into(image, spec, nullptr), cir::Error);
}

}  // namespace
