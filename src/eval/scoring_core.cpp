// Shared scoring arithmetic and validation. The validation is strict on purpose: a ranking with
// a repeated id or a foreign id would silently inflate or deflate the official numbers.
#include <algorithm>
#include <cstdint>
#include <unordered_map>

#include "eval/readers.h"
#include "eval/scoring.h"

namespace cir::eval::detail {

std::string describe_query(const EvalQuery& query) { return "query '" + query.id + "'"; }

IdSet make_id_set(const std::vector<std::string>& ids) {
  IdSet set;
  set.reserve(ids.size() * 2);
  for (const std::string& id : ids) set.insert(id);
  return set;
}

void check_rankings_shape(const BenchmarkSplit& split, const Rankings& rankings) {
  const std::string name = split.benchmark + " " + split.split;
  if (!split.has_ground_truth())
    throw Error(ErrorCode::kInvalidArgument, name +
                                                 " has no public ground truth: it cannot be scored locally; "
                                                 "write a submission file for the benchmark's test server instead");
  if (rankings.size() != split.queries.size())
    throw Error(ErrorCode::kInvalidArgument, name + ": expected one ranking per query (" +
                                                 std::to_string(split.queries.size()) + "), found " +
                                                 std::to_string(rankings.size()));
}

void require_targets(const EvalQuery& query) {
  if (query.targets.empty())
    throw Error(ErrorCode::kInvalidArgument, describe_query(query) + " has no ground-truth target to score against");
}

void check_ranking(const EvalQuery& query, const std::vector<std::string>& ranking, const IdSet* allowed,
                   std::string_view allowed_name) {
  IdSet seen;
  seen.reserve(ranking.size() * 2);
  for (size_t i = 0; i < ranking.size(); ++i) {
    const std::string& id = ranking[i];
    if (!seen.insert(id).second)
      throw Error(ErrorCode::kInvalidArgument, describe_query(query) + ": ranking lists image '" + id +
                                                   "' more than once (again at position " + std::to_string(i + 1) +
                                                   "); duplicate ids are not allowed");
    if (allowed != nullptr && !allowed->contains(id))
      throw Error(ErrorCode::kInvalidArgument, describe_query(query) + ": ranking position " + std::to_string(i + 1) +
                                                   " is image '" + id + "', which is not in " +
                                                   std::string(allowed_name));
  }
}

void check_rankings_in_gallery(const BenchmarkSplit& split, const Rankings& rankings) {
  if (split.gallery.empty()) {
    for (size_t q = 0; q < rankings.size(); ++q) check_ranking(split.queries[q], rankings[q], nullptr, "");
    return;
  }
  // Full CIRR rankings are ~10M ids per run: one shared id -> index map plus a "last query
  // that listed it" stamp per gallery image checks membership and duplicates with one lookup.
  std::unordered_map<std::string_view, size_t> index;
  index.reserve(split.gallery.size() * 2);
  for (size_t i = 0; i < split.gallery.size(); ++i) index.emplace(split.gallery[i], i);
  std::vector<size_t> last_query(split.gallery.size(), SIZE_MAX);
  const std::string gallery_name = "the " + split.benchmark + " " + split.split + " gallery";
  for (size_t q = 0; q < rankings.size(); ++q) {
    const std::vector<std::string>& ranking = rankings[q];
    for (size_t i = 0; i < ranking.size(); ++i) {
      const auto it = index.find(ranking[i]);
      // Re-run the per-query check for its exact message; it throws on this ranking.
      if (it == index.end() || last_query[it->second] == q) {
        const IdSet gallery = make_id_set(split.gallery);
        check_ranking(split.queries[q], ranking, &gallery, gallery_name);
        throw Error(ErrorCode::kInternal, "gallery check disagreed with the per-query check");
      }
      last_query[it->second] = q;
    }
  }
}

std::vector<std::string_view> ranking_without(const std::vector<std::string>& ranking, std::string_view removed) {
  std::vector<std::string_view> out;
  out.reserve(ranking.size());
  for (const std::string& id : ranking)
    if (id != removed) out.push_back(id);
  return out;
}

std::vector<std::string_view> ranking_views(const std::vector<std::string>& ranking) {
  return {ranking.begin(), ranking.end()};
}

int64_t rank_of(std::span<const std::string_view> ranking, std::string_view id) {
  const auto it = std::find(ranking.begin(), ranking.end(), id);
  return it == ranking.end() ? 0 : static_cast<int64_t>(it - ranking.begin()) + 1;
}

int64_t first_rank_of(std::span<const std::string_view> ranking, const IdSet& ids) {
  for (size_t i = 0; i < ranking.size(); ++i)
    if (ids.contains(ranking[i])) return static_cast<int64_t>(i) + 1;
  return 0;
}

std::vector<uint8_t> relevance_flags(std::span<const std::string_view> ranking, const IdSet& relevant) {
  std::vector<uint8_t> flags(ranking.size());
  for (size_t i = 0; i < ranking.size(); ++i) flags[i] = relevant.contains(ranking[i]) ? 1 : 0;
  return flags;
}

int64_t hits_at(std::span<const uint8_t> relevance, int64_t k) {
  const auto end = static_cast<size_t>(std::min<int64_t>(k, static_cast<int64_t>(relevance.size())));
  int64_t hits = 0;
  for (size_t i = 0; i < end; ++i) hits += relevance[i];
  return hits;
}

double precision_sum_at(std::span<const uint8_t> relevance, int64_t k) {
  const auto end = static_cast<size_t>(std::min<int64_t>(k, static_cast<int64_t>(relevance.size())));
  double sum = 0.0;
  int64_t hits = 0;
  for (size_t i = 0; i < end; ++i) {
    if (!relevance[i]) continue;
    ++hits;
    sum += static_cast<double>(hits) / static_cast<double>(i + 1);
  }
  return sum;
}

MetricReport start_report(const BenchmarkSplit& split, std::string unit) {
  MetricReport report;
  report.benchmark = split.benchmark;
  report.split = split.split;
  report.unit = std::move(unit);
  report.n_queries = static_cast<int64_t>(split.queries.size());
  report.query_ids.reserve(split.queries.size());
  for (const EvalQuery& query : split.queries) report.query_ids.push_back(query.id);
  return report;
}

void add_mean_metric(MetricReport& report, const std::string& name, const std::vector<double>& values, double scale,
                     bool keep_per_query) {
  double sum = 0.0;
  for (double value : values) sum += value;
  const double mean = values.empty() ? 0.0 : sum / static_cast<double>(values.size());
  report.metrics.emplace_back(name, scale * mean);
  if (keep_per_query) report.per_query[name] = values;
}

}  // namespace cir::eval::detail
