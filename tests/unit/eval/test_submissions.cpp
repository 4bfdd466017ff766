// Submission files: the shipped CIRCO and CIRR examples parse and score; writers round-trip;
// malformed files fail with errors naming the query.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "cir/eval.h"
#include "test_support.h"

namespace cir::eval {
namespace {

using cir::testing::TempDir;

std::string benchmarks_root() { return cir::testing::fixture_path("benchmarks"); }

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

nlohmann::json load_json(const std::string& path) {
  std::ifstream stream(path);
  return nlohmann::json::parse(stream);
}

template <typename Fn>
void expect_error(Fn&& fn, ErrorCode code, const std::vector<std::string>& fragments) {
  try {
    fn();
    FAIL() << "expected cir::Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    for (const std::string& fragment : fragments)
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
          << "missing '" << fragment << "' in: " << e.what();
  }
}

/// mAP@K over CIRCO val written out plainly from the official formula, independent of the
/// library: AP@K = sum_{i<=K, rel} (hits so far / i) / min(#GT, K), mean x 100.
double independent_circo_map(const nlohmann::json& annotations, const nlohmann::json& submission, size_t k) {
  double total = 0.0;
  for (const auto& query : annotations) {
    const std::set<int64_t> ground_truth(query["gt_img_ids"].begin(), query["gt_img_ids"].end());
    const auto& predictions = submission[std::to_string(query["id"].get<int64_t>())];
    double hits = 0.0, precision_sum = 0.0;
    for (size_t i = 0; i < predictions.size() && i < k; ++i) {
      if (ground_truth.count(predictions[i].get<int64_t>()) == 0) continue;
      hits += 1.0;
      precision_sum += hits / static_cast<double>(i + 1);
    }
    total += precision_sum / static_cast<double>(std::min(ground_truth.size(), k));
  }
  return 100.0 * total / static_cast<double>(annotations.size());
}

double independent_circo_recall(const nlohmann::json& annotations, const nlohmann::json& submission, size_t k) {
  double hits = 0.0;
  for (const auto& query : annotations) {
    const auto& predictions = submission[std::to_string(query["id"].get<int64_t>())];
    for (size_t i = 0; i < predictions.size() && i < k; ++i)
      if (predictions[i] == query["target_img_id"]) hits += 1.0;
  }
  return 100.0 * hits / static_cast<double>(annotations.size());
}

TEST(CircoSubmission, ShippedValSubmissionMatchesIndependentComputation) {
  CIR_REQUIRE_FIXTURE("benchmarks/circo/submission_examples/submission_val.json");
  const std::string submission_path = benchmarks_root() + "/circo/submission_examples/submission_val.json";
  const BenchmarkSplit split = read_benchmark("circo", benchmarks_root(), "val");
  const MetricReport report = score_predictions(split, submission_path);

  const nlohmann::json annotations = load_json(benchmarks_root() + "/circo/annotations/val.json");
  const nlohmann::json submission = load_json(submission_path);
  for (size_t k : {5, 10, 25, 50}) {
    EXPECT_NEAR(report.value("map@" + std::to_string(k)), independent_circo_map(annotations, submission, k), 1e-9) << k;
    EXPECT_NEAR(report.value("recall@" + std::to_string(k)), independent_circo_recall(annotations, submission, k),
                1e-9);
  }
  // README reference values (re-implementation of the official script), 4 decimals.
  EXPECT_NEAR(report.value("map@5"), 0.4861, 5e-5);
  EXPECT_NEAR(report.value("map@10"), 0.5178, 5e-5);
  EXPECT_NEAR(report.value("map@25"), 0.5400, 5e-5);
  EXPECT_NEAR(report.value("map@50"), 0.6020, 5e-5);
  EXPECT_NEAR(report.value("recall@5"), 0.9091, 5e-5);
  EXPECT_NEAR(report.value("recall@50"), 3.6364, 5e-5);
  std::cout << "[ CIRCO  ] shipped submission_val.json: " << format_report_json(report) << "\n";
}

TEST(CircoSubmission, ShippedTestSubmissionParsesAndRoundTrips) {
  CIR_REQUIRE_FIXTURE("benchmarks/circo/submission_examples/submission_test.json");
  const Submission submission = read_submission(benchmarks_root() + "/circo/submission_examples/submission_test.json");
  EXPECT_EQ(submission.format, SubmissionFormat::kCirco);
  ASSERT_EQ(submission.rankings.size(), 800u);
  const BenchmarkSplit test = read_benchmark("circo", benchmarks_root(), "test");
  Rankings rankings;
  for (const EvalQuery& query : test.queries) {
    ASSERT_EQ(submission.rankings.at(query.id).size(), 50u);
    rankings.push_back(submission.rankings.at(query.id));
  }
  TempDir dir;
  write_circo_submission(dir.str("out.json"), test, rankings);
  EXPECT_EQ(load_json(dir.str("out.json")),
            load_json(benchmarks_root() + "/circo/submission_examples/submission_test.json"));
  // Scoring the test split locally is refused: its ground truth is hidden.
  expect_error([&] { score_predictions(test, benchmarks_root() + "/circo/submission_examples/submission_test.json"); },
               ErrorCode::kInvalidArgument, {"no public ground truth"});
}

TEST(CirrSubmission, DemoFilesParseAndFollowTheServerRules) {
  CIR_REQUIRE_FIXTURE("benchmarks/cirr/demo_files/test1_pred_ranks_recall.json");
  const std::string demo = benchmarks_root() + "/cirr/demo_files/";
  const Submission recall = read_submission(demo + "test1_pred_ranks_recall.json");
  const Submission subset = read_submission(demo + "test1_pred_ranks_recall_subset.json");
  EXPECT_EQ(recall.format, SubmissionFormat::kCirrRecall);
  EXPECT_EQ(subset.format, SubmissionFormat::kCirrRecallSubset);
  EXPECT_EQ(recall.version, "rc2");
  ASSERT_EQ(recall.rankings.size(), 4148u);
  ASSERT_EQ(subset.rankings.size(), 4148u);

  const BenchmarkSplit test1 = read_benchmark("cirr", benchmarks_root(), "test1");
  const std::set<std::string> gallery(test1.gallery.begin(), test1.gallery.end());
  Rankings recall_rankings, subset_rankings;
  for (const EvalQuery& query : test1.queries) {
    const auto& top50 = recall.rankings.at(query.id);
    const auto& top3 = subset.rankings.at(query.id);
    ASSERT_EQ(top50.size(), 50u);
    ASSERT_EQ(top3.size(), 3u);
    for (const std::string& id : top50) {
      EXPECT_TRUE(gallery.contains(id)) << id;
      EXPECT_NE(id, query.reference);
    }
    for (const std::string& id : top3) {
      EXPECT_NE(std::find(query.group.begin(), query.group.end(), id), query.group.end()) << id;
      EXPECT_NE(id, query.reference);
    }
    recall_rankings.push_back(top50);
    subset_rankings.push_back(top3);
  }
  // Writing the same rankings reproduces the demo files exactly (as JSON values).
  TempDir dir;
  write_cirr_submission(dir.str("recall.json"), test1, recall_rankings, SubmissionFormat::kCirrRecall);
  write_cirr_submission(dir.str("subset.json"), test1, subset_rankings, SubmissionFormat::kCirrRecallSubset);
  EXPECT_EQ(load_json(dir.str("recall.json")), load_json(demo + "test1_pred_ranks_recall.json"));
  EXPECT_EQ(load_json(dir.str("subset.json")), load_json(demo + "test1_pred_ranks_recall_subset.json"));
  EXPECT_LT(std::filesystem::file_size(dir.str("recall.json")), 5u * 1000 * 1000);  // server limit 5 MB
}

TEST(CirrSubmission, ValFilesScoreTheMetricTheyWereMadeFor) {
  CIR_REQUIRE_FIXTURE("benchmarks/cirr/captions/cap.rc2.val.json");
  const BenchmarkSplit val = read_benchmark("cirr", benchmarks_root(), "val");
  // An oracle ranking: reference first (the writer must drop it), target next, then the rest.
  Rankings rankings;
  for (const EvalQuery& query : val.queries) {
    std::vector<std::string> ranking = {query.reference, query.targets[0]};
    for (const std::string& id : val.gallery)
      if (id != query.reference && id != query.targets[0]) ranking.push_back(id);
    rankings.push_back(std::move(ranking));
  }
  TempDir dir;
  write_cirr_submission(dir.str("recall.json"), val, rankings, SubmissionFormat::kCirrRecall);
  write_cirr_submission(dir.str("subset.json"), val, rankings, SubmissionFormat::kCirrRecallSubset);
  const MetricReport recall = score_predictions(val, dir.str("recall.json"));
  EXPECT_DOUBLE_EQ(recall.value("recall@1"), 100.0);
  EXPECT_FALSE(recall.find("recall_subset@1").has_value());
  const MetricReport subset = score_predictions(val, dir.str("subset.json"));
  EXPECT_DOUBLE_EQ(subset.value("recall_subset@1"), 100.0);
  EXPECT_FALSE(subset.find("recall@1").has_value());
  // The full in-memory rankings give both parts and the CLIP4Cir average.
  EXPECT_DOUBLE_EQ(score_cirr(val, rankings).value("avg"), 100.0);
}

TEST(SubmissionErrors, MalformedFilesNameTheProblem) {
  TempDir dir;
  const BenchmarkSplit split = [] {
    BenchmarkSplit s;
    s.benchmark = "circo";
    s.split = "val";
    for (std::string id : {"0", "1"}) {
      EvalQuery query;
      query.id = id;
      query.reference = "9";
      query.texts = {"t"};
      query.targets = {"5"};
      s.queries.push_back(query);
    }
    return s;
  }();
  write_text(dir.str("dup.json"), R"({"0": [5, 6], "1": [7, 8, 7]})");
  expect_error([&] { read_submission(dir.str("dup.json")); }, ErrorCode::kInvalidArgument,
               {"dup.json", "query '1' lists image '7' more than once"});
  write_text(dir.str("missing.json"), R"({"0": [5, 6]})");
  expect_error([&] { score_predictions(split, dir.str("missing.json")); }, ErrorCode::kInvalidArgument,
               {"query '1' of circo val is missing", "1 of 2"});
  write_text(dir.str("extra.json"), R"({"0": [5], "1": [5], "7": [5]})");
  expect_error([&] { score_predictions(split, dir.str("extra.json")); }, ErrorCode::kInvalidArgument,
               {"key '7' is not a query id"});
  write_text(dir.str("type.json"), R"({"0": [5], "1": "5"})");
  expect_error([&] { read_submission(dir.str("type.json")); }, ErrorCode::kInvalidArgument,
               {"query '1': expected a list of image ids, found string"});
  write_text(dir.str("element.json"), R"({"0": [5, null]})");
  expect_error([&] { read_submission(dir.str("element.json")); }, ErrorCode::kInvalidArgument,
               {"query '0' position 2"});
  write_text(dir.str("metric.json"), R"({"version": "rc2", "metric": "precision", "1": ["a"]})");
  expect_error([&] { read_submission(dir.str("metric.json")); }, ErrorCode::kInvalidArgument,
               {"'metric'", "recall_subset"});
  write_text(dir.str("cirr.json"), R"({"version": "rc2", "metric": "recall", "0": ["5"], "1": ["5"]})");
  expect_error([&] { score_predictions(split, dir.str("cirr.json")); }, ErrorCode::kInvalidArgument,
               {"is a CIRR submission"});
  write_text(dir.str("broken.json"), R"({"0": [5,)");
  expect_error([&] { read_submission(dir.str("broken.json")); }, ErrorCode::kCorrupt,
               {"broken.json", "malformed JSON"});
  expect_error([&] { read_submission(dir.str("absent.json")); }, ErrorCode::kNotFound, {"absent.json"});
  expect_error(
      [&] {
        write_circo_submission(dir.str("w.json"), split, {{"5"}, {"COCO_5"}});
      },
      ErrorCode::kInvalidArgument, {"query '1'", "COCO integers", "COCO_5"});
  // A well-formed plain file with string ids is kPlain and scores through the registry.
  write_text(dir.str("plain.json"), R"({"0": ["5"], "1": ["6", "5"]})");
  const MetricReport report = score_predictions(split, dir.str("plain.json"));
  EXPECT_NEAR(report.value("map@5"), 100.0 * (1.0 + 0.5) / 2, 1e-9);  // AP 1 and 1/2
}

}  // namespace
}  // namespace cir::eval
