// Official metrics on small hand-computed cases; the arithmetic is written next to each check.
#include <gtest/gtest.h>

#include <cmath>

#include "cir/eval.h"

namespace cir::eval {
namespace {

EvalQuery make_query(std::string id, std::string reference, std::vector<std::string> targets,
                     std::vector<std::string> group = {}) {
  EvalQuery query;
  query.id = std::move(id);
  query.reference = std::move(reference);
  query.texts = {"caption"};
  query.targets = std::move(targets);
  query.group = std::move(group);
  return query;
}

BenchmarkSplit make_split(std::string benchmark, std::vector<EvalQuery> queries, std::vector<std::string> gallery) {
  BenchmarkSplit split;
  split.benchmark = std::move(benchmark);
  split.split = "val";
  split.queries = std::move(queries);
  split.gallery = std::move(gallery);
  return split;
}

template <typename Fn>
void expect_error(Fn&& fn, ErrorCode code, const std::string& fragment) {
  try {
    fn();
    FAIL() << "expected cir::Error containing '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------
// CIRR

BenchmarkSplit cirr_toy() {
  const std::vector<std::string> gallery = {"r", "a", "b", "c", "t", "x", "y"};
  return make_split("cirr",
                    {make_query("1", "r", {"t"}, {"r", "a", "t", "b", "c", "x"}),
                     make_query("2", "a", {"b"}, {"a", "b", "c", "t", "x", "y"}),
                     make_query("3", "t", {"x"}, {"t", "x", "a", "b", "c", "y"})},
                    gallery);
}

TEST(CirrMetrics, RecallAndSubsetOnHandCase) {
  const BenchmarkSplit split = cirr_toy();
  const Rankings rankings = {
      // q1: reference r removed -> [y, a, t, b] -> t at rank 3 (4 if r were counted).
      //     subset {a,t,b,c,x} view: [a, t, b] -> t at subset rank 2.
      {"r", "y", "a", "t", "b"},
      // q2: reference a removed -> [b, ...] -> b at rank 1; subset view [b] -> rank 1.
      {"a", "b", "c"},
      // q3: target x never ranked (truncated list) -> rank 0: a miss everywhere.
      {"a", "b"},
  };
  const MetricReport report = score_cirr(split, rankings);
  EXPECT_EQ(report.unit, "percent");
  EXPECT_EQ(report.n_queries, 3);
  // R@1: only q2 -> 1/3; R@5, R@10, R@50: q1 and q2 -> 2/3.
  EXPECT_NEAR(report.value("recall@1"), 100.0 / 3, 1e-9);
  EXPECT_NEAR(report.value("recall@5"), 200.0 / 3, 1e-9);
  EXPECT_NEAR(report.value("recall@10"), 200.0 / 3, 1e-9);
  EXPECT_NEAR(report.value("recall@50"), 200.0 / 3, 1e-9);
  // Rs@1: q2 only -> 1/3; Rs@2 and Rs@3: q1 and q2 -> 2/3.
  EXPECT_NEAR(report.value("recall_subset@1"), 100.0 / 3, 1e-9);
  EXPECT_NEAR(report.value("recall_subset@2"), 200.0 / 3, 1e-9);
  EXPECT_NEAR(report.value("recall_subset@3"), 200.0 / 3, 1e-9);
  // avg = (R@5 + Rs@1) / 2 = (66.67 + 33.33) / 2 = 50.
  EXPECT_NEAR(report.value("avg"), 50.0, 1e-9);
  EXPECT_EQ(report.per_query.at("target_rank"), (std::vector<double>{3, 1, 0}));
  EXPECT_EQ(report.per_query.at("subset_rank"), (std::vector<double>{2, 1, 0}));
  // Metric order is the official print order.
  ASSERT_EQ(report.metrics.size(), 8u);
  EXPECT_EQ(report.metrics[0].first, "recall@1");
  EXPECT_EQ(report.metrics[4].first, "recall_subset@1");
  EXPECT_EQ(report.metrics[7].first, "avg");
}

TEST(CirrMetrics, RecallAtFiftyBoundary) {
  // 60 gallery images; the target sits at rank 50 after the reference is removed -> R@50 hit,
  // R@10 miss; at rank 51 it would be a miss.
  std::vector<std::string> gallery;
  for (int i = 0; i < 60; ++i) gallery.push_back("g" + std::to_string(i));
  BenchmarkSplit split = make_split("cirr",
                                    {make_query("1", "g0", {"g50"}, {"g0", "g50", "g1", "g2", "g3", "g4"}),
                                     make_query("2", "g0", {"g51"}, {"g0", "g51", "g1", "g2", "g3", "g4"})},
                                    gallery);
  Rankings rankings(2, gallery);  // g0 (reference) first, g50 at raw position 51 -> rank 50
  const MetricReport report = score_cirr(split, rankings);
  EXPECT_NEAR(report.value("recall@50"), 50.0, 1e-9);  // q1 hit (rank 50), q2 miss (rank 51)
  EXPECT_NEAR(report.value("recall@10"), 0.0, 1e-9);
  // Subset views: q1 [g1,g2,g3,g4,g50] -> rank 5; q2 the same with g51 -> rank 5: all Rs@K miss.
  EXPECT_NEAR(report.value("recall_subset@3"), 0.0, 1e-9);
  EXPECT_EQ(report.per_query.at("subset_rank"), (std::vector<double>{5, 5}));
}

TEST(CirrMetrics, SubsetOnlyRankingsMustStayInsideTheGroup) {
  const BenchmarkSplit split = cirr_toy();
  // q1 subset file [a, t, b]: t at subset rank 2; q2 [b, c, t] -> 1; q3 [a, x, b] -> 2.
  const MetricReport report = score_cirr_subset(split, {{"a", "t", "b"}, {"b", "c", "t"}, {"a", "x", "b"}});
  EXPECT_NEAR(report.value("recall_subset@1"), 100.0 / 3, 1e-9);
  EXPECT_NEAR(report.value("recall_subset@2"), 100.0, 1e-9);
  EXPECT_FALSE(report.find("recall@1").has_value());
  // "y" is not in q1's img_set: rejected, naming the query.
  expect_error(
      [&] {
        score_cirr_subset(split, {{"y", "t", "b"}, {"b"}, {"x"}});
      },
      ErrorCode::kInvalidArgument, "query '1'");
}

TEST(CirrMetrics, RejectsBadRankings) {
  const BenchmarkSplit split = cirr_toy();
  expect_error(
      [&] {
        score_cirr(split, {{"y", "y"}, {"b"}, {"x"}});
      },
      ErrorCode::kInvalidArgument, "image 'y' more than once");
  expect_error([&] { score_cirr(split, {{"nope"}, {"b"}, {"x"}}); }, ErrorCode::kInvalidArgument, "'nope'");
  expect_error([&] { score_cirr(split, {{"t"}}); }, ErrorCode::kInvalidArgument, "one ranking per query");
  BenchmarkSplit test1 = split;
  for (EvalQuery& query : test1.queries) query.targets.clear();
  expect_error(
      [&] {
        score_cirr(test1, {{"t"}, {"b"}, {"x"}});
      },
      ErrorCode::kInvalidArgument, "no public ground truth");
}

// ---------------------------------------------------------------------------------------------
// CIRCO

BenchmarkSplit circo_toy() {
  EvalQuery q0 = make_query("0", "ref0", {"g3", "g1", "g2"});
  q0.extra["target_img_id"] = "g3";
  q0.extra["semantic_aspects"] = "cardinality,addition";
  EvalQuery q1 = make_query("1", "ref1", {"h"});
  q1.extra["target_img_id"] = "h";
  q1.extra["semantic_aspects"] = "addition";
  return make_split("circo", {q0, q1}, {});
}

TEST(CircoMetrics, MapWithMinDenominatorOnHandCase) {
  const BenchmarkSplit split = circo_toy();
  const Rankings rankings = {
      // q0 rel = 0,1,1,0,0,1 (GT g3,g1,g2): P(2)=1/2, P(3)=2/3, P(6)=3/6.
      //   AP@5  = (1/2 + 2/3) / min(3,5) = (7/6)/3 = 7/18
      //   AP@10 = (1/2 + 2/3 + 1/2) / 3 = (5/3)/3 = 5/9 (same for @25, @50)
      {"x", "g2", "g1", "y", "z", "g3"},
      // q1: 1 GT found at rank 2 -> AP = (1/2)/min(1,K) = 0.5 for every K.
      {"a", "h"},
  };
  const MetricReport report = score_circo(split, rankings);
  EXPECT_NEAR(report.value("map@5"), 100.0 * (7.0 / 18 + 0.5) / 2, 1e-9);  // 44.444
  EXPECT_NEAR(report.value("map@10"), 100.0 * (5.0 / 9 + 0.5) / 2, 1e-9);  // 52.778
  EXPECT_NEAR(report.value("map@25"), 100.0 * (5.0 / 9 + 0.5) / 2, 1e-9);
  EXPECT_NEAR(report.value("map@50"), 100.0 * (5.0 / 9 + 0.5) / 2, 1e-9);
  // Recall looks for target_img_id only: q0's g3 is at rank 6 (miss @5, hit @10), q1's h at 2.
  EXPECT_NEAR(report.value("recall@5"), 50.0, 1e-9);
  EXPECT_NEAR(report.value("recall@10"), 100.0, 1e-9);
  // Semantic mAP@10: cardinality = {q0} -> 5/9; addition = {q0, q1} -> (5/9 + 1/2)/2.
  EXPECT_NEAR(report.value("semantic_map@10/cardinality"), 100.0 * 5.0 / 9, 1e-9);
  EXPECT_NEAR(report.value("semantic_map@10/addition"), 100.0 * (5.0 / 9 + 0.5) / 2, 1e-9);
  EXPECT_FALSE(report.find("semantic_map@10/negation").has_value());  // no query carries it
  EXPECT_NEAR(report.per_query.at("ap@5")[0], 7.0 / 18, 1e-12);
}

TEST(CircoMetrics, DenominatorIsMinOfGroundTruthAndK) {
  // 7 GTs, the first 5 ranked positions all GT and nothing else found:
  //   AP@5 = (1+1+1+1+1) / min(7,5) = 1;  AP@10 = 5 / min(7,10) = 5/7.
  EvalQuery query = make_query("0", "ref", {"a", "b", "c", "d", "e", "f", "g"});
  const BenchmarkSplit split = make_split("circo", {query}, {});
  const MetricReport report = score_circo(split, {{"a", "b", "c", "d", "e", "x", "y"}});
  EXPECT_NEAR(report.value("map@5"), 100.0, 1e-9);
  EXPECT_NEAR(report.value("map@10"), 100.0 * 5.0 / 7, 1e-9);
  // Positions beyond the submitted list contribute 0; the reference is not removed: a list
  // starting with the reference pushes every GT one place down.
  const MetricReport with_reference = score_circo(split, {{"ref", "a", "b", "c", "d", "e"}});
  // rel = 0,1,1,1,1 in the top 5: P = 1/2, 2/3, 3/4, 4/5 -> sum 2.7167 / 5.
  EXPECT_NEAR(with_reference.value("map@5"), 100.0 * (0.5 + 2.0 / 3 + 0.75 + 0.8) / 5, 1e-9);
}

TEST(CircoMetrics, DuplicateIdsAreRejectedNamingTheQuery) {
  const BenchmarkSplit split = circo_toy();
  expect_error(
      [&] {
        score_circo(split, {{"x", "g2"}, {"a", "h", "a"}});
      },
      ErrorCode::kInvalidArgument, "query '1': ranking lists image 'a' more than once");
}

// ---------------------------------------------------------------------------------------------
// FashionIQ

TEST(FashionIqMetrics, RecallKeepsTheReference) {
  std::vector<std::string> gallery;
  for (int i = 0; i < 60; ++i) gallery.push_back("p" + std::to_string(i));
  // q0: reference p0 ranked first, target p10 at position 11 -> rank 11 because the reference
  //     is not excluded (it would be 10 if it were): R@10 miss, R@50 hit.
  // q1: target p2 at rank 3 -> hit at both.
  BenchmarkSplit split =
      make_split("fashioniq-dress", {make_query("0", "p0", {"p10"}), make_query("1", "p5", {"p2"})}, gallery);
  Rankings rankings(2, gallery);
  const MetricReport report = score_fashioniq(split, rankings);
  EXPECT_NEAR(report.value("recall@10"), 50.0, 1e-9);
  EXPECT_NEAR(report.value("recall@50"), 100.0, 1e-9);
  EXPECT_EQ(report.per_query.at("target_rank"), (std::vector<double>{11, 3}));
}

TEST(FashionIqMetrics, AverageOverCategories) {
  auto category_report = [](std::string category, double r10, double r50) {
    MetricReport report;
    report.benchmark = "fashioniq-" + category;
    report.split = "val";
    report.n_queries = 10;
    report.metrics = {{"recall@10", r10}, {"recall@50", r50}};
    return report;
  };
  const MetricReport average = average_fashioniq(
      {category_report("dress", 30, 50), category_report("shirt", 40, 60), category_report("toptee", 50, 70)});
  // avg R@10 = (30+40+50)/3 = 40; avg R@50 = (50+60+70)/3 = 60; avg = (40+60)/2 = 50.
  EXPECT_NEAR(average.value("avg_recall@10"), 40.0, 1e-9);
  EXPECT_NEAR(average.value("avg_recall@50"), 60.0, 1e-9);
  EXPECT_NEAR(average.value("avg"), 50.0, 1e-9);
  EXPECT_NEAR(average.value("shirt/recall@50"), 60.0, 1e-9);
  EXPECT_EQ(average.n_queries, 30);
  MetricReport cirr = category_report("x", 1, 2);
  cirr.benchmark = "cirr";
  expect_error([&] { average_fashioniq({cirr}); }, ErrorCode::kInvalidArgument, "FashionIQ");
}

// ---------------------------------------------------------------------------------------------
// LaSCo and custom triplets

TEST(LascoMetrics, ReferenceDroppedUnlessItIsTheTarget) {
  const std::vector<std::string> gallery = {"r", "x", "t", "y"};
  BenchmarkSplit split = make_split("lasco", {make_query("1", "r", {"t"}), make_query("2", "t", {"t"})}, gallery);
  // q1: [r, x, t] -> r dropped -> t at rank 2: miss @1, hit @5.
  // q2: the reference is the target: kept -> rank 1.
  const MetricReport report = score_lasco(split, {{"r", "x", "t"}, {"t", "x"}});
  EXPECT_NEAR(report.value("recall@1"), 50.0, 1e-9);
  EXPECT_NEAR(report.value("recall@5"), 100.0, 1e-9);
  EXPECT_NEAR(report.value("recall@500"), 100.0, 1e-9);
}

TEST(TripletMetrics, AnyTargetCountsForRecallAndMapUsesMinDenominator) {
  const std::vector<std::string> gallery = {"r", "a", "b", "c", "d"};
  BenchmarkSplit split = make_split("triplets", {make_query("q", "r", {"b", "d"})}, gallery);
  // [r, a, b, c, d] -> r dropped -> [a, b, c, d]: first target b at rank 2.
  // AP@5 = (P(2)=1/2 + P(4)=2/4) / min(2,5) = 1/2.
  const MetricReport report = score_triplets(split, {{"r", "a", "b", "c", "d"}});
  EXPECT_NEAR(report.value("recall@1"), 0.0, 1e-9);
  EXPECT_NEAR(report.value("recall@5"), 100.0, 1e-9);
  EXPECT_NEAR(report.value("map@5"), 50.0, 1e-9);
}

// ---------------------------------------------------------------------------------------------
// Focus-CoIR

BenchmarkSplit focus_toy() {
  // q0: 40 candidates, 25 positives. Ranked by descending score: 1-10 positive, 11-20
  //     negative, 21-35 positive, 36-40 negative.
  EvalQuery q0 = make_query("q0", "query0.jpg", {});
  for (int i = 1; i <= 40; ++i) {
    const int label = (i <= 10 || (i >= 21 && i <= 35)) ? 1 : 0;
    q0.candidates.emplace_back("c" + std::to_string(100 + i), label);
  }
  // q1: 25 candidates, one positive, ranked 21st.
  EvalQuery q1 = make_query("q1", "query1.jpg", {});
  for (int i = 1; i <= 25; ++i) q1.candidates.emplace_back("d" + std::to_string(100 + i), i == 21 ? 1 : 0);
  for (EvalQuery* query : {&q0, &q1})
    for (const auto& [name, label] : query->candidates)
      if (label >= 1) query->targets.push_back(name);
  return make_split("focus-coir", {q0, q1}, {});
}

std::vector<float> descending_scores(size_t n) {
  std::vector<float> scores;
  for (size_t i = 0; i < n; ++i) scores.push_back(static_cast<float>(n - i));
  return scores;
}

TEST(FocusCoirMetrics, ZiracleAndStandardApOnHandCase) {
  const BenchmarkSplit split = focus_toy();
  const MetricReport report = score_focus_coir_scores(split, {descending_scores(40), descending_scores(25)});
  EXPECT_EQ(report.unit, "fraction");
  // q0: top 20 holds 10 hits at ranks 1..10, P(i) = 1 -> sum_20 = 10.
  //   ZIRACLE AP@20  = 10 / (hits in top 20 = 10) = 1.0
  //   standard AP@20 = 10 / min(25, 20) = 0.5
  //   AP (full)      = (10 + sum_{j=11..25} j/(j+10)) / 25 = (10 + 9.509582) / 25 = 0.780383
  //   P@20 = 10/20 = 0.5; P@50 = 25/50 = 0.5 (divided by K, not by the 40 listed)
  // q1: its one positive is at rank 21.
  //   AP@20 (both) = 0 (no hit in the top 20); AP = (1/21)/1 = 0.047619; P@20 = 0; P@50 = 1/50
  EXPECT_NEAR(report.value("ap@20"), (1.0 + 0.0) / 2, 1e-9);
  EXPECT_NEAR(report.value("ap@20_standard"), (0.5 + 0.0) / 2, 1e-9);
  EXPECT_NEAR(report.value("ap"), (0.7803832952507281 + 1.0 / 21) / 2, 1e-9);
  EXPECT_NEAR(report.value("p@20"), (0.5 + 0.0) / 2, 1e-9);
  EXPECT_NEAR(report.value("p@50"), (0.5 + 0.02) / 2, 1e-9);
  EXPECT_NEAR(report.per_query.at("ap")[1], 1.0 / 21, 1e-12);
}

TEST(FocusCoirMetrics, RankingsMustUseTheQuerysOwnCandidates) {
  const BenchmarkSplit split = focus_toy();
  expect_error(
      [&] {
        score_focus_coir(split, {{"c101", "d101"}, {"d101"}});
      },
      ErrorCode::kInvalidArgument, "query 'q0': ranking position 2 is image 'd101'");
  expect_error(
      [&] {
        score_focus_coir_scores(split, {descending_scores(3), descending_scores(25)});
      },
      ErrorCode::kInvalidArgument, "one score per candidate");
}

// A query none of whose candidate images could be indexed (a partly downloaded BDD100K) has an
// empty ranking: every positive is a miss, so its scores are 0 and they still count in the mean.
TEST(FocusCoirMetrics, EmptyRankingScoresZero) {
  const BenchmarkSplit split = focus_toy();
  const MetricReport report = score_focus_coir(split, {{}, {"d121"}});
  EXPECT_EQ(report.per_query.at("ap")[0], 0.0);
  EXPECT_EQ(report.per_query.at("ap@20")[0], 0.0);
  EXPECT_EQ(report.per_query.at("p@50")[0], 0.0);
  EXPECT_NEAR(report.value("ap"), (0.0 + 1.0) / 2, 1e-12);  // q1's one positive ranked first
  EXPECT_NEAR(report.value("p@20"), (0.0 + 1.0 / 20) / 2, 1e-12);
}

TEST(FocusCoirMetrics, TiesAreBrokenByImageIdNotFileOrder) {
  EvalQuery query;
  query.id = "q";
  query.candidates = {{"b.jpg", 0}, {"c.jpg", 1}, {"a.jpg", 1}, {"d.jpg", 0}};
  const std::vector<float> scores = {0.5f, 0.9f, 0.5f, 0.5f};
  // c (0.9) first, then the three 0.5 ties by id: a, b, d.
  EXPECT_EQ(rank_candidates(query, scores), (std::vector<std::string>{"c.jpg", "a.jpg", "b.jpg", "d.jpg"}));
  // The same candidates listed in another order rank identically.
  EvalQuery shuffled = query;
  shuffled.candidates = {{"d.jpg", 0}, {"a.jpg", 1}, {"c.jpg", 1}, {"b.jpg", 0}};
  EXPECT_EQ(rank_candidates(shuffled, std::vector<float>{0.5f, 0.5f, 0.9f, 0.5f}), rank_candidates(query, scores));
  const std::vector<float> with_nan = {0.5f, NAN, 0.1f, 0.2f};
  expect_error([&] { rank_candidates(query, with_nan); }, ErrorCode::kInvalidArgument, "NaN");
}

// ---------------------------------------------------------------------------------------------
// Registry dispatch and report output

TEST(ScoreRankings, DispatchesOnBenchmarkName) {
  const BenchmarkSplit split = circo_toy();
  const Rankings rankings = {{"x", "g2", "g1", "y", "z", "g3"}, {"a", "h"}};
  EXPECT_DOUBLE_EQ(score_rankings(split, rankings).value("map@5"), score_circo(split, rankings).value("map@5"));
  BenchmarkSplit unknown = split;
  unknown.benchmark = "nope";
  expect_error([&] { score_rankings(unknown, rankings); }, ErrorCode::kInvalidArgument, "unknown benchmark 'nope'");
  expect_error([&] { score_circo(split, rankings).value("map@7"); }, ErrorCode::kNotFound, "map@5, map@10");
  const std::string json = format_report_json(score_circo(split, rankings));
  EXPECT_NE(json.find("\"benchmark\":\"circo\""), std::string::npos) << json;
  EXPECT_LT(json.find("\"map@5\""), json.find("\"map@10\""));
}

}  // namespace
}  // namespace cir::eval
