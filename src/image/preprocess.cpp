// The model-input preprocessing of the CLIP family and the CIR repositories, reproduced from
// torchvision 0.14 on PIL images: Resize(size) on the shorter side, CenterCrop, CLIP4Cir's
// TargetPad, squash; then ToTensor (/255) and Normalize, in float32 like torch.
#include <algorithm>
#include <cmath>
#include <string>

#include "image/codec_util.h"

namespace cir::image {
namespace {

// Python's round((d) / 2) for d >= 0: halves go to the even neighbour (banker's rounding).
int round_half_even_half(int d) {
  const int q = d / 2;
  if (d % 2 == 0) return q;
  return q % 2 == 0 ? q : q + 1;
}

// Copies `image` into a black canvas of out_width x out_height; source pixel (x, y) lands at
// (x - src_x + dst_x, y - src_y + dst_y), clipped to both images.
ImageU8 place_on_canvas(const ImageU8& image, int out_width, int out_height, int src_x, int src_y, int dst_x,
                        int dst_y) {
  ImageU8 out = detail::make_rgb_image(out_width, out_height);
  const int copy_width = std::min(image.width - src_x, out_width - dst_x);
  const int copy_height = std::min(image.height - src_y, out_height - dst_y);
  if (copy_width <= 0 || copy_height <= 0) return out;
  for (int y = 0; y < copy_height; ++y) {
    const uint8_t* src = image.rgb.data() + (size_t(src_y + y) * image.width + src_x) * 3;
    uint8_t* dst = out.rgb.data() + (size_t(dst_y + y) * out_width + dst_x) * 3;
    std::copy(src, src + size_t(copy_width) * 3, dst);
  }
  return out;
}

// torchvision Resize(size) with an int: shorter side -> size, longer side truncated; the image
// is returned untouched when the shorter side already equals size.
ImageU8 resize_shorter_side(const ImageU8& image, int size) {
  const bool landscape = image.width > image.height;
  const int shorter = landscape ? image.height : image.width;
  const int longer = landscape ? image.width : image.height;
  if (shorter == size) return image;
  const int new_longer = int(double(int64_t(size) * longer) / double(shorter));
  return landscape ? resize_bicubic(image, new_longer, size) : resize_bicubic(image, size, new_longer);
}

ImageU8 resize_for_model(const ImageU8& image, const PreprocessSpec& spec) {
  const int size = spec.image_size;
  switch (spec.resize_mode) {
    case ResizeMode::kSquash: return resize_bicubic(image, size, size);
    case ResizeMode::kTargetPad:
      return center_crop(resize_shorter_side(target_pad(image, spec.target_pad_ratio), size), size, size);
    case ResizeMode::kShortestCenterCrop: break;
  }
  return center_crop(resize_shorter_side(image, size), size, size);
}

}  // namespace

ImageU8 center_crop(const ImageU8& image, int out_width, int out_height) {
  detail::require_valid_image(image, "center_crop");
  if (out_width <= 0 || out_height <= 0) {
    throw Error(ErrorCode::kInvalidArgument, "center_crop: crop size must be positive, found " +
                                                 std::to_string(out_width) + "x" + std::to_string(out_height));
  }
  if (out_width == image.width && out_height == image.height) return image;
  // torchvision pads a too-small side first (left/top get the floor half), then crops the
  // other side at int(round((size - crop) / 2)).
  const int dst_x = out_width > image.width ? (out_width - image.width) / 2 : 0;
  const int dst_y = out_height > image.height ? (out_height - image.height) / 2 : 0;
  const int src_x = out_width < image.width ? round_half_even_half(image.width - out_width) : 0;
  const int src_y = out_height < image.height ? round_half_even_half(image.height - out_height) : 0;
  return place_on_canvas(image, out_width, out_height, src_x, src_y, dst_x, dst_y);
}

// CLIP4Cir's TargetPad, formula for formula: with r = max/min side >= ratio, both sides are
// padded by max(int((max_side / ratio - side) / 2), 0) on each end (so only the shorter side
// grows, and the result's ratio is `ratio` up to that truncation).
ImageU8 target_pad(const ImageU8& image, double ratio) {
  detail::require_valid_image(image, "target_pad");
  if (!(ratio >= 1.0) || !std::isfinite(ratio)) {
    throw Error(ErrorCode::kInvalidArgument, "target_pad: ratio must be a finite number >= 1, found " +
                                                 std::to_string(ratio));
  }
  const int longer = std::max(image.width, image.height);
  const int shorter = std::min(image.width, image.height);
  if (double(longer) / double(shorter) < ratio) return image;
  const double scaled_longer = double(longer) / ratio;
  const int pad_x = std::max(int((scaled_longer - image.width) / 2), 0);
  const int pad_y = std::max(int((scaled_longer - image.height) / 2), 0);
  if (pad_x == 0 && pad_y == 0) return image;
  return place_on_canvas(image, image.width + 2 * pad_x, image.height + 2 * pad_y, 0, 0, pad_x, pad_y);
}

void preprocess_into(const ImageU8& image, const PreprocessSpec& spec, float* out) {
  detail::require_valid_image(image, "preprocess");
  if (spec.image_size <= 0) {
    throw Error(ErrorCode::kInvalidArgument,
                "preprocess: image_size must be positive, found " + std::to_string(spec.image_size));
  }
  const ImageU8 resized = resize_for_model(image, spec);
  const size_t plane = size_t(spec.image_size) * size_t(spec.image_size);
  for (int c = 0; c < 3; ++c) {
    const float mean = spec.mean[c];
    const float std = spec.std[c];
    float* channel = out + c * plane;
    // torch: uint8 -> float32, div(255), sub_(mean), div_(std), each rounded to float32.
    for (size_t i = 0; i < plane; ++i) {
      const float value = float(resized.rgb[i * 3 + c]) / 255.0f;
      channel[i] = (value - mean) / std;
    }
  }
}

std::vector<float> preprocess_images(const std::vector<ImageU8>& images, const PreprocessSpec& spec) {
  const size_t per_image = 3 * size_t(std::max(spec.image_size, 0)) * size_t(std::max(spec.image_size, 0));
  std::vector<float> out(images.size() * per_image);
  for (size_t i = 0; i < images.size(); ++i) preprocess_into(images[i], spec, out.data() + i * per_image);
  return out;
}

}  // namespace cir::image
