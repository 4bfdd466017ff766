// Focus-CoIR metrics as vectorgrp/ziracle src/ziracle/metrics computes them (README section 5):
// per query over its own candidates, then the mean over queries, as fractions.
//   ap             sum_{rel i} P(i) / #positives
//   ap@20          sum_{rel i<=20} P(i) / #positives inside the top 20 (0 when none): ZIRACLE's
//   ap@20_standard sum_{rel i<=20} P(i) / min(#positives, 20): the usual normalisation
//   p@20, p@50     positives inside the top K / K
// With complete 500-item rankings this is exactly ZIRACLE's arithmetic. For a truncated ranking,
// "ap" still divides by all positives (unretrieved positives count as misses) and P@K by K.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "eval/readers.h"
#include "eval/scoring.h"

namespace cir::eval {
namespace {

struct FocusScores {
  double ap = 0, ap_at_20 = 0, ap_at_20_standard = 0, p_at_20 = 0, p_at_50 = 0;
};

FocusScores score_focus_query(const EvalQuery& query, const std::vector<std::string>& ranking) {
  using namespace detail;
  const IdSet positives = make_id_set(query.targets);
  const std::vector<uint8_t> relevance = relevance_flags(ranking_views(ranking), positives);
  const auto n_positives = static_cast<int64_t>(positives.size());
  const int64_t hits_20 = hits_at(relevance, 20);
  const double sum_20 = precision_sum_at(relevance, 20);
  FocusScores scores;
  if (n_positives > 0) {
    scores.ap = precision_sum_at(relevance, static_cast<int64_t>(relevance.size())) / static_cast<double>(n_positives);
    scores.ap_at_20_standard = sum_20 / static_cast<double>(std::min<int64_t>(n_positives, 20));
  }
  scores.ap_at_20 = hits_20 > 0 ? sum_20 / static_cast<double>(hits_20) : 0.0;
  scores.p_at_20 = static_cast<double>(hits_20) / 20.0;
  scores.p_at_50 = static_cast<double>(hits_at(relevance, 50)) / 50.0;
  return scores;
}

void check_focus_rankings(const BenchmarkSplit& split, const Rankings& rankings) {
  for (size_t q = 0; q < rankings.size(); ++q) {
    const EvalQuery& query = split.queries[q];
    detail::IdSet candidates;
    candidates.reserve(query.candidates.size() * 2);
    for (const auto& candidate : query.candidates) candidates.insert(candidate.first);
    detail::check_ranking(query, rankings[q], &candidates, "its labelled candidates");
  }
}

}  // namespace

MetricReport score_focus_coir(const BenchmarkSplit& split, const Rankings& rankings) {
  using namespace detail;
  check_rankings_shape(split, rankings);
  check_focus_rankings(split, rankings);
  std::vector<double> ap, ap_20, ap_20_standard, p_20, p_50;
  for (size_t q = 0; q < rankings.size(); ++q) {
    const FocusScores scores = score_focus_query(split.queries[q], rankings[q]);
    ap.push_back(scores.ap);
    ap_20.push_back(scores.ap_at_20);
    ap_20_standard.push_back(scores.ap_at_20_standard);
    p_20.push_back(scores.p_at_20);
    p_50.push_back(scores.p_at_50);
  }
  MetricReport report = start_report(split, "fraction");
  add_mean_metric(report, "ap", ap, 1.0, true);
  add_mean_metric(report, "ap@20", ap_20, 1.0, true);
  add_mean_metric(report, "ap@20_standard", ap_20_standard, 1.0, true);
  add_mean_metric(report, "p@20", p_20, 1.0, true);
  add_mean_metric(report, "p@50", p_50, 1.0, true);
  return report;
}

std::vector<std::string> rank_candidates(const EvalQuery& query, std::span<const float> scores) {
  if (scores.size() != query.candidates.size())
    throw Error(ErrorCode::kInvalidArgument, detail::describe_query(query) + ": expected one score per candidate (" +
                                                 std::to_string(query.candidates.size()) + "), found " +
                                                 std::to_string(scores.size()));
  for (size_t i = 0; i < scores.size(); ++i)
    if (std::isnan(scores[i]))
      throw Error(ErrorCode::kInvalidArgument,
                  detail::describe_query(query) + ": score of candidate '" + query.candidates[i].first + "' is NaN");
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t{0});
  // ZIRACLE's Python sort is stable, so its ties follow the file order; ordering ties by image
  // id instead makes the result independent of how the candidates happen to be listed.
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (scores[a] != scores[b]) return scores[a] > scores[b];
    return query.candidates[a].first < query.candidates[b].first;
  });
  std::vector<std::string> ranking;
  ranking.reserve(order.size());
  for (size_t i : order) ranking.push_back(query.candidates[i].first);
  return ranking;
}

MetricReport score_focus_coir_scores(const BenchmarkSplit& split, const std::vector<std::vector<float>>& scores) {
  if (scores.size() != split.queries.size())
    throw Error(ErrorCode::kInvalidArgument, "focus-coir: expected one score list per query (" +
                                                 std::to_string(split.queries.size()) + "), found " +
                                                 std::to_string(scores.size()));
  Rankings rankings;
  rankings.reserve(scores.size());
  for (size_t q = 0; q < scores.size(); ++q) rankings.push_back(rank_candidates(split.queries[q], scores[q]));
  return score_focus_coir(split, rankings);
}

}  // namespace cir::eval
