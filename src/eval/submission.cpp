// Test-server submission files (CIRR Test-split_server.md, CIRCO README) and scoring of any
// prediction file in that shape. Writers refuse rankings the servers would reject (duplicates,
// foreign ids); readers reject duplicate ids as the CIRCO server does.
#include <charconv>
#include <set>

#include "eval/json_io.h"
#include "eval/readers.h"
#include "eval/scoring.h"

namespace cir::eval {
namespace {

using detail::Json;

constexpr size_t kServerListLength = 50;
constexpr size_t kSubsetListLength = 3;

[[noreturn]] void throw_submission_error(const std::string& path, const std::string& message) {
  throw Error(ErrorCode::kInvalidArgument, path + ": " + message);
}

SubmissionFormat parse_cirr_metric(const Json& json, const std::string& path) {
  const Json& metric = json["metric"];
  if (metric == "recall") return SubmissionFormat::kCirrRecall;
  if (metric == "recall_subset") return SubmissionFormat::kCirrRecallSubset;
  throw_submission_error(
      path, "field 'metric': expected \"recall\" or \"recall_subset\", found " + detail::json_type_name(metric));
}

/// One query's list: ids as strings, ints allowed; duplicates rejected. Sets `all_ints` false
/// when a string id appears.
std::vector<std::string> read_ranked_ids(const std::string& key, const Json& value, const std::string& path,
                                         bool& all_ints) {
  if (!value.is_array())
    throw_submission_error(path,
                           "query '" + key + "': expected a list of image ids, found " + detail::json_type_name(value));
  std::vector<std::string> ids;
  ids.reserve(value.size());
  std::set<std::string> seen;
  for (size_t i = 0; i < value.size(); ++i) {
    const Json& item = value[i];
    if (item.is_number_integer()) {
      ids.push_back(std::to_string(item.get<int64_t>()));
    } else if (item.is_string()) {
      ids.push_back(item.get<std::string>());
      all_ints = false;
    } else {
      throw_submission_error(path, "query '" + key + "' position " + std::to_string(i + 1) +
                                       ": expected an image id (integer or string), found " +
                                       detail::json_type_name(item));
    }
    if (!seen.insert(ids.back()).second)
      throw_submission_error(path, "query '" + key + "' lists image '" + ids.back() +
                                       "' more than once (again at position " + std::to_string(i + 1) +
                                       "); duplicate ids are rejected");
  }
  return ids;
}

void check_ranking_count(const BenchmarkSplit& split, const Rankings& rankings) {
  if (rankings.size() != split.queries.size())
    throw Error(ErrorCode::kInvalidArgument,
                "submission for " + split.benchmark + " " + split.split + ": expected one ranking per query (" +
                    std::to_string(split.queries.size()) + "), found " + std::to_string(rankings.size()));
}

std::vector<std::string> top_subset(const EvalQuery& query, const std::vector<std::string>& ranking) {
  detail::IdSet subset = detail::make_id_set(query.group);
  subset.erase(query.reference);
  std::vector<std::string> top;
  for (const std::string& id : ranking) {
    if (top.size() == kSubsetListLength) break;
    if (subset.contains(id)) top.push_back(id);
  }
  // Members absent from a (truncated) ranking rank below every listed one, so the top 3 are only
  // known when at least 3 members, or all of them, were ranked.
  if (top.size() < std::min(kSubsetListLength, subset.size()))
    throw Error(ErrorCode::kInvalidArgument, detail::describe_query(query) + ": the ranking holds only " +
                                                 std::to_string(top.size()) +
                                                 " img_set members; rank the whole gallery to write recall_subset");
  return top;
}

int64_t parse_integer_id(const EvalQuery& query, const std::string& id) {
  int64_t value = 0;
  const auto [end, error] = std::from_chars(id.data(), id.data() + id.size(), value);
  if (error != std::errc() || end != id.data() + id.size())
    throw Error(ErrorCode::kInvalidArgument,
                detail::describe_query(query) + ": CIRCO image ids are COCO integers, found '" + id + "'");
  return value;
}

/// Serialises a submission; ids that are not valid UTF-8 cannot go into JSON, so they are
/// reported instead of being silently replaced.
std::string dump_submission(const Json& json, const std::string& path) {
  try {
    return json.dump();
  } catch (const Json::type_error& e) {
    throw Error(ErrorCode::kInvalidArgument, path + ": cannot write the submission: " + e.what());
  }
}

Rankings align_with_split(const BenchmarkSplit& split, const Submission& submission, const std::string& path) {
  std::set<std::string> known;
  Rankings rankings;
  rankings.reserve(split.queries.size());
  for (const EvalQuery& query : split.queries) {
    known.insert(query.id);
    const auto it = submission.rankings.find(query.id);
    if (it == submission.rankings.end())
      throw_submission_error(path, "query '" + query.id + "' of " + split.benchmark + " " + split.split +
                                       " is missing (the file has " + std::to_string(submission.rankings.size()) +
                                       " of " + std::to_string(split.queries.size()) + " queries)");
    rankings.push_back(it->second);
  }
  for (const auto& entry : submission.rankings)
    if (!known.contains(entry.first))
      throw_submission_error(path,
                             "key '" + entry.first + "' is not a query id of " + split.benchmark + " " + split.split);
  return rankings;
}

}  // namespace

Submission read_submission(const std::string& path) {
  const Json json = detail::load_json_file(path);
  if (!json.is_object())
    throw_submission_error(path,
                           "expected a JSON object {query id: [image ids]}, found " + detail::json_type_name(json));
  Submission submission;
  const bool is_cirr = json.contains("metric");
  if (is_cirr) {
    submission.format = parse_cirr_metric(json, path);
    if (!json.contains("version") || !json["version"].is_string())
      throw_submission_error(path, "CIRR submissions need a string field 'version' (\"rc2\")");
    submission.version = json["version"].get<std::string>();
  }
  bool all_ints = true;
  for (const auto& [key, value] : json.items()) {
    if (is_cirr && (key == "metric" || key == "version")) continue;
    submission.rankings[key] = read_ranked_ids(key, value, path, all_ints);
  }
  if (!is_cirr)
    submission.format = all_ints && !submission.rankings.empty() ? SubmissionFormat::kCirco : SubmissionFormat::kPlain;
  return submission;
}

void write_cirr_submission(const std::string& path, const BenchmarkSplit& split, const Rankings& rankings,
                           SubmissionFormat format) {
  if (format != SubmissionFormat::kCirrRecall && format != SubmissionFormat::kCirrRecallSubset)
    throw Error(ErrorCode::kInvalidArgument, "write_cirr_submission: format must be kCirrRecall or kCirrRecallSubset");
  check_ranking_count(split, rankings);
  detail::check_rankings_in_gallery(split, rankings);
  Json json;
  json["version"] = "rc2";
  json["metric"] = format == SubmissionFormat::kCirrRecall ? "recall" : "recall_subset";
  for (size_t q = 0; q < rankings.size(); ++q) {
    const EvalQuery& query = split.queries[q];
    std::vector<std::string> list;
    if (format == SubmissionFormat::kCirrRecallSubset) {
      list = top_subset(query, rankings[q]);
    } else {
      for (const std::string& id : rankings[q]) {
        if (list.size() == kServerListLength) break;
        if (id != query.reference) list.push_back(id);
      }
    }
    json[query.id] = list;
  }
  write_file_atomic(path, dump_submission(json, path));
}

void write_circo_submission(const std::string& path, const BenchmarkSplit& split, const Rankings& rankings) {
  check_ranking_count(split, rankings);
  detail::check_rankings_in_gallery(split, rankings);
  Json json = Json::object();
  for (size_t q = 0; q < rankings.size(); ++q) {
    Json list = Json::array();
    for (size_t i = 0; i < rankings[q].size() && i < kServerListLength; ++i)
      list.push_back(parse_integer_id(split.queries[q], rankings[q][i]));
    json[split.queries[q].id] = std::move(list);
  }
  write_file_atomic(path, dump_submission(json, path));
}

MetricReport score_predictions(const BenchmarkSplit& split, const std::string& predictions_path) {
  const Submission submission = read_submission(predictions_path);
  const bool cirr_file =
      submission.format == SubmissionFormat::kCirrRecall || submission.format == SubmissionFormat::kCirrRecallSubset;
  if (cirr_file && split.benchmark != "cirr")
    throw_submission_error(predictions_path, "is a CIRR submission (it has a 'metric' field) but the split is " +
                                                 split.benchmark + " " + split.split);
  const Rankings rankings = align_with_split(split, submission, predictions_path);
  // A recall file holds the top 50 only: subset ranks computed from it would undercount, so
  // each CIRR file yields just the metric it was made for.
  if (submission.format == SubmissionFormat::kCirrRecall) return detail::score_cirr_parts(split, rankings, true, false);
  if (submission.format == SubmissionFormat::kCirrRecallSubset) return score_cirr_subset(split, rankings);
  return score_rankings(split, rankings);
}

}  // namespace cir::eval
