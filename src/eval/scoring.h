// Private building blocks of the scorers: ranking validation, relevance arithmetic shared by the
// AP/recall variants, and MetricReport assembly. Kept small and separate so each official metric
// reads as its formula in the README.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "cir/eval.h"

namespace cir::eval::detail {

/// A set of ids viewing strings that outlive it (split data or rankings).
using IdSet = std::unordered_set<std::string_view>;

IdSet make_id_set(const std::vector<std::string>& ids);

/// Throws kInvalidArgument unless there is one ranking per query and the split has ground truth.
void check_rankings_shape(const BenchmarkSplit& split, const Rankings& rankings);

/// Throws kInvalidArgument (naming the query) when the query has no ground-truth target.
void require_targets(const EvalQuery& query);

/// Throws kInvalidArgument naming the query and id when the ranking lists an id twice, or an id
/// outside `allowed` (skipped when `allowed` is null). `allowed_name` says what the set is.
void check_ranking(const EvalQuery& query, const std::vector<std::string>& ranking, const IdSet* allowed,
                   std::string_view allowed_name);

/// Checks every ranking against the split gallery (when the gallery is known).
void check_rankings_in_gallery(const BenchmarkSplit& split, const Rankings& rankings);

/// The ranking without `removed` (the reference), as views into `ranking`.
std::vector<std::string_view> ranking_without(const std::vector<std::string>& ranking, std::string_view removed);
/// The ranking as views, unchanged.
std::vector<std::string_view> ranking_views(const std::vector<std::string>& ranking);

/// 1-based position of `id`, 0 when absent.
int64_t rank_of(std::span<const std::string_view> ranking, std::string_view id);
/// Smallest 1-based position of any id in `ids`, 0 when none is present.
int64_t first_rank_of(std::span<const std::string_view> ranking, const IdSet& ids);
/// rel[i] = 1 when ranking[i] is in `relevant`.
std::vector<uint8_t> relevance_flags(std::span<const std::string_view> ranking, const IdSet& relevant);
/// Number of relevant items among the first k (k past the end counts the whole list).
int64_t hits_at(std::span<const uint8_t> relevance, int64_t k);
/// Sum over relevant positions i <= k of P(i) = hits_at(i) / i: the AP numerator.
double precision_sum_at(std::span<const uint8_t> relevance, int64_t k);

/// 1.0 when 0 < rank <= k.
inline double hit(int64_t rank, int64_t k) { return rank > 0 && rank <= k ? 1.0 : 0.0; }

/// A report with benchmark, split, unit and query ids filled in.
MetricReport start_report(const BenchmarkSplit& split, std::string unit);
/// Appends metric `name` = scale * mean(values) and stores the values per query when `keep`.
void add_mean_metric(MetricReport& report, const std::string& name, const std::vector<double>& values, double scale,
                     bool keep_per_query = false);

/// CIRR scoring with a choice of parts: Recall@K (full rankings) and/or Recall_subset@K.
MetricReport score_cirr_parts(const BenchmarkSplit& split, const Rankings& rankings, bool with_recall,
                              bool with_subset);

/// The scorer the registry holds for a benchmark name (kInvalidArgument if unknown).
using Scorer = MetricReport (*)(const BenchmarkSplit&, const Rankings&);
Scorer scorer_for(std::string_view benchmark);

}  // namespace cir::eval::detail
