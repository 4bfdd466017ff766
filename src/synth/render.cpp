// Jitter and a small hand-written rasteriser. Anti-aliasing is 4x4 supersampling: each pixel's
// coverage by an object is the share of 16 regularly placed sub-samples inside it, and the
// object's colour is blended over what is below with that share. Objects never overlap (one per
// cell, sizes and jitter bounded so shapes stay inside their cell), so draw order only matters
// at anti-aliased borders, and there it is the fixed (row, col) order.
#include <algorithm>
#include <cmath>
#include <numbers>

#include "synth/internal.h"

namespace cir::synth {

namespace {

constexpr int kSubsamples = 4;  // per axis
// Object radius as a share of the image side; CSS uses half-extents 4 and 8 px at 64 px.
constexpr double kSmallRadius = 0.065;
constexpr double kLargeRadius = 0.12;
// Jitter bounds: centre offset as a share of the cell, rotation, colour and background noise.
constexpr double kMaxOffset = 0.08;
constexpr double kMaxRotationDeg = 7.0;
constexpr int kColorNoise = 10;
constexpr int kBackgroundMin = 232;
constexpr int kBackgroundMax = 250;
constexpr int kTintNoise = 5;
constexpr int kMaxGradient = 8;

struct Point {
  double x, y;
};

// Values written to files are rounded to 1/100 so JSON stays short and reads back exactly.
double round2(double value) { return std::round(value * 100.0) / 100.0; }

uint8_t clamp_u8(int value) { return static_cast<uint8_t>(std::clamp(value, 0, 255)); }

double radius_of(const SceneObject& object, int image_size) {
  return (object.size == Size::kSmall ? kSmallRadius : kLargeRadius) * image_size;
}

// Polygon outline in pixel coordinates (y down), rotated clockwise by the jitter rotation.
// Per-shape scales roughly equalise visual area with the circle of the same radius.
std::vector<Point> polygon_of(const SceneObject& object, double radius) {
  std::vector<Point> unit;  // unrotated, centred, unit = radius
  switch (object.shape) {
    case Shape::kSquare: unit = {{-0.85, -0.85}, {0.85, -0.85}, {0.85, 0.85}, {-0.85, 0.85}}; break;
    case Shape::kDiamond: unit = {{0, -1.15}, {0.85, 0}, {0, 1.15}, {-0.85, 0}}; break;
    case Shape::kTriangle:
      for (int k = 0; k < 3; ++k) {
        const double angle = (-90.0 + 120.0 * k) * std::numbers::pi / 180.0;
        unit.push_back({1.3 * std::cos(angle), 1.3 * std::sin(angle) + 0.2});
      }
      break;
    case Shape::kStar:
      for (int k = 0; k < 10; ++k) {
        const double angle = (-90.0 + 36.0 * k) * std::numbers::pi / 180.0;
        const double r = (k % 2 == 0) ? 1.15 : 0.55;
        unit.push_back({r * std::cos(angle), r * std::sin(angle) + 0.05});
      }
      break;
    case Shape::kCircle: break;
  }
  const double theta = object.rotation_deg * std::numbers::pi / 180.0;
  const double c = std::cos(theta), s = std::sin(theta);
  std::vector<Point> out;
  for (const Point& p : unit)
    out.push_back({object.x + radius * (c * p.x - s * p.y), object.y + radius * (s * p.x + c * p.y)});
  return out;
}

// Even-odd crossing test; the star is not convex, so no half-plane shortcut.
bool inside_polygon(const std::vector<Point>& polygon, double x, double y) {
  bool inside = false;
  for (size_t i = 0, j = polygon.size() - 1; i < polygon.size(); j = i++) {
    const Point& a = polygon[i];
    const Point& b = polygon[j];
    if ((a.y > y) != (b.y > y) && x < (b.x - a.x) * (y - a.y) / (b.y - a.y) + a.x) inside = !inside;
  }
  return inside;
}

class Canvas {
 public:
  Canvas(int size, const Background& background) : size_(size), pixels_(static_cast<size_t>(size) * size * 3) {
    for (int y = 0; y < size; ++y) {
      const double v = 2.0 * ((y + 0.5) / size - 0.5);  // -1 at the top edge, +1 at the bottom
      for (int x = 0; x < size; ++x) {
        const double u = 2.0 * ((x + 0.5) / size - 0.5);
        const double shift = background.gradient_x * u + background.gradient_y * v;
        for (int c = 0; c < 3; ++c) at(x, y)[c] = static_cast<float>(background.rgb[static_cast<size_t>(c)] + shift);
      }
    }
  }

  void draw(const SceneObject& object) {
    const double radius = radius_of(object, size_);
    const std::vector<Point> polygon = polygon_of(object, radius);
    const double reach = 1.3 * radius + 1.0;
    const int x0 = std::max(0, static_cast<int>(std::floor(object.x - reach)));
    const int x1 = std::min(size_ - 1, static_cast<int>(std::ceil(object.x + reach)));
    const int y0 = std::max(0, static_cast<int>(std::floor(object.y - reach)));
    const int y1 = std::min(size_ - 1, static_cast<int>(std::ceil(object.y + reach)));
    const auto inside = [&](double sx, double sy) {
      if (object.shape != Shape::kCircle) return inside_polygon(polygon, sx, sy);
      const double dx = sx - object.x, dy = sy - object.y;
      return dx * dx + dy * dy <= radius * radius;
    };
    for (int y = y0; y <= y1; ++y)
      for (int x = x0; x <= x1; ++x) blend(x, y, object.rgb, coverage(x, y, inside));
  }

  image::ImageU8 to_image() const {
    image::ImageU8 out;
    out.width = size_;
    out.height = size_;
    out.rgb.resize(pixels_.size());
    for (size_t i = 0; i < pixels_.size(); ++i) out.rgb[i] = clamp_u8(static_cast<int>(std::lround(pixels_[i])));
    return out;
  }

 private:
  template <typename Inside>
  static float coverage(int x, int y, const Inside& inside) {
    int hits = 0;
    for (int j = 0; j < kSubsamples; ++j)
      for (int i = 0; i < kSubsamples; ++i)
        hits += inside(x + (i + 0.5) / kSubsamples, y + (j + 0.5) / kSubsamples) ? 1 : 0;
    return static_cast<float>(hits) / (kSubsamples * kSubsamples);
  }

  void blend(int x, int y, const std::array<uint8_t, 3>& rgb, float alpha) {
    if (alpha <= 0.f) return;
    float* pixel = at(x, y);
    for (int c = 0; c < 3; ++c) pixel[c] = pixel[c] * (1.f - alpha) + rgb[static_cast<size_t>(c)] * alpha;
  }

  float* at(int x, int y) { return pixels_.data() + (static_cast<size_t>(y) * size_ + x) * 3; }

  int size_;
  std::vector<float> pixels_;
};

}  // namespace

void jitter_scene(Scene& scene, int image_size, uint64_t jitter_seed) {
  detail::Rng rng(jitter_seed);
  const double cell = static_cast<double>(image_size) / kGridSize;
  for (SceneObject& object : scene.objects) {
    object.x = round2((object.col + 0.5 + rng.uniform(-kMaxOffset, kMaxOffset)) * cell);
    object.y = round2((object.row + 0.5 + rng.uniform(-kMaxOffset, kMaxOffset)) * cell);
    const double rotation = round2(rng.uniform(-kMaxRotationDeg, kMaxRotationDeg));
    object.rotation_deg = object.shape == Shape::kCircle ? 0.0 : rotation;
    const std::array<uint8_t, 3> base = color_rgb(object.color);
    for (size_t c = 0; c < 3; ++c) object.rgb[c] = clamp_u8(base[c] + rng.range(-kColorNoise, kColorNoise));
  }
  const int level = rng.range(kBackgroundMin, kBackgroundMax);
  for (size_t c = 0; c < 3; ++c) scene.background.rgb[c] = clamp_u8(level + rng.range(-kTintNoise, kTintNoise));
  scene.background.gradient_x = rng.range(-kMaxGradient, kMaxGradient);
  scene.background.gradient_y = rng.range(-kMaxGradient, kMaxGradient);
}

image::ImageU8 render_scene(const Scene& scene, int image_size) {
  if (image_size < 8 || image_size > 4096)
    throw Error(ErrorCode::kInvalidArgument,
                "render_scene: image_size must be in [8, 4096], got " + std::to_string(image_size));
  Canvas canvas(image_size, scene.background);
  for (const SceneObject& object : scene.objects) canvas.draw(object);
  return canvas.to_image();
}

}  // namespace cir::synth
