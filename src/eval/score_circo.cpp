// CIRCO mAP@K, Recall@K and semantic mAP@10, as miccunifi/CIRCO src/evaluation.py computes them
// (README section 2): AP@K = sum_{i<=K} P(i) rel(i) / min(len(gt_img_ids), K); recall looks for
// target_img_id only; the list is scored as submitted (the reference is not removed).
#include <array>

#include "eval/readers.h"
#include "eval/scoring.h"

namespace cir::eval::detail {
namespace {

constexpr std::array<int64_t, 4> kCircoKs = {5, 10, 25, 50};

/// The official script's aspect order, used for the report's metric order.
constexpr std::array<std::string_view, 9> kSemanticAspects = {"cardinality",
                                                              "addition",
                                                              "negation",
                                                              "direct_addressing",
                                                              "compare_change",
                                                              "comparative_statement",
                                                              "statement_with_conjunction",
                                                              "spatial_relations_background",
                                                              "viewpoint"};

std::string_view target_img_id(const EvalQuery& query) {
  const auto it = query.extra.find("target_img_id");
  return it != query.extra.end() ? std::string_view(it->second) : std::string_view(query.targets.front());
}

bool has_aspect(const EvalQuery& query, std::string_view aspect) {
  const auto it = query.extra.find("semantic_aspects");
  if (it == query.extra.end()) return false;
  std::string_view list = it->second;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    if (list.substr(0, comma) == aspect) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

/// Mean AP@10 over the queries tagged with each aspect; aspects no query carries are left out
/// (the official script would print NaN for them).
void add_semantic_maps(MetricReport& report, const BenchmarkSplit& split, const std::vector<double>& ap_at_10) {
  for (std::string_view aspect : kSemanticAspects) {
    std::vector<double> values;
    for (size_t q = 0; q < split.queries.size(); ++q)
      if (has_aspect(split.queries[q], aspect)) values.push_back(ap_at_10[q]);
    if (!values.empty()) add_mean_metric(report, "semantic_map@10/" + std::string(aspect), values, 100.0);
  }
}

}  // namespace
}  // namespace cir::eval::detail

namespace cir::eval {

MetricReport score_circo(const BenchmarkSplit& split, const Rankings& rankings) {
  using namespace detail;
  check_rankings_shape(split, rankings);
  check_rankings_in_gallery(split, rankings);
  std::array<std::vector<double>, kCircoKs.size()> aps, recalls;
  std::vector<double> target_ranks;
  for (size_t q = 0; q < rankings.size(); ++q) {
    const EvalQuery& query = split.queries[q];
    require_targets(query);
    const std::vector<std::string_view> ranking = ranking_views(rankings[q]);
    const std::vector<uint8_t> relevance = relevance_flags(ranking, make_id_set(query.targets));
    const int64_t n_ground_truth = static_cast<int64_t>(query.targets.size());
    const int64_t target_rank = rank_of(ranking, target_img_id(query));
    for (size_t k = 0; k < kCircoKs.size(); ++k) {
      const double denominator = static_cast<double>(std::min(n_ground_truth, kCircoKs[k]));
      aps[k].push_back(precision_sum_at(relevance, kCircoKs[k]) / denominator);
      recalls[k].push_back(hit(target_rank, kCircoKs[k]));
    }
    target_ranks.push_back(static_cast<double>(target_rank));
  }
  MetricReport report = start_report(split, "percent");
  for (size_t k = 0; k < kCircoKs.size(); ++k) {
    add_mean_metric(report, "map@" + std::to_string(kCircoKs[k]), aps[k], 100.0);
    report.per_query["ap@" + std::to_string(kCircoKs[k])] = aps[k];
  }
  for (size_t k = 0; k < kCircoKs.size(); ++k)
    add_mean_metric(report, "recall@" + std::to_string(kCircoKs[k]), recalls[k], 100.0);
  report.per_query["target_rank"] = target_ranks;
  add_semantic_maps(report, split, aps[1]);
  return report;
}

}  // namespace cir::eval
