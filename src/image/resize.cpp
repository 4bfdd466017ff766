// Pillow-exact bicubic resampling, hand-written after Pillow's ImagingResample (Resample.c),
// because the reference preprocessing is defined by its integer arithmetic: any other bicubic
// (OpenCV, a float implementation) differs by a few levels on some pixels.
//
// What has to match, and why each piece is here:
//   - the filter: Keys cubic with a = -0.5, support 2, widened by the downscale factor so a
//     downscale averages (antialias) instead of skipping pixels;
//   - the window of each output pixel: center = (x + 0.5) * scale, bounds rounded with
//     int(v + 0.5) and clipped to the image, weights normalised to sum 1 in double;
//   - fixed point: weights rounded to 22 fractional bits (32 - 8 - 2, leaving room for the
//     sign and overshoot), accumulators start at half a unit, results clamped to 0..255;
//   - order: a horizontal pass into an 8-bit temporary covering only the rows the vertical
//     pass needs, then the vertical pass; a pass whose dimension does not change is skipped.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "image/codec_util.h"

namespace cir::image {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;
constexpr double kBicubicSupport = 2.0;

double bicubic_filter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// Per-output-pixel source window [first, first + count) and its fixed-point weights,
// stored `taps` apart (the widest window), as Pillow's precompute_coeffs lays them out.
struct Coefficients {
  int taps = 0;
  std::vector<int> first;
  std::vector<int> count;
  std::vector<int32_t> weights;
};

Coefficients compute_coefficients(int in_size, int out_size) {
  const double scale = double(in_size) / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = kBicubicSupport * filter_scale;
  Coefficients c;
  c.taps = int(std::ceil(support)) * 2 + 1;
  c.first.resize(size_t(out_size));
  c.count.resize(size_t(out_size));
  c.weights.assign(size_t(out_size) * size_t(c.taps), 0);
  std::vector<double> k(size_t(c.taps));
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double inv_filter_scale = 1.0 / filter_scale;
    // int() truncates toward zero exactly like Pillow's C casts.
    const int xmin = std::max(int(center - support + 0.5), 0);
    const int xmax = std::min(int(center + support + 0.5), in_size) - xmin;
    double total = 0.0;
    for (int x = 0; x < xmax; ++x) {
      k[x] = bicubic_filter((x + xmin - center + 0.5) * inv_filter_scale);
      total += k[x];
    }
    int32_t* w = &c.weights[size_t(xx) * c.taps];
    for (int x = 0; x < xmax; ++x) {
      const double normalised = total != 0.0 ? k[x] / total : k[x];
      // Round half away from zero, as Pillow's normalize_coeffs_8bpc.
      const double scaled = normalised * (1 << kPrecisionBits);
      w[x] = int32_t(normalised < 0 ? -0.5 + scaled : 0.5 + scaled);
    }
    c.first[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

inline uint8_t clip8(int32_t accumulator) {
  // Arithmetic shift then clamp: Pillow's clip8 lookup table over the shifted value.
  const int32_t v = accumulator >> kPrecisionBits;
  return uint8_t(v < 0 ? 0 : v > 255 ? 255 : v);
}

// Horizontal pass over source rows [row_begin, row_begin + out.height).
void resample_horizontal(const ImageU8& in, int row_begin, const Coefficients& c, ImageU8& out) {
  const size_t in_stride = size_t(in.width) * 3;
  for (int y = 0; y < out.height; ++y) {
    const uint8_t* src = in.rgb.data() + size_t(row_begin + y) * in_stride;
    uint8_t* dst = out.rgb.data() + size_t(y) * out.width * 3;
    for (int xx = 0; xx < out.width; ++xx) {
      const int32_t* w = &c.weights[size_t(xx) * c.taps];
      const uint8_t* p = src + size_t(c.first[xx]) * 3;
      int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
      for (int x = 0; x < c.count[xx]; ++x, p += 3) {
        s0 += p[0] * w[x];
        s1 += p[1] * w[x];
        s2 += p[2] * w[x];
      }
      dst[3 * xx + 0] = clip8(s0);
      dst[3 * xx + 1] = clip8(s1);
      dst[3 * xx + 2] = clip8(s2);
    }
  }
}

// Vertical pass; `row_offset` is subtracted from every window start (the horizontal pass
// produced only the rows from row_offset on). Accumulates whole rows at a time so the inner
// loop runs along memory; integer sums do not depend on the order of the taps.
void resample_vertical(const ImageU8& in, int row_offset, const Coefficients& c, ImageU8& out) {
  const size_t stride = size_t(in.width) * 3;
  std::vector<int32_t> sums(stride);
  for (int yy = 0; yy < out.height; ++yy) {
    const int32_t* w = &c.weights[size_t(yy) * c.taps];
    std::fill(sums.begin(), sums.end(), int32_t(1) << (kPrecisionBits - 1));
    for (int y = 0; y < c.count[yy]; ++y) {
      const uint8_t* row = in.rgb.data() + size_t(c.first[yy] - row_offset + y) * stride;
      const int32_t weight = w[y];
      for (size_t i = 0; i < stride; ++i) sums[i] += row[i] * weight;
    }
    uint8_t* dst = out.rgb.data() + size_t(yy) * stride;
    for (size_t i = 0; i < stride; ++i) dst[i] = clip8(sums[i]);
  }
}

}  // namespace

ImageU8 resize_bicubic(const ImageU8& image, int out_width, int out_height) {
  detail::require_valid_image(image, "resize_bicubic");
  if (out_width <= 0 || out_height <= 0) {
    throw Error(ErrorCode::kInvalidArgument, "resize_bicubic: output size must be positive, found " +
                                                 std::to_string(out_width) + "x" + std::to_string(out_height));
  }
  const bool need_horizontal = out_width != image.width;
  const bool need_vertical = out_height != image.height;
  if (!need_horizontal && !need_vertical) return image;

  const Coefficients vertical = compute_coefficients(image.height, out_height);
  if (!need_horizontal) {
    ImageU8 out = detail::make_rgb_image(out_width, out_height);
    resample_vertical(image, 0, vertical, out);
    return out;
  }
  // Only the source rows some vertical window touches go through the horizontal pass.
  const int row_first = need_vertical ? vertical.first.front() : 0;
  const int row_last = need_vertical ? vertical.first.back() + vertical.count.back() : image.height;
  const Coefficients horizontal = compute_coefficients(image.width, out_width);
  ImageU8 temp = detail::make_rgb_image(out_width, row_last - row_first);
  resample_horizontal(image, row_first, horizontal, temp);
  if (!need_vertical) return temp;
  ImageU8 out = detail::make_rgb_image(out_width, out_height);
  resample_vertical(temp, row_first, vertical, out);
  return out;
}

}  // namespace cir::image
