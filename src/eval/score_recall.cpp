// Recall-style benchmarks: FashionIQ (per category and averaged), LaSCo and custom triplets.
#include <algorithm>
#include <array>

#include "eval/readers.h"
#include "eval/scoring.h"

namespace cir::eval {
namespace {

constexpr std::array<int64_t, 2> kFashionIqKs = {10, 50};
constexpr std::array<int64_t, 6> kLascoKs = {1, 5, 10, 50, 100, 500};
constexpr std::array<int64_t, 4> kTripletRecallKs = {1, 5, 10, 50};
constexpr std::array<int64_t, 4> kTripletMapKs = {5, 10, 25, 50};
constexpr std::array<std::string_view, 3> kFashionIqCategories = {"dress", "shirt", "toptee"};

void add_recalls(MetricReport& report, std::span<const int64_t> ks, const std::vector<double>& ranks) {
  for (int64_t k : ks) {
    std::vector<double> hits;
    hits.reserve(ranks.size());
    for (double rank : ranks) hits.push_back(detail::hit(static_cast<int64_t>(rank), k));
    detail::add_mean_metric(report, "recall@" + std::to_string(k), hits, 100.0);
  }
  report.per_query["target_rank"] = ranks;
}

/// Rank of the first target after dropping the reference, unless the reference is itself a
/// target (then dropping it would make the query unwinnable).
std::vector<std::string_view> ranking_for_targets(const EvalQuery& query, const std::vector<std::string>& ranking) {
  const bool reference_is_target =
      std::find(query.targets.begin(), query.targets.end(), query.reference) != query.targets.end();
  return reference_is_target ? detail::ranking_views(ranking) : detail::ranking_without(ranking, query.reference);
}

std::string_view fashioniq_category(const MetricReport& report) {
  constexpr std::string_view kPrefix = "fashioniq-";
  if (!report.benchmark.starts_with(kPrefix))
    throw Error(ErrorCode::kInvalidArgument,
                "average_fashioniq: expected FashionIQ category reports, found benchmark '" + report.benchmark + "'");
  return std::string_view(report.benchmark).substr(kPrefix.size());
}

}  // namespace

MetricReport score_fashioniq(const BenchmarkSplit& split, const Rankings& rankings) {
  using namespace detail;
  check_rankings_shape(split, rankings);
  check_rankings_in_gallery(split, rankings);
  std::vector<double> ranks;
  for (size_t q = 0; q < rankings.size(); ++q) {
    require_targets(split.queries[q]);
    // Community protocol: the reference stays in the ranking.
    ranks.push_back(static_cast<double>(rank_of(ranking_views(rankings[q]), split.queries[q].targets.front())));
  }
  MetricReport report = start_report(split, "percent");
  add_recalls(report, kFashionIqKs, ranks);
  return report;
}

MetricReport average_fashioniq(const std::vector<MetricReport>& per_category) {
  if (per_category.empty()) throw Error(ErrorCode::kInvalidArgument, "average_fashioniq: no category reports given");
  MetricReport out;
  out.benchmark = "fashioniq";
  out.split = per_category.front().split;
  out.unit = "percent";
  std::array<double, kFashionIqKs.size()> sums{};
  for (const MetricReport& report : per_category) {
    const std::string category(fashioniq_category(report));
    out.n_queries += report.n_queries;
    for (size_t k = 0; k < kFashionIqKs.size(); ++k) {
      const std::string name = "recall@" + std::to_string(kFashionIqKs[k]);
      out.metrics.emplace_back(category + "/" + name, report.value(name));
      sums[k] += report.value(name);
    }
  }
  // Averages are over categories (each category weighs the same), not over queries.
  const double n = static_cast<double>(per_category.size());
  double overall = 0.0;
  for (size_t k = 0; k < kFashionIqKs.size(); ++k) {
    out.metrics.emplace_back("avg_recall@" + std::to_string(kFashionIqKs[k]), sums[k] / n);
    overall += sums[k] / n;
  }
  out.metrics.emplace_back("avg", overall / static_cast<double>(kFashionIqKs.size()));
  if (per_category.size() != kFashionIqCategories.size())
    log(LogLevel::kWarn, "average_fashioniq: averaging " + std::to_string(per_category.size()) +
                             " categories; the published average uses dress, shirt and toptee");
  return out;
}

MetricReport score_lasco(const BenchmarkSplit& split, const Rankings& rankings) {
  using namespace detail;
  check_rankings_shape(split, rankings);
  check_rankings_in_gallery(split, rankings);
  std::vector<double> ranks;
  for (size_t q = 0; q < rankings.size(); ++q) {
    const EvalQuery& query = split.queries[q];
    require_targets(query);
    ranks.push_back(static_cast<double>(rank_of(ranking_for_targets(query, rankings[q]), query.targets.front())));
  }
  MetricReport report = start_report(split, "percent");
  add_recalls(report, kLascoKs, ranks);
  return report;
}

MetricReport score_triplets(const BenchmarkSplit& split, const Rankings& rankings) {
  using namespace detail;
  check_rankings_shape(split, rankings);
  check_rankings_in_gallery(split, rankings);
  std::vector<double> ranks;
  std::array<std::vector<double>, kTripletMapKs.size()> aps;
  for (size_t q = 0; q < rankings.size(); ++q) {
    const EvalQuery& query = split.queries[q];
    require_targets(query);
    const IdSet targets = make_id_set(query.targets);
    const std::vector<std::string_view> ranking = ranking_for_targets(query, rankings[q]);
    ranks.push_back(static_cast<double>(first_rank_of(ranking, targets)));
    const std::vector<uint8_t> relevance = relevance_flags(ranking, targets);
    for (size_t k = 0; k < kTripletMapKs.size(); ++k) {
      const auto denominator = std::min<int64_t>(static_cast<int64_t>(targets.size()), kTripletMapKs[k]);
      aps[k].push_back(precision_sum_at(relevance, kTripletMapKs[k]) / static_cast<double>(denominator));
    }
  }
  MetricReport report = start_report(split, "percent");
  add_recalls(report, kTripletRecallKs, ranks);
  report.per_query["target_rank"] = ranks;  // 1-based rank of the first target found
  for (size_t k = 0; k < kTripletMapKs.size(); ++k)
    add_mean_metric(report, "map@" + std::to_string(kTripletMapKs[k]), aps[k], 100.0, true);
  return report;
}

}  // namespace cir::eval
