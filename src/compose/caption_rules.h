// Private to compose: the scoring rules of SEIZE and LDRE (methods.md sections 2.2 and 2.3) as
// plain functions over inner products, so each can be checked against hand-computed cases
// without captions, a model or a gallery.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cir/compose.h"

namespace cir::compose::detail {

/// Which of SEIZE's two scoring rules a query uses (option `form`).
enum class SeizeForm {
  kSimilarity,  ///< "similarity": s_after + a_pos max(d,0) + a_neg min(d,0), d = s_after - s_before
  kRank,        ///< "rank": s_after + lambda min(r_b - r_a, 0) (SEIZE's CIRR variant)
  kRankSteps,   ///< "rank_steps": s_after + lambda (r_b - r_a) (SEIZE's CIRCO "forward steps")
};

/// SEIZE's knobs, read from the method options (defaults from SEIZE's args.py and comments).
struct SeizeRule {
  SeizeForm form = SeizeForm::kSimilarity;
  float alpha_pos = 0.13f;    ///< option alpha_pos
  float alpha_neg = 2.1f;     ///< option alpha_neg
  double rank_lambda = 5e-7;  ///< option rank_lambda
};

/// Reads form / alpha_pos / alpha_neg / rank_lambda; kInvalidArgument naming a bad value.
SeizeRule read_seize_rule(const ComposeContext& context, const std::string& method);

/// The similarity form for one item.
float seize_similarity_score(float s_after, float s_before, float alpha_pos, float alpha_neg);

/// 0-based ranks of `n` values read with `stride` (0 = the largest value); ties keep the
/// items' order, as a stable descending argsort of argsort would.
std::vector<int64_t> descending_ranks(const float* values, int64_t n, int64_t stride);

/// The rank forms over a whole item set. inner_products: n_items x 2, column 0 = s_after
/// (<e, g>), column 1 = s_before (<c, g>); writes n_items scores. `form` must be a rank form.
void seize_rank_scores(const FloatMatrix& inner_products, SeizeForm form, double rank_lambda, float* scores);

/// LDRE's penalty of one (query, caption slot): the sum of the `top_k` largest values of
/// max(0, before[g] - after[g]) over the `n_items` items (fewer when n_items < top_k).
double ldre_slot_penalty(const float* after, const float* before, int64_t n_items, int64_t stride, int top_k);

/// LDRE's adaptive weights from the per-slot penalties summed over all queries:
/// softmax(D / max(D) / temperature). When max(D) <= 0 (no edit ever lowered a similarity) the
/// reference divides by zero; cir returns uniform weights instead.
std::vector<float> ldre_weights(const std::vector<double>& penalties, double temperature);

}  // namespace cir::compose::detail
