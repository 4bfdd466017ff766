// Golden tests: cir's SPRC (both checkpoint layouts) against the outputs of SPRC's and
// SPN4CIR's own code in ../shared/fixtures/sprc, plus the refusals of files that are not SPRC.
// Tolerances (fixture README, "Expected agreement"): max |diff| <= 1e-4 for vision tokens and
// Q-Former states, <= 1e-5 for target_features, query_features, token_scores and scores;
// bf16: per-row cosine >= 0.999 for the gallery and query features.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>

#include "cir/blip2.h"
#include "cir/model.h"
#include "sprc_test_util.h"

namespace cir::testing {
namespace {

using model::DType;
using model::SprcLayout;
using model::SprcModel;

constexpr double kStateTolerance = 1e-4;
constexpr double kFeatureTolerance = 1e-5;
constexpr double kBf16MinCosine = 0.999;

struct Case {
  std::string layout;  // "sprc" | "blip24cir"
  DType dtype;
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return info.param.layout + "_" + std::string(model::dtype_name(info.param.dtype));
}

// Query-side references: SPN4CIR's pass 2 differs (Qformer_query, text_proj_q), pass 1 not.
std::string query_reference(const std::string& layout, const std::string& name) {
  const bool stage2 = layout == "blip24cir" && name != "fusion_embeddings.npy" && name != "fusion_hidden.npy" &&
                      name != "query_embeds.npy";
  return stage2 ? "spn4cir_blip24cir/" + name : name;
}

class SprcGolden : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    CIR_REQUIRE_FIXTURE("fixtures/sprc/spn4cir_blip24cir/best.pt");
    model::ModelOptions options;
    options.dtype = GetParam().dtype;
    options.n_threads = 2;
    model_ = SprcModel::load(make_sprc_model_dir(dir_, GetParam().layout), options);
  }
  bool fp32() const { return GetParam().dtype == DType::kFloat32; }

  // fp32: max |diff| within `tolerance`; bf16: printed only (features are checked by cosine).
  void check(const char* what, const FloatMatrix& got, const std::string& reference, double tolerance) {
    const FloatMatrix ref = sprc_npy_rows(reference);
    ASSERT_EQ(got.rows, ref.rows) << what;
    ASSERT_EQ(got.cols, ref.cols) << what;
    const double diff = max_abs_diff(got, ref);
    std::printf("[sprc golden] %-9s %s %-20s max|d| %.3g  min cos %.7f\n", GetParam().layout.c_str(),
                std::string(model::dtype_name(GetParam().dtype)).c_str(), what, diff, min_row_cosine(got, ref));
    if (fp32()) {
      EXPECT_LE(diff, tolerance) << what << " vs " << reference;
    }
  }
  void check_cosine(const char* what, const FloatMatrix& got, const std::string& reference) {
    const double cosine = min_row_cosine(got, sprc_npy_rows(reference));
    EXPECT_GE(cosine, fp32() ? 1 - 1e-9 : kBf16MinCosine) << what << " vs " << reference;
  }

  TempDir dir_;
  std::unique_ptr<SprcModel> model_;
};

TEST_P(SprcGolden, OutputsMatchReferenceCode) {
  const std::string& layout = GetParam().layout;
  EXPECT_EQ(model_->spec().layout, layout == "sprc" ? SprcLayout::kSprc : SprcLayout::kSpn4cirBlip24cir);
  EXPECT_EQ(model_->spec().epoch, layout == "sprc" ? 7 : 3);
  EXPECT_EQ(model_->spec().blip2.n_vision_tokens(), 17);
  EXPECT_EQ(model_->spec().blip2.preprocess.resize_mode, ResizeMode::kTargetPad);

  const NpyArray pixels = read_npy(sprc_fixture("pixels.npy"));
  const std::vector<float> pixel_values = pixels.as_floats();
  const int64_t n_images = pixels.shape[0];
  const FloatMatrix vision = model_->encode_vision_tokens(pixel_values.data(), n_images);
  check("vision_tokens", vision, "vision_tokens.npy", kStateTolerance);
  const model::Blip2ImageEmbeddings gallery = model_->encode_images(pixel_values.data(), n_images);
  check("target_query_embeds", gallery.query_embeds, "target_query_embeds.npy", kStateTolerance);
  check("target_features", gallery.features, "target_features.npy", kFeatureTolerance);
  check_cosine("target_features", gallery.features, "target_features.npy");

  // The reference side of inference() is the reference images' vision tokens from the index.
  const auto inputs = sprc_inputs();
  const int64_t per_image = vision.cols * model_->spec().blip2.n_vision_tokens();
  std::vector<float> references;
  for (const auto& index : inputs["reference_indices"]) {
    const float* src = vision.data.data() + index.get<int64_t>() * per_image;
    references.insert(references.end(), src, src + per_image);
  }
  const model::SprcQueryEmbeddings q = model_->encode_queries(references.data(), sprc_fixture_tokens(), true);
  for (const char* name : {"fusion_embeddings", "fusion_hidden", "pass2_embeddings", "pass2_hidden"}) {
    const FloatMatrix& got = std::string(name) == "fusion_embeddings" ? q.fusion_embeddings
                             : std::string(name) == "fusion_hidden"   ? q.fusion_hidden
                             : std::string(name) == "pass2_embeddings" ? q.pass2_embeddings
                                                                       : q.pass2_hidden;
    check(name, got, query_reference(layout, std::string(name) + ".npy"), kStateTolerance);
  }
  if (layout == "sprc") check("query_embeds", q.query_embeds, "query_embeds.npy", kStateTolerance);
  check("query_features", q.features, query_reference(layout, "query_features.npy"), kFeatureTolerance);
  check_cosine("query_features", q.features, query_reference(layout, "query_features.npy"));

  // Gallery = the target images' features, 32 rows each.
  FloatMatrix targets(0, gallery.features.cols);
  const int64_t slots = gallery.n_query_tokens;
  for (const auto& index : inputs["target_indices"]) {
    const float* src = gallery.features.row(index.get<int64_t>() * slots);
    targets.data.insert(targets.data.end(), src, src + slots * targets.cols);
    targets.rows += slots;
  }
  FloatMatrix token_scores;
  const FloatMatrix scores = model::sprc_scores(q.features, targets, slots, &token_scores);
  token_scores.cols = slots;  // [6, 8 x 32] as rows of 32, the reference's last dimension
  token_scores.rows = static_cast<int64_t>(token_scores.data.size()) / slots;
  check("token_scores", token_scores, query_reference(layout, "token_scores.npy"), kFeatureTolerance);
  check("scores", scores, query_reference(layout, "scores.npy"), kFeatureTolerance);
}

INSTANTIATE_TEST_SUITE_P(Layouts, SprcGolden,
                         ::testing::Values(Case{"sprc", DType::kFloat32}, Case{"blip24cir", DType::kFloat32},
                                           Case{"sprc", DType::kBFloat16}, Case{"blip24cir", DType::kBFloat16}),
                         case_name);

// Composing from pixels (ViT inside the call) gives what the two-step path gives.
TEST(Sprc, ComposedFromPixelsEqualsFromVisionTokens) {
  CIR_REQUIRE_FIXTURE("fixtures/sprc/checkpoint/sprc_tiny.pt");
  TempDir dir;
  const auto m = SprcModel::load(make_sprc_model_dir(dir, "sprc"));
  const std::vector<float> pixels = read_npy(sprc_fixture("pixels.npy")).as_floats();
  const TokenBatch tokens = sprc_fixture_tokens();
  const model::SprcQueryEmbeddings direct = m->encode_composed(pixels.data(), tokens.n_texts, tokens);
  const FloatMatrix vision = m->encode_vision_tokens(pixels.data(), tokens.n_texts);
  const model::SprcQueryEmbeddings two_step = m->encode_queries(vision.data.data(), tokens);
  EXPECT_LE(max_abs_diff(direct.features, two_step.features), 1e-6);
  EXPECT_TRUE(direct.fusion_hidden.data.empty());  // passes only on request
  EXPECT_THROW(m->encode_composed(pixels.data(), tokens.n_texts - 1, tokens), Error);
}

TEST(Sprc, ScoresRefuseMismatchedShapes) {
  FloatMatrix queries(2, 4), gallery(6, 4), narrow(4, 3);
  EXPECT_EQ(model::sprc_scores(queries, gallery, 3).cols, 2);
  EXPECT_THROW(model::sprc_scores(queries, gallery, 4), Error);
  EXPECT_THROW(model::sprc_scores(queries, narrow, 2), Error);
}

ErrorCode code_of(const std::function<void()>& f, std::string& message) {
  try {
    f();
  } catch (const Error& e) {
    message = e.what();
    return e.code();
  }
  message.clear();
  return ErrorCode::kInternal;
}

TEST(SprcRefusals, TruncatedBestPt) {
  CIR_REQUIRE_FIXTURE("fixtures/sprc/spn4cir_blip24cir/best.pt");
  TempDir dir;
  const std::string bytes = read_file_text(sprc_checkpoint("blip24cir"));
  const std::string path = dir.str("best.pt");
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  std::string message;
  EXPECT_EQ(code_of([&] { SprcModel::load(path); }, message), ErrorCode::kCorrupt) << message;
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_FALSE(model::detect_sprc_checkpoint(path).has_value());
}

TEST(SprcRefusals, LavisBlip2FileIsNotSprc) {
  CIR_REQUIRE_FIXTURE("fixtures/blip2/lavis/blip2_pretrained.pth");
  const std::string path = fixture_path("fixtures/blip2/lavis/blip2_pretrained.pth");
  EXPECT_FALSE(model::detect_sprc_checkpoint(path).has_value());
  std::string message;
  EXPECT_EQ(code_of([&] { SprcModel::load(path); }, message), ErrorCode::kModel) << message;
  EXPECT_NE(message.find("Blip2QformerCirAlignPrompt"), std::string::npos) << message;
  EXPECT_NE(message.find("'model'"), std::string::npos) << message;
}

TEST(SprcRefusals, SprcFileIsNotClip) {
  CIR_REQUIRE_FIXTURE("fixtures/sprc/checkpoint/sprc_tiny.pt");
  std::string message;
  const ErrorCode code = code_of([&] { model::ClipModel::load(sprc_checkpoint("sprc")); }, message);
  EXPECT_NE(code, ErrorCode::kInternal) << "ClipModel::load accepted an SPRC checkpoint: " << message;
  EXPECT_NE(message.find("sprc_tiny.pt"), std::string::npos) << message;
}

TEST(SprcRefusals, WrongSizesNameTheTensorAndTheConfig) {
  CIR_REQUIRE_FIXTURE("fixtures/sprc/checkpoint/sprc_tiny.pt");
  TempDir dir;
  const std::string path = dir.str("sprc_tiny.pt");
  std::filesystem::create_symlink(sprc_checkpoint("sprc"), path);  // no config.json: ViT-g defaults
  std::string message;
  EXPECT_EQ(code_of([&] { SprcModel::load(path); }, message), ErrorCode::kModel) << message;
  EXPECT_NE(message.find("visual_encoder."), std::string::npos) << message;
  EXPECT_NE(message.find("config.json"), std::string::npos) << message;
}

// As for BLIP-2: a config claiming huge towers is refused before the net is allocated.
TEST(SprcRefusals, HugeConfigIsRefusedBeforeAllocating) {
  CIR_REQUIRE_FIXTURE("fixtures/sprc/checkpoint/sprc_tiny.pt");
  TempDir dir;
  const std::string path = dir.str("sprc_tiny.pt");
  std::filesystem::create_symlink(sprc_checkpoint("sprc"), path);
  auto config = nlohmann::json::parse(read_file_text(sprc_fixture("config.json")));
  config["vision"]["layers"] = 1000000;
  write_file_atomic(dir.str("config.json"), config.dump());
  std::string message;
  EXPECT_EQ(code_of([&] { SprcModel::load(path); }, message), ErrorCode::kModel) << message;
  EXPECT_NE(message.find("1000000 vision layers"), std::string::npos) << message;
  EXPECT_NE(message.find("does not fit the checkpoint"), std::string::npos) << message;
}

TEST(SprcDetect, BothLayouts) {
  CIR_REQUIRE_FIXTURE("fixtures/sprc/spn4cir_blip24cir/best.pt");
  EXPECT_EQ(model::detect_sprc_checkpoint(sprc_checkpoint("sprc")), SprcLayout::kSprc);
  EXPECT_EQ(model::detect_sprc_checkpoint(sprc_checkpoint("blip24cir")), SprcLayout::kSpn4cirBlip24cir);
  EXPECT_FALSE(model::detect_sprc_checkpoint(sprc_fixture("config.json")).has_value());
}

}  // namespace
}  // namespace cir::testing
