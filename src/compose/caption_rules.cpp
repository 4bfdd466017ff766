// SEIZE's and LDRE's scoring rules (see caption_rules.h), and score_items, the one place a
// ScoringQuery is applied to a whole item set.
#include "compose/caption_rules.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

#include "compose/methods.h"

namespace cir::compose {

std::vector<float> score_items(const ScoringQuery& query, const FloatMatrix& inner_products) {
  if (inner_products.rows > 0 && inner_products.cols != query.vectors.rows)
    throw Error(ErrorCode::kInvalidArgument, "score_items: " + std::to_string(inner_products.cols) +
                                                 " inner products per item, the query has " +
                                                 std::to_string(query.vectors.rows) + " rows");
  std::vector<float> scores(static_cast<size_t>(inner_products.rows));
  if (query.combine_all) {
    query.combine_all(inner_products, scores.data());
    return scores;
  }
  for (int64_t i = 0; i < inner_products.rows; ++i) scores[static_cast<size_t>(i)] = query.combine(inner_products.row(i));
  return scores;
}

namespace detail {

SeizeRule read_seize_rule(const ComposeContext& context, const std::string& method) {
  SeizeRule rule;
  const std::string form = find_option(context, "form").value_or("similarity");
  if (form == "similarity") rule.form = SeizeForm::kSimilarity;
  else if (form == "rank") rule.form = SeizeForm::kRank;
  else if (form == "rank_steps") rule.form = SeizeForm::kRankSteps;
  else
    throw Error(ErrorCode::kInvalidArgument, "method '" + method + "': option 'form' must be similarity, rank or "
                                             "rank_steps, found '" + form + "'");
  rule.alpha_pos = static_cast<float>(number_option(context, method, "alpha_pos", rule.alpha_pos));
  rule.alpha_neg = static_cast<float>(number_option(context, method, "alpha_neg", rule.alpha_neg));
  rule.rank_lambda = number_option(context, method, "rank_lambda", rule.rank_lambda);
  return rule;
}

float seize_similarity_score(float s_after, float s_before, float alpha_pos, float alpha_neg) {
  const float delta = s_after - s_before;  // the semantic editing increment
  return s_after + alpha_pos * std::max(delta, 0.f) + alpha_neg * std::min(delta, 0.f);
}

std::vector<int64_t> descending_ranks(const float* values, int64_t n, int64_t stride) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return values[a * stride] > values[b * stride]; });
  std::vector<int64_t> rank(static_cast<size_t>(n));
  for (int64_t r = 0; r < n; ++r) rank[static_cast<size_t>(order[static_cast<size_t>(r)])] = r;
  return rank;
}

void seize_rank_scores(const FloatMatrix& inner_products, SeizeForm form, double rank_lambda, float* scores) {
  if (form == SeizeForm::kSimilarity || inner_products.cols != 2)
    throw Error(ErrorCode::kInternal, "seize_rank_scores: needs a rank form and n x 2 inner products");
  const int64_t n = inner_products.rows;
  const float* ip = inner_products.data.data();
  const auto rank_after = descending_ranks(ip, n, 2);
  const auto rank_before = descending_ranks(ip + 1, n, 2);
  for (int64_t g = 0; g < n; ++g) {
    // Positive = the edit moved g up the list.
    const double moved_up = static_cast<double>(rank_before[static_cast<size_t>(g)] - rank_after[static_cast<size_t>(g)]);
    const double bonus = form == SeizeForm::kRank ? std::min(moved_up, 0.0) : moved_up;
    scores[g] = static_cast<float>(ip[2 * g] + rank_lambda * bonus);
  }
}

double ldre_slot_penalty(const float* after, const float* before, int64_t n_items, int64_t stride, int top_k) {
  std::vector<float> drop(static_cast<size_t>(n_items));
  for (int64_t g = 0; g < n_items; ++g) drop[static_cast<size_t>(g)] = std::max(0.f, before[g * stride] - after[g * stride]);
  const auto k = static_cast<std::ptrdiff_t>(std::min<int64_t>(std::max(top_k, 0), n_items));
  std::partial_sort(drop.begin(), drop.begin() + k, drop.end(), std::greater<float>());
  return std::accumulate(drop.begin(), drop.begin() + k, 0.0);
}

std::vector<float> ldre_weights(const std::vector<double>& penalties, double temperature) {
  const size_t n = penalties.size();
  if (n == 0) return {};
  const double top = *std::max_element(penalties.begin(), penalties.end());
  if (!(top > 0)) return std::vector<float>(n, 1.f / static_cast<float>(n));
  std::vector<double> logits(n);
  for (size_t i = 0; i < n; ++i) logits[i] = penalties[i] / top / temperature;
  const double shift = *std::max_element(logits.begin(), logits.end());  // softmax without overflow
  double sum = 0;
  for (auto& l : logits) sum += (l = std::exp(l - shift));
  std::vector<float> w(n);
  for (size_t i = 0; i < n; ++i) w[i] = static_cast<float>(logits[i] / sum);
  return w;
}

}  // namespace detail
}  // namespace cir::compose
