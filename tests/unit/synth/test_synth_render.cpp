// Rendering: colours where objects are, anti-aliased edges, jitter changes pixels.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <set>

#include "cir/synth.h"

namespace cir::synth {
namespace {

Scene one_object_scene(Shape shape, Color color, Size size, int row, int col) {
  Scene scene;
  scene.id = "t-000000";
  SceneObject object;
  object.shape = shape;
  object.color = color;
  object.size = size;
  object.row = row;
  object.col = col;
  scene.objects.push_back(object);
  return scene;
}

std::array<int, 3> pixel(const image::ImageU8& image, int x, int y) {
  const size_t i = (static_cast<size_t>(y) * image.width + x) * 3;
  return {image.rgb[i], image.rgb[i + 1], image.rgb[i + 2]};
}

int distance(const std::array<int, 3>& a, const std::array<uint8_t, 3>& b) {
  int d = 0;
  for (size_t c = 0; c < 3; ++c) d = std::max(d, std::abs(a[c] - static_cast<int>(b[c])));
  return d;
}

TEST(SynthRender, ObjectColourAppearsAtItsPosition) {
  for (int s = 0; s < kNumShapes; ++s) {
    for (int c = 0; c < kNumColors; ++c) {
      Scene scene = one_object_scene(static_cast<Shape>(s), static_cast<Color>(c), Size::kLarge, c % 3, s % 3);
      jitter_scene(scene, 64, 1000 + s * 10 + c);
      const SceneObject& object = scene.objects[0];
      // Jittered colour stays within the noise bound of the CSS colour.
      EXPECT_LE(distance({object.rgb[0], object.rgb[1], object.rgb[2]}, color_rgb(object.color)), 10);
      const image::ImageU8 image = render_scene(scene, 64);
      ASSERT_EQ(image.width, 64);
      ASSERT_EQ(image.rgb.size(), 64u * 64u * 3u);
      const auto centre = pixel(image, static_cast<int>(object.x), static_cast<int>(object.y));
      EXPECT_EQ(distance(centre, object.rgb), 0) << shape_name(object.shape) << " " << color_name(object.color);
      // A far corner of the image shows the light background.
      const int far_x = object.col == 0 ? 63 : 0;
      const int far_y = object.row == 0 ? 63 : 0;
      const auto corner = pixel(image, far_x, far_y);
      for (int v : corner) EXPECT_GE(v, 205);
    }
  }
}

TEST(SynthRender, EdgesAreAntiAliased) {
  Scene scene = one_object_scene(Shape::kCircle, Color::kBlue, Size::kLarge, 1, 1);
  jitter_scene(scene, 64, 3);
  const image::ImageU8 image = render_scene(scene, 64);
  const SceneObject& object = scene.objects[0];
  // Walk a horizontal line through the centre: between the flat inside and the flat background
  // there must be pixels strictly in between (partial coverage).
  const int y = static_cast<int>(object.y);
  int intermediate = 0;
  for (int x = 0; x < 64; ++x) {
    const auto p = pixel(image, x, y);
    const bool inside = distance(p, object.rgb) <= 1;
    const bool background = p[2] >= 200 && p[0] >= 200;
    if (!inside && !background) ++intermediate;
  }
  EXPECT_GE(intermediate, 2);
  // Over the whole image, edge pixels take many distinct blends.
  std::set<std::array<int, 3>> blends;
  for (int yy = 0; yy < 64; ++yy)
    for (int x = 0; x < 64; ++x) {
      const auto p = pixel(image, x, yy);
      if (p[0] > object.rgb[0] + 20 && p[0] < 200) blends.insert(p);
    }
  EXPECT_GE(blends.size(), 5u);
}

TEST(SynthRender, JitterSeedsChangePixelsButNotTheGraph) {
  Scene a = one_object_scene(Shape::kTriangle, Color::kRed, Size::kSmall, 0, 2);
  SceneObject second;
  second.shape = Shape::kStar;
  second.color = Color::kYellow;
  second.size = Size::kLarge;
  second.row = 2;
  second.col = 0;
  a.objects.push_back(second);
  Scene b = a;
  jitter_scene(a, 64, 11);
  jitter_scene(b, 64, 12);
  for (size_t i = 0; i < a.objects.size(); ++i) {
    EXPECT_EQ(a.objects[i].shape, b.objects[i].shape);
    EXPECT_EQ(a.objects[i].color, b.objects[i].color);
  }
  EXPECT_TRUE(scene_matches({{0, 2, Shape::kTriangle, Color::kRed, Size::kSmall}, {2, 0, Shape::kStar, Color::kYellow, Size::kLarge}}, b));
  const image::ImageU8 ia = render_scene(a, 64);
  const image::ImageU8 ib = render_scene(b, 64);
  size_t differing = 0;
  for (size_t i = 0; i < ia.rgb.size(); ++i) differing += ia.rgb[i] != ib.rgb[i];
  EXPECT_GT(differing, ia.rgb.size() / 4);  // the background tint alone moves most pixels
  // Same jitter seed: identical pixels.
  Scene c = a;
  jitter_scene(c, 64, 11);
  EXPECT_EQ(render_scene(c, 64).rgb, ia.rgb);
}

TEST(SynthRender, SizesAndShapesCoverDifferentAreas) {
  // Count covered pixels (weighted by coverage) against a pure white background.
  const auto area = [](Shape shape, Size size, int image_size) {
    Scene scene = one_object_scene(shape, Color::kGray, size, 1, 1);
    scene.objects[0].x = image_size / 2.0;
    scene.objects[0].y = image_size / 2.0;
    scene.objects[0].rgb = {0, 0, 0};
    const image::ImageU8 image = render_scene(scene, image_size);
    double covered = 0;
    for (size_t i = 0; i < image.rgb.size(); i += 3) covered += (255 - image.rgb[i]) / 255.0;
    return covered;
  };
  for (int s = 0; s < kNumShapes; ++s) {
    const double small = area(static_cast<Shape>(s), Size::kSmall, 64);
    const double large = area(static_cast<Shape>(s), Size::kLarge, 64);
    EXPECT_GT(large, 2.5 * small) << shape_name(static_cast<Shape>(s));
    EXPECT_GT(small, 20.0) << shape_name(static_cast<Shape>(s));  // still visible at 64 px
    // At 128 px the same object covers ~4x the pixels.
    EXPECT_NEAR(area(static_cast<Shape>(s), Size::kLarge, 128) / large, 4.0, 0.3);
  }
  EXPECT_NE(area(Shape::kSquare, Size::kLarge, 64), area(Shape::kCircle, Size::kLarge, 64));
}

TEST(SynthRender, RejectsAbsurdSizes) {
  const Scene scene = one_object_scene(Shape::kCircle, Color::kRed, Size::kSmall, 0, 0);
  try {
    render_scene(scene, 0);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace cir::synth
