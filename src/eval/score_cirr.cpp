// CIRR Recall@K and Recall_subset@K (README section 1; SEARLE/CLIP4Cir validate.py): the
// reference is removed before ranks are counted; the subset ranking is the full ranking restricted
// to img_set members minus the reference, relative order kept.
#include <array>

#include "eval/readers.h"
#include "eval/scoring.h"

namespace cir::eval::detail {
namespace {

constexpr std::array<int64_t, 4> kRecallKs = {1, 5, 10, 50};
constexpr std::array<int64_t, 3> kSubsetKs = {1, 2, 3};

/// 1-based ranks of target_hard in the ranking (reference removed) and in its subset view.
struct CirrRanks {
  int64_t target_rank = 0;
  int64_t subset_rank = 0;
};

IdSet subset_of(const EvalQuery& query) {
  IdSet subset = make_id_set(query.group);
  subset.erase(query.reference);
  return subset;
}

CirrRanks cirr_ranks(const EvalQuery& query, const std::vector<std::string>& ranking) {
  const std::string& target = query.targets.front();
  const IdSet subset = subset_of(query);
  CirrRanks ranks;
  int64_t position = 0;
  int64_t subset_position = 0;
  for (const std::string& id : ranking) {
    if (id == query.reference) continue;
    ++position;
    const bool in_subset = subset.contains(id);
    if (in_subset) ++subset_position;
    if (id == target) {
      ranks.target_rank = position;
      ranks.subset_rank = in_subset ? subset_position : 0;
      break;
    }
  }
  return ranks;
}

void check_subset_rankings(const BenchmarkSplit& split, const Rankings& rankings) {
  for (size_t q = 0; q < rankings.size(); ++q) {
    const IdSet subset = subset_of(split.queries[q]);
    check_ranking(split.queries[q], rankings[q], &subset, "its img_set members minus the reference");
  }
}

}  // namespace

MetricReport score_cirr_parts(const BenchmarkSplit& split, const Rankings& rankings, bool with_recall,
                              bool with_subset) {
  check_rankings_shape(split, rankings);
  if (with_recall)
    check_rankings_in_gallery(split, rankings);
  else
    check_subset_rankings(split, rankings);

  std::vector<double> target_ranks, subset_ranks;
  for (size_t q = 0; q < rankings.size(); ++q) {
    require_targets(split.queries[q]);
    const CirrRanks ranks = cirr_ranks(split.queries[q], rankings[q]);
    target_ranks.push_back(static_cast<double>(ranks.target_rank));
    subset_ranks.push_back(static_cast<double>(ranks.subset_rank));
  }
  MetricReport report = start_report(split, "percent");
  auto add_recalls = [&](const std::string& prefix, std::span<const int64_t> ks, const std::vector<double>& ranks) {
    for (int64_t k : ks) {
      std::vector<double> hits;
      hits.reserve(ranks.size());
      for (double rank : ranks) hits.push_back(hit(static_cast<int64_t>(rank), k));
      add_mean_metric(report, prefix + std::to_string(k), hits, 100.0);
    }
  };
  if (with_recall) {
    add_recalls("recall@", kRecallKs, target_ranks);
    report.per_query["target_rank"] = target_ranks;
  }
  if (with_subset) {
    add_recalls("recall_subset@", kSubsetKs, subset_ranks);
    report.per_query["subset_rank"] = subset_ranks;
  }
  // The CLIP4Cir summary (R@5 + Rs@1) / 2; not part of the CIRR paper's protocol.
  if (with_recall && with_subset)
    report.metrics.emplace_back("avg", (report.value("recall@5") + report.value("recall_subset@1")) / 2.0);
  return report;
}

}  // namespace cir::eval::detail

namespace cir::eval {

MetricReport score_cirr(const BenchmarkSplit& split, const Rankings& rankings) {
  return detail::score_cirr_parts(split, rankings, true, true);
}

MetricReport score_cirr_subset(const BenchmarkSplit& split, const Rankings& rankings) {
  return detail::score_cirr_parts(split, rankings, false, true);
}

}  // namespace cir::eval
