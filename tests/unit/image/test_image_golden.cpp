// Golden test: decode + preprocess the 10 fixture images exactly as the reference (Pillow 9.4
// + torchvision 0.14, see ../shared/fixtures/clip/README.md) and compare with pixels.npy.
// Tolerance: max abs diff <= 1e-6, i.e. the same uint8 image after resize and crop.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "cir/image.h"
#include "test_support.h"

namespace {

// The "images" list of inputs.json, in order (a tiny scan: JSON is not a dependency here).
std::vector<std::string> read_image_names(const std::string& inputs_json) {
  const std::string text = cir::read_file_text(inputs_json);
  const size_t key = text.find("\"images\"");
  const size_t open = text.find('[', key);
  const size_t close = text.find(']', open);
  std::vector<std::string> names;
  for (size_t quote = text.find('"', open); quote < close; quote = text.find('"', quote + 1)) {
    const size_t end = text.find('"', quote + 1);
    names.push_back(text.substr(quote + 1, end - quote - 1));
    quote = end;
  }
  return names;
}

void expect_matches_golden(const std::string& family) {
  const std::string dir = "fixtures/clip/" + family;
  const std::string inputs = cir::testing::fixture_path(dir + "/inputs.json");
  const std::vector<std::string> names = read_image_names(inputs);
  ASSERT_EQ(names.size(), 10u);
  const cir::NpyArray golden = cir::read_npy(cir::testing::fixture_path(dir + "/pixels.npy"));
  ASSERT_EQ(golden.shape, (std::vector<int64_t>{10, 3, 64, 64}));
  const std::vector<float> expected = golden.as_floats();

  cir::PreprocessSpec spec;
  spec.image_size = 64;
  spec.resize_mode = cir::ResizeMode::kShortestCenterCrop;
  const size_t per_image = 3 * 64 * 64;
  double worst = 0.0;
  for (size_t i = 0; i < names.size(); ++i) {
    SCOPED_TRACE(names[i]);
    const cir::image::ImageU8 image =
        cir::image::decode_image_file(cir::testing::fixture_path(dir + "/images/" + names[i]));
    std::vector<float> got(per_image);
    cir::image::preprocess_into(image, spec, got.data());
    double max_diff = 0.0;
    for (size_t j = 0; j < per_image; ++j) {
      max_diff = std::max(max_diff, double(std::fabs(got[j] - expected[i * per_image + j])));
    }
    EXPECT_LE(max_diff, 1e-6) << family << " image " << i << " (" << names[i] << ")";
    worst = std::max(worst, max_diff);
  }
  std::cout << "[golden " << family << "] max abs pixel diff over 10 images: " << worst << "\n";
}

TEST(ImageGolden, VitPixelsMatchReference) {
  CIR_REQUIRE_FIXTURE("fixtures/clip/vit/pixels.npy");
  expect_matches_golden("vit");
}

TEST(ImageGolden, ResNetPixelsMatchReference) {
  CIR_REQUIRE_FIXTURE("fixtures/clip/rn/pixels.npy");
  expect_matches_golden("rn");
}

}  // namespace
