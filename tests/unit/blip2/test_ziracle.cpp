// ZIRACLE scoring against a direct double loop over the formula of docs/methods.md 1.2
// (normalise rows, a_i = mean_j <q_i, t_j>, w = softmax(a / tau),
// score = (1/n^2) sum_i sum_j w_i w_j <q_i, d_j>) on the fixture's BLIP-2 embeddings, and the
// plain BLIP-2 scores against their definitions. Tolerance 1e-6 absolute: both sides accumulate in
// double; only the final float rounding differs.
#include <gtest/gtest.h>

#include <cmath>

#include "blip2_test_util.h"
#include "compose/ziracle.h"

namespace cir::testing {
namespace {

namespace zr = compose::ziracle;

constexpr double kScoreTolerance = 1e-6;

std::vector<double> unit(const float* x, int64_t dim) {
  const double n = row_norm(x, dim);
  std::vector<double> out(static_cast<size_t>(dim));
  for (int64_t k = 0; k < dim; ++k) out[k] = n > 0 ? x[k] / n : 0.0;
  return out;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t k = 0; k < a.size(); ++k) s += a[k] * b[k];
  return s;
}

// The reference formula, literally: a double loop over query and candidate slots.
double direct_ziracle(const float* q, const float* t, int64_t n_text, const float* d, int64_t n, int64_t dim, double tau) {
  std::vector<double> a(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int64_t j = 0; j < n_text; ++j) s += dot(unit(q + i * dim, dim), unit(t + j * dim, dim));
    a[i] = s / static_cast<double>(n_text) / tau;
  }
  const double top = *std::max_element(a.begin(), a.end());
  double z = 0;
  for (double& v : a) z += (v = std::exp(v - top));
  for (double& v : a) v /= z;
  double score = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) score += a[i] * a[j] * dot(unit(q + i * dim, dim), unit(d + j * dim, dim));
  return score / static_cast<double>(n * n);
}

struct Embeddings {
  FloatMatrix slots;     // 10 images x 8 slots, 64 wide
  FloatMatrix texts;     // 10 x 64
  FloatMatrix features;  // 10 x 8, 24 wide
  FloatMatrix text_features;
  int64_t n_images = 10, n_slots = 8;
};

Embeddings load_embeddings() {
  return {blip2_npy_rows("image_query_embeds.npy"), blip2_npy_rows("text_cls_embeds.npy"),
          blip2_npy_rows("image_features.npy"), blip2_npy_rows("text_features.npy")};
}

TEST(Ziracle, ScoresEqualTheDirectDoubleLoop) {
  CIR_REQUIRE_FIXTURE("fixtures/blip2/image_query_embeds.npy");
  const Embeddings e = load_embeddings();
  const int64_t dim = e.slots.cols;
  double worst = 0;
  for (const double tau : {0.001, 0.05, 1.0}) {
    for (int64_t query = 0; query < e.n_images; ++query) {
      const float* q = e.slots.row(query * e.n_slots);
      const auto scores = zr::ziracle_scores(q, e.texts.row(query), 1, e.slots.data.data(), e.n_images, e.n_slots, dim,
                                             static_cast<float>(tau));
      ASSERT_EQ(scores.size(), static_cast<size_t>(e.n_images));
      for (int64_t c = 0; c < e.n_images; ++c) {
        const double ref = direct_ziracle(q, e.texts.row(query), 1, e.slots.row(c * e.n_slots), e.n_slots, dim, tau);
        worst = std::max(worst, std::abs(scores[c] - ref));
        EXPECT_NEAR(scores[c], ref, kScoreTolerance) << "tau " << tau << " query " << query << " candidate " << c;
      }
    }
  }
  std::printf("[ziracle] cls variant, tau 0.001/0.05/1: max |score - direct| %.3g\n", worst);
}

TEST(Ziracle, MeanOverTextTokensVariant) {
  CIR_REQUIRE_FIXTURE("fixtures/blip2/image_query_embeds.npy");
  const Embeddings e = load_embeddings();
  const int64_t dim = e.slots.cols;
  // Three text rows stand in for a caption's token states ("full" mode: mean over tokens).
  const float* tokens = e.texts.row(2);
  const float* q = e.slots.row(0);
  const auto scores = zr::ziracle_scores(q, tokens, 3, e.slots.data.data(), e.n_images, e.n_slots, dim, 0.01f);
  for (int64_t c = 0; c < e.n_images; ++c)
    EXPECT_NEAR(scores[c], direct_ziracle(q, tokens, 3, e.slots.row(c * e.n_slots), e.n_slots, dim, 0.01), kScoreTolerance);
}

TEST(Ziracle, WeightsAreATemperedSoftmax) {
  CIR_REQUIRE_FIXTURE("fixtures/blip2/image_query_embeds.npy");
  const Embeddings e = load_embeddings();
  const int64_t dim = e.slots.cols;
  const auto sharp = zr::slot_weights(e.slots.row(0), e.n_slots, dim, e.texts.row(0), 1, 0.001f);
  double total = 0;
  for (const float w : sharp) total += w;
  EXPECT_NEAR(total, 1.0, 1e-6);
  // tau = 0.001 is essentially one-hot on the slot most aligned with the text.
  size_t best = 0;
  double best_dot = -2;
  for (int64_t i = 0; i < e.n_slots; ++i) {
    const double d = dot(unit(e.slots.row(i), dim), unit(e.texts.row(0), dim));
    if (d > best_dot) best_dot = d, best = static_cast<size_t>(i);
  }
  EXPECT_GT(sharp[best], 0.5f);
  EXPECT_THROW(zr::slot_weights(e.slots.row(0), e.n_slots, dim, e.texts.row(0), 1, 0.f), Error);
  EXPECT_THROW(zr::slot_weights(e.slots.row(0), e.n_slots, dim, e.texts.row(0), 0, 0.1f), Error);
}

TEST(Ziracle, ImageOnlyBaselineIsTheMeanOfAllSlotPairs) {
  CIR_REQUIRE_FIXTURE("fixtures/blip2/image_query_embeds.npy");
  const Embeddings e = load_embeddings();
  const int64_t dim = e.slots.cols;
  const float* q = e.slots.row(3 * e.n_slots);
  const auto scores = zr::image_only_scores(q, e.slots.data.data(), e.n_images, e.n_slots, dim);
  for (int64_t c = 0; c < e.n_images; ++c) {
    double ref = 0;
    for (int64_t i = 0; i < e.n_slots; ++i)
      for (int64_t j = 0; j < e.n_slots; ++j)
        ref += dot(unit(q + i * dim, dim), unit(e.slots.row(c * e.n_slots + j), dim));
    EXPECT_NEAR(scores[c], ref / static_cast<double>(e.n_slots * e.n_slots), kScoreTolerance);
  }
}

TEST(Ziracle, PlainBlip2Scores) {
  CIR_REQUIRE_FIXTURE("fixtures/blip2/image_features.npy");
  const Embeddings e = load_embeddings();
  const int64_t dim = e.features.cols;
  const float* t = e.text_features.row(1);
  const float* qf = e.features.row(4 * e.n_slots);
  const auto text = zr::blip2_text_scores(t, e.features.data.data(), e.n_images, e.n_slots, dim);
  const auto image = zr::blip2_image_scores(qf, e.features.data.data(), e.n_images, e.n_slots, dim);
  const auto sum = zr::blip2_sum_scores(qf, t, e.features.data.data(), e.n_images, e.n_slots, dim);
  const auto image_query = zr::blip2_image_query(qf, e.n_slots, dim);
  const auto sum_query = zr::blip2_sum_query(qf, t, e.n_slots, dim);
  EXPECT_NEAR(row_norm(image_query.data(), dim), 1.0, 1e-6);
  EXPECT_NEAR(row_norm(sum_query.data(), dim), 1.0, 1e-6);
  for (int64_t c = 0; c < e.n_images; ++c) {
    double best_text = -2, best_image = -2, best_sum = -2;
    for (int64_t j = 0; j < e.n_slots; ++j) {
      const std::vector<double> d = unit(e.features.row(c * e.n_slots + j), dim);
      best_text = std::max(best_text, dot(unit(t, dim), d));
      best_image = std::max(best_image, dot(unit(image_query.data(), dim), d));
      best_sum = std::max(best_sum, dot(unit(sum_query.data(), dim), d));
    }
    EXPECT_NEAR(text[c], best_text, kScoreTolerance);
    EXPECT_NEAR(image[c], best_image, kScoreTolerance);
    EXPECT_NEAR(sum[c], best_sum, kScoreTolerance);
  }
}

}  // namespace
}  // namespace cir::testing
