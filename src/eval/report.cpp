// MetricReport accessors and its JSON form (what `cir eval` prints as one row per benchmark).
#include "eval/json_io.h"
#include "eval/scoring.h"

namespace cir::eval {

bool BenchmarkSplit::has_ground_truth() const {
  for (const EvalQuery& query : queries)
    if (!query.targets.empty() || !query.candidates.empty()) return true;
  return false;
}

std::optional<double> MetricReport::find(std::string_view name) const {
  for (const auto& [metric, value] : metrics)
    if (metric == name) return value;
  return std::nullopt;
}

double MetricReport::value(std::string_view name) const {
  if (auto found = find(name)) return *found;
  std::string names;
  for (const auto& metric : metrics) names += (names.empty() ? "" : ", ") + metric.first;
  throw Error(ErrorCode::kNotFound, "metric '" + std::string(name) + "' is not in the " + benchmark + " " + split +
                                        " report (available: " + names + ")");
}

std::string format_report_json(const MetricReport& report) {
  detail::Json json;
  json["benchmark"] = report.benchmark;
  json["split"] = report.split;
  json["unit"] = report.unit;
  json["n_queries"] = report.n_queries;
  detail::Json metrics = detail::Json::object();
  for (const auto& [name, value] : report.metrics) metrics[name] = value;
  json["metrics"] = std::move(metrics);
  // Replace rather than throw on invalid UTF-8: a split name from a user file must not stop a report.
  return json.dump(-1, ' ', false, detail::Json::error_handler_t::replace);
}

}  // namespace cir::eval
