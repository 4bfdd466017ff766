// SEIZE / LDRE against hand-computed cases: texts encode to fixed vectors, so every score is
// arithmetic a reader can check.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "cir/compose.h"

namespace cir::compose {
namespace {

// 2-d "text features": edited captions point along x, plain captions along y (scaled).
FloatMatrix fake_encode(const std::vector<std::string>& texts) {
  FloatMatrix m(static_cast<int64_t>(texts.size()), 2);
  for (size_t i = 0; i < texts.size(); ++i) {
    if (texts[i].rfind("edit", 0) == 0) m.row(static_cast<int64_t>(i))[0] = texts[i] == "edit-a" ? 2.f : 4.f;
    else m.row(static_cast<int64_t>(i))[1] = 3.f;
  }
  return m;
}

std::string write_captions() {
  const auto path = (std::filesystem::temp_directory_path() / "cir_test_captions.json").string();
  std::ofstream(path) << R"([{"reference_img_id": 17, "relative_caption": "is red",
      "multi_caption_opt": ["cap", "cap"], "multi_gpt-3.5_opt": ["edit-a", "edit-b"]},
     {"pairid": "p2", "multi_caption_opt": ["cap"], "multi_gpt-3.5_opt": ["edit-a"]}])";
  return path;
}

ComposeContext context(const std::string& captions) {
  ComposeContext c;
  c.embed_dim = 2;
  c.encode_texts = fake_encode;
  c.options["captions"] = captions;
  return c;
}

TEST(Seize, ScoreIsAfterPlusAsymmetricIncrement) {
  const auto ctx0 = context(write_captions());
  auto ctx = ctx0;
  ctx.query_keys = {"17"};
  ComposeInput in;
  in.texts = {"is red"};
  const auto qs = find_method("seize")->compose_scoring({in}, ctx);
  ASSERT_EQ(qs.size(), 1u);
  // e = n(mean(2,4)·x) = x; c = y.
  EXPECT_NEAR(qs[0].vectors.row(0)[0], 1.f, 1e-6);
  EXPECT_NEAR(qs[0].vectors.row(1)[1], 1.f, 1e-6);
  // s_after 0.5, s_before 0.2: d = 0.3 > 0 -> 0.5 + 0.13 * 0.3.
  const float up[2] = {0.5f, 0.2f};
  EXPECT_NEAR(qs[0].combine(up), 0.5f + 0.13f * 0.3f, 1e-6);
  // s_after 0.2, s_before 0.5: d = -0.3 -> 0.2 - 2.1 * 0.3.
  const float down[2] = {0.2f, 0.5f};
  EXPECT_NEAR(qs[0].combine(down), 0.2f - 2.1f * 0.3f, 1e-6);
  // Options override the factors.
  ctx.options["alpha_pos"] = "1";
  ctx.options["alpha_neg"] = "0";
  const auto qs2 = find_method("seize")->compose_scoring({in}, ctx);
  EXPECT_NEAR(qs2[0].combine(up), 0.8f, 1e-6);
  EXPECT_NEAR(qs2[0].combine(down), 0.2f, 1e-6);
}

TEST(Ldre, PlainEnsembleIsNormalisedMeanOfEdited) {
  auto ctx = context(write_captions());
  ctx.query_keys = {"p2"};
  const FloatMatrix q = find_method("ldre")->compose({ComposeInput{}}, ctx);
  EXPECT_NEAR(q.row(0)[0], 1.f, 1e-6);
  EXPECT_NEAR(q.row(0)[1], 0.f, 1e-6);
}

TEST(CaptionMethods, MatchByRelativeCaptionWithoutKey) {
  auto ctx = context(write_captions());
  ComposeInput in;
  in.texts = {"is red"};
  EXPECT_NO_THROW(find_method("ldre")->compose({in}, ctx));
}

TEST(CaptionMethods, MissingCaptionsIsInvalidArgumentWithHowTo) {
  auto ctx = context(write_captions());
  ctx.query_keys = {"unknown"};
  try {
    find_method("seize")->compose_scoring({ComposeInput{}}, ctx);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("needs captions"), std::string::npos);
  }
  ComposeContext no_option = ctx;
  no_option.options.clear();
  try {
    find_method("ldre")->compose({ComposeInput{}}, no_option);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("captions="), std::string::npos);
  }
}

}  // namespace
}  // namespace cir::compose
