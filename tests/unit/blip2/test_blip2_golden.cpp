// Golden tests: cir's BLIP-2 (EVA ViT + ln_vision, Q-Former, heads) against the LAVIS outputs in
// ../shared/fixtures/blip2, for both checkpoint layouts (Hugging Face safetensors, LAVIS .pth)
// in fp32 and bf16, and cir's squash preprocessing against the reference pixels.
// Tolerances (fixture README): pixels within 1e-6; fp32 embeddings within 1e-4 of the
// reference vector's norm (max abs difference / ||ref row||); bf16 cosine >= 0.995 per row.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "blip2_test_util.h"
#include "cir/blip2.h"
#include "cir/image.h"

namespace cir::testing {
namespace {

using model::Blip2Model;
using model::DType;

constexpr double kPixelTolerance = 1e-6;
constexpr double kFp32Tolerance = 1e-4;
constexpr double kBf16MinCosine = 0.995;

struct Layout {
  std::string name;  // "hf" | "lavis"
  DType dtype;
};

std::string layout_name(const ::testing::TestParamInfo<Layout>& info) {
  return info.param.name + "_" + std::string(model::dtype_name(info.param.dtype));
}

class Blip2Golden : public ::testing::TestWithParam<Layout> {
 protected:
  void check(const char* what, const FloatMatrix& got, const std::string& reference) {
    const FloatMatrix ref = blip2_npy_rows(reference);
    ASSERT_EQ(got.rows, ref.rows) << what;
    ASSERT_EQ(got.cols, ref.cols) << what;
    const double diff = max_relative_diff(got, ref), cosine = min_cosine(got, ref);
    std::printf("[blip2 golden] %-5s %s %-24s max|d|/|ref| %.3g  min cos %.7f\n", GetParam().name.c_str(),
                std::string(model::dtype_name(GetParam().dtype)).c_str(), what, diff, cosine);
    if (GetParam().dtype == DType::kFloat32) EXPECT_LE(diff, kFp32Tolerance) << what;
    else EXPECT_GE(cosine, kBf16MinCosine) << what;
  }
};

TEST_P(Blip2Golden, OutputsMatchLavis) {
  const Layout& layout = GetParam();
  CIR_REQUIRE_FIXTURE("fixtures/blip2/" + layout.name);
  model::ModelOptions options;
  options.dtype = layout.dtype;
  options.n_threads = 2;
  const std::string path = blip2_fixture(layout.name == "hf" ? "hf" : "lavis/blip2_pretrained.pth");
  const auto m = Blip2Model::load(path, options);
  EXPECT_EQ(m->spec().format, layout.name);
  EXPECT_EQ(m->spec().n_query_tokens, 8);
  EXPECT_EQ(m->spec().n_vision_tokens(), 17);

  const NpyArray pixels = read_npy(blip2_fixture("pixels.npy"));
  const std::vector<float> pixel_values = pixels.as_floats();
  const int64_t n = pixels.shape[0];
  const TokenBatch tokens = blip2_fixture_tokens();

  check("vision_tokens", m->encode_vision_tokens(pixel_values.data(), n), "vision_tokens.npy");
  const model::Blip2ImageEmbeddings images = m->encode_images(pixel_values.data(), n);
  EXPECT_EQ(images.n_images, n);
  check("image_query_embeds", images.query_embeds, "image_query_embeds.npy");
  check("image_features", images.features, "image_features.npy");
  const model::Blip2TextEmbeddings texts = m->encode_texts(tokens);
  check("text_cls_embeds", texts.cls_embeds, "text_cls_embeds.npy");
  check("text_features", texts.features, "text_features.npy");
  check("multimodal_query_embeds", m->encode_multimodal(pixel_values.data(), n, tokens), "multimodal_query_embeds.npy");
}

INSTANTIATE_TEST_SUITE_P(Layouts, Blip2Golden,
                         ::testing::Values(Layout{"hf", DType::kFloat32}, Layout{"lavis", DType::kFloat32},
                                           Layout{"hf", DType::kBFloat16}, Layout{"lavis", DType::kBFloat16}),
                         layout_name);

TEST(Blip2Preprocess, SquashBicubicMatchesReferencePixels) {
  CIR_REQUIRE_FIXTURE("fixtures/blip2/hf/preprocessor_config.json");
  const model::Blip2Spec spec = model::read_blip2_spec(blip2_fixture("hf"));
  EXPECT_EQ(spec.preprocess.resize_mode, ResizeMode::kSquash);
  EXPECT_EQ(spec.preprocess.image_size, 56);
  const auto doc = blip2_inputs();
  const NpyArray pixels = read_npy(blip2_fixture("pixels.npy"));
  const std::vector<float> ref = pixels.as_floats();
  const size_t per_image = 3 * 56 * 56;
  double worst = 0;
  for (size_t i = 0; i < doc["images"].size(); ++i) {
    const auto image = image::decode_image_file(fixture_path("fixtures/clip/vit/images/" + doc["images"][i].get<std::string>()));
    std::vector<float> got(per_image);
    image::preprocess_into(image, spec.preprocess, got.data());
    for (size_t k = 0; k < per_image; ++k) worst = std::max(worst, std::abs(static_cast<double>(got[k]) - ref[i * per_image + k]));
  }
  std::printf("[blip2 golden] pixels: max |d| %.3g over %zu images\n", worst, doc["images"].size());
  EXPECT_LE(worst, kPixelTolerance);
}

TEST(Blip2Errors, MissingCheckpoint) {
  try {
    Blip2Model::load("/nonexistent/blip2");
    FAIL() << "expected kNotFound";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/blip2"), std::string::npos);
  }
}

TEST(Blip2Errors, CorruptLavisCheckpointNamesTheFile) {
  TempDir dir;
  std::ofstream(dir.str("broken.pth")) << "not a zip archive";
  try {
    Blip2Model::load(dir.str("broken.pth"));
    FAIL() << "expected kCorrupt";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
    EXPECT_NE(std::string(e.what()).find("broken.pth"), std::string::npos);
  }
}

TEST(Blip2Errors, TruncatedLavisCheckpointIsCorrupt) {
  CIR_REQUIRE_FIXTURE("fixtures/blip2/lavis/blip2_pretrained.pth");
  TempDir dir;
  const std::vector<uint8_t> bytes = read_file_bytes(blip2_fixture("lavis/blip2_pretrained.pth"));
  std::ofstream(dir.str("cut.pth"), std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size() / 2));
  try {
    Blip2Model::load(dir.str("cut.pth"));
    FAIL() << "expected kCorrupt";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorrupt) << e.what();
    EXPECT_NE(std::string(e.what()).find("cut.pth"), std::string::npos);
  }
}

TEST(Blip2Errors, ShapeMismatchNamesTensorExpectedAndFound) {
  CIR_REQUIRE_FIXTURE("fixtures/blip2/lavis/blip2_pretrained.pth");
  TempDir dir;
  std::filesystem::copy_file(blip2_fixture("lavis/blip2_pretrained.pth"), dir.str("blip2_pretrained.pth"));
  auto config = nlohmann::json::parse(read_file_text(blip2_fixture("lavis/config.json")));
  config["qformer_config"]["intermediate_size"] = 100;
  std::ofstream(dir.str("config.json")) << config.dump();
  try {
    Blip2Model::load(dir.str());
    FAIL() << "expected kModel";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kModel);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("Qformer.bert.encoder.layer.0.intermediate.dense.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[100, 64]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[128, 64]"), std::string::npos) << msg;
  }
}

TEST(Blip2Errors, LavisWithoutConfigAssumesViTgAndSaysSo) {
  CIR_REQUIRE_FIXTURE("fixtures/blip2/lavis/blip2_pretrained.pth");
  TempDir dir;
  std::filesystem::copy_file(blip2_fixture("lavis/blip2_pretrained.pth"), dir.str("blip2_pretrained.pth"));
  EXPECT_EQ(model::read_blip2_spec(dir.str()).vision_width, 1408);
  try {
    Blip2Model::load(dir.str("blip2_pretrained.pth"));
    FAIL() << "expected kModel";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kModel);
    EXPECT_NE(std::string(e.what()).find("[1, 1, 1408]"), std::string::npos) << e.what();
  }
}

TEST(Blip2Errors, HugeConfigIsRefusedBeforeAllocating) {
  CIR_REQUIRE_FIXTURE("fixtures/blip2/lavis/blip2_pretrained.pth");
  TempDir dir;
  std::filesystem::copy_file(blip2_fixture("lavis/blip2_pretrained.pth"), dir.str("blip2_pretrained.pth"));
  auto config = nlohmann::json::parse(read_file_text(blip2_fixture("lavis/config.json")));
  config["vision_config"]["num_hidden_layers"] = 1000000;
  std::ofstream(dir.str("config.json")) << config.dump();
  try {
    Blip2Model::load(dir.str());
    FAIL() << "expected kModel";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kModel);
    EXPECT_NE(std::string(e.what()).find("1000000 vision layers"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("does not fit the checkpoint"), std::string::npos) << e.what();
  }
}

TEST(Blip2Errors, BadInputs) {
  CIR_REQUIRE_FIXTURE("fixtures/blip2/hf");
  const auto m = Blip2Model::load(blip2_fixture("hf"));
  TokenBatch no_lengths = blip2_fixture_tokens();
  no_lengths.lengths.clear();
  EXPECT_THROW(m->encode_texts(no_lengths), Error);
  TokenBatch bad_id = blip2_fixture_tokens();
  bad_id.ids[1] = 5000;
  EXPECT_THROW(m->encode_texts(bad_id), Error);
  EXPECT_THROW(m->encode_images(nullptr, 1), Error);
  std::vector<float> pixels(3 * 56 * 56, 0.f);
  EXPECT_THROW(m->encode_multimodal(pixels.data(), 1, blip2_fixture_tokens()), Error);
}

}  // namespace
}  // namespace cir::testing
