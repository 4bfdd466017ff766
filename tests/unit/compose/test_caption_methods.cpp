// SEIZE / LDRE against hand-computed cases: texts encode to fixed vectors, so every score is
// arithmetic a reader can check.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "cir/compose.h"
#include "compose/caption_rules.h"

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

TEST(Seize, ScoreItemsAppliesTheSimilarityRulePerItem) {
  auto ctx = context(write_captions());
  ctx.query_keys = {"17"};
  ComposeInput in;
  in.texts = {"is red"};
  const auto qs = find_method("seize")->compose_scoring({in}, ctx);
  FloatMatrix ip(2, 2);
  ip.data = {0.5f, 0.2f, 0.2f, 0.5f};
  const auto scores = score_items(qs[0], ip);
  ASSERT_EQ(scores.size(), 2u);
  EXPECT_NEAR(scores[0], 0.5f + 0.13f * 0.3f, 1e-6);
  EXPECT_NEAR(scores[1], 0.2f - 2.1f * 0.3f, 1e-6);
  FloatMatrix wrong(1, 3);
  EXPECT_THROW(score_items(qs[0], wrong), Error);
}

// Four items, columns (s_after, s_before):
//   g0 (0.9, 0.5)  g1 (0.8, 0.9)  g2 (0.7, 0.6)  g3 (0.1, 0.7)
// ranks after  (0 = best): g0 0, g1 1, g2 2, g3 3
// ranks before           : g1 0, g3 1, g2 2, g0 3
// r_b - r_a              : g0 +3, g1 -1, g2 0, g3 -2
FloatMatrix four_items() {
  FloatMatrix ip(4, 2);
  ip.data = {0.9f, 0.5f, 0.8f, 0.9f, 0.7f, 0.6f, 0.1f, 0.7f};
  return ip;
}

TEST(Seize, RankFormPenalisesItemsTheEditMovedDown) {
  auto ctx = context(write_captions());
  ctx.query_keys = {"17"};
  ctx.options["form"] = "rank";
  ctx.options["rank_lambda"] = "0.1";
  ComposeInput in;
  in.texts = {"is red"};
  const auto qs = find_method("seize")->compose_scoring({in}, ctx);
  ASSERT_TRUE(static_cast<bool>(qs[0].combine_all));
  const auto scores = score_items(qs[0], four_items());
  // s_after + 0.1 min(r_b - r_a, 0).
  EXPECT_NEAR(scores[0], 0.9f, 1e-6);
  EXPECT_NEAR(scores[1], 0.8f - 0.1f, 1e-6);
  EXPECT_NEAR(scores[2], 0.7f, 1e-6);
  EXPECT_NEAR(scores[3], 0.1f - 0.2f, 1e-6);
  // Scoring one item at a time cannot rank: a clear error, not a wrong number.
  const float one[2] = {0.5f, 0.2f};
  try {
    qs[0].combine(one);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
  }
}

TEST(Seize, RankStepsFormAddsEveryStep) {
  auto ctx = context(write_captions());
  ctx.query_keys = {"17"};
  ctx.options["form"] = "rank_steps";
  ctx.options["rank_lambda"] = "0.1";
  ComposeInput in;
  in.texts = {"is red"};
  const auto scores = score_items(find_method("seize")->compose_scoring({in}, ctx)[0], four_items());
  // s_after + 0.1 (r_b - r_a).
  EXPECT_NEAR(scores[0], 0.9f + 0.3f, 1e-6);
  EXPECT_NEAR(scores[1], 0.8f - 0.1f, 1e-6);
  EXPECT_NEAR(scores[2], 0.7f, 1e-6);
  EXPECT_NEAR(scores[3], 0.1f - 0.2f, 1e-6);
  // Default lambda 5e-7 (SEIZE's "test_L_rank_5e-7").
  ctx.options.erase("rank_lambda");
  const auto defaults = score_items(find_method("seize")->compose_scoring({in}, ctx)[0], four_items());
  EXPECT_FLOAT_EQ(defaults[1], 0.8f - 5e-7f);
  ctx.options["form"] = "ranks";
  EXPECT_THROW(find_method("seize")->compose_scoring({in}, ctx), Error);
}

TEST(Seize, RanksAreDescendingWithTiesInItemOrder) {
  const float values[3] = {0.5f, 0.7f, 0.5f};
  EXPECT_EQ(detail::descending_ranks(values, 3, 1), (std::vector<int64_t>{1, 0, 2}));
}

TEST(Ldre, PlainEnsembleIsNormalisedMeanOfEdited) {
  auto ctx = context(write_captions());
  ctx.query_keys = {"p2"};
  const FloatMatrix q = find_method("ldre")->compose({ComposeInput{}}, ctx);
  EXPECT_NEAR(q.row(0)[0], 1.f, 1e-6);
  EXPECT_NEAR(q.row(0)[1], 0.f, 1e-6);
}

// Adaptive LDRE on a 3-item gallery g0 (1,0), g1 (0,1), g2 (0.6,0.8) with two caption slots.
// Texts encode to fixed (unnormalised) vectors:
//   entry A: edited (1,0) (0,1)        plain (0,1) (0,1)
//   entry B: edited (1,0) (0.6,0.8)    plain (1,0) (1,0)
// max(0, before - after) per item:
//   A slot 0: g0 0, g1 1, g2 0.2      A slot 1: all 0
//   B slot 0: all 0                   B slot 1: g0 0.4, g1 0, g2 0
// top-2 sums: D = (1.2, 0.4); D / max(D) = (1, 1/3).
FloatMatrix ldre_encode(const std::vector<std::string>& texts) {
  static const std::map<std::string, std::pair<float, float>> vectors = {
      {"a-e0", {2, 0}}, {"a-e1", {0, 3}}, {"a-c0", {0, 1}}, {"a-c1", {0, 2}},
      {"b-e0", {4, 0}}, {"b-e1", {3, 4}}, {"b-c0", {1, 0}}, {"b-c1", {5, 0}}};
  FloatMatrix m(static_cast<int64_t>(texts.size()), 2);
  for (size_t i = 0; i < texts.size(); ++i) {
    const auto& v = vectors.at(texts[i]);
    m.row(static_cast<int64_t>(i))[0] = v.first;
    m.row(static_cast<int64_t>(i))[1] = v.second;
  }
  return m;
}

struct LdreFixture {
  ComposeContext ctx;
  std::shared_ptr<int> gallery_calls = std::make_shared<int>(0);
};

LdreFixture ldre_fixture(const std::string& name) {
  const auto path = (std::filesystem::temp_directory_path() / name).string();
  std::ofstream(path) << R"([{"reference_img_id": "A", "multi_gpt-3.5_opt": ["a-e0", "a-e1"], "multi_caption_opt": ["a-c0", "a-c1"]},
                            {"reference_img_id": "B", "multi_gpt-3.5_opt": ["b-e0", "b-e1"], "multi_caption_opt": ["b-c0", "b-c1"]}])";
  LdreFixture f;
  f.ctx.embed_dim = 2;
  f.ctx.encode_texts = ldre_encode;
  f.ctx.options = {{"captions", path}, {"adaptive", "1"}, {"n_captions", "2"}, {"adaptive_topk", "2"}};
  f.ctx.gallery_key = name;
  auto calls = f.gallery_calls;
  f.ctx.gallery_scores = [calls](const FloatMatrix& rows) {
    ++*calls;
    const float gallery[3][2] = {{1, 0}, {0, 1}, {0.6f, 0.8f}};
    FloatMatrix out(rows.rows, 3);
    for (int64_t r = 0; r < rows.rows; ++r)
      for (int g = 0; g < 3; ++g) out.row(r)[g] = rows.row(r)[0] * gallery[g][0] + rows.row(r)[1] * gallery[g][1];
    return out;
  };
  return f;
}

TEST(Ldre, AdaptiveWeightsFollowTheEditPenalties) {
  auto f = ldre_fixture("cir_test_ldre_adaptive.json");
  f.ctx.options["adaptive_temperature"] = "0.5";
  f.ctx.query_keys = {"A", "B"};
  const FloatMatrix q = find_method("ldre")->compose({ComposeInput{}, ComposeInput{}}, f.ctx);
  // softmax((1, 1/3) / 0.5) = (1, e^(-4/3)) / (1 + e^(-4/3)).
  const float w1 = std::exp(-4.f / 3) / (1 + std::exp(-4.f / 3)), w0 = 1 - w1;
  // Query A: w0 (1,0) + w1 (0,1); query B: w0 (1,0) + w1 (0.6,0.8). Not re-normalised.
  EXPECT_NEAR(q.row(0)[0], w0, 1e-6);
  EXPECT_NEAR(q.row(0)[1], w1, 1e-6);
  EXPECT_NEAR(q.row(1)[0], w0 + 0.6f * w1, 1e-6);
  EXPECT_NEAR(q.row(1)[1], 0.8f * w1, 1e-6);
  // One gallery pass per entry of the file, then cached.
  EXPECT_EQ(*f.gallery_calls, 2);
  find_method("ldre")->compose({ComposeInput{}}, f.ctx);
  EXPECT_EQ(*f.gallery_calls, 2);
}

TEST(Ldre, AdaptiveDefaultsAndTopK) {
  // top-1: D = (1, 0.4) -> softmax((1, 0.4) / 0.04) = (1, e^-15) / (1 + e^-15).
  auto f = ldre_fixture("cir_test_ldre_top1.json");
  f.ctx.options["adaptive_topk"] = "1";
  f.ctx.query_keys = {"A"};
  const FloatMatrix q = find_method("ldre")->compose({ComposeInput{}}, f.ctx);
  EXPECT_NEAR(q.row(0)[1], std::exp(-15.f) / (1 + std::exp(-15.f)), 1e-9);
  EXPECT_NEAR(q.row(0)[0], 1.f, 1e-6);
}

TEST(Ldre, AdaptiveRulePieces) {
  const float after[3] = {1.f, 0.f, 0.6f}, before[3] = {0.f, 1.f, 0.8f};
  EXPECT_NEAR(detail::ldre_slot_penalty(after, before, 3, 1, 2), 1.2, 1e-6);
  EXPECT_NEAR(detail::ldre_slot_penalty(after, before, 3, 1, 10), 1.2, 1e-6);  // k > items: all of them
  EXPECT_NEAR(detail::ldre_slot_penalty(after, before, 3, 1, 1), 1.0, 1e-6);
  // No edit ever lowered a similarity: the reference would divide by zero; cir weighs evenly.
  EXPECT_EQ(detail::ldre_weights({0.0, 0.0}, 0.04), (std::vector<float>{0.5f, 0.5f}));
}

TEST(Ldre, AdaptiveNeedsGalleryScoresAndFullSlots) {
  auto f = ldre_fixture("cir_test_ldre_errors.json");
  f.ctx.query_keys = {"A"};
  auto no_gallery = f.ctx;
  no_gallery.gallery_scores = nullptr;
  try {
    find_method("ldre")->compose({ComposeInput{}}, no_gallery);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
  }
  auto three = f.ctx;
  three.options["n_captions"] = "3";
  try {
    find_method("ldre")->compose({ComposeInput{}}, three);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("n_captions"), std::string::npos);
  }
  auto bad = f.ctx;
  bad.options["adaptive"] = "maybe";
  EXPECT_THROW(find_method("ldre")->compose({ComposeInput{}}, bad), Error);
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
