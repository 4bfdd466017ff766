// Multi-vector items (BLIP-2 keeps 32 rows per image): the exact path equals a brute-force
// max-over-vectors computed here from the stored (decoded) vectors; search_scored equals a
// brute-force weighted rule and honours candidate lists, filters and exclusions; row_parts
// round-trip through manifest.json; the approximate first stage (HNSW over every vector, then
// exact rescoring of the candidate items) is measured against exact on a few thousand items.
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <unordered_set>

#include "index_test_util.h"

namespace cir::index {
namespace {

using cir::testing::TempDir;
using testing::make_manifest;
using testing::random_unit;

constexpr int kDim = 24;
constexpr int kPerItem = 8;

// Items "m<i>" with 1..kPerItem vectors each (item i has 1 + i % kPerItem), from `rows`.
std::vector<NewItem> multi_items(int64_t n_items, const FloatMatrix& rows, std::vector<int64_t>& first_row) {
  std::vector<NewItem> items;
  int64_t row = 0;
  first_row.clear();
  for (int64_t i = 0; i < n_items; ++i) {
    NewItem it;
    it.external_id = "m" + std::to_string(i);
    it.metadata["parity"] = static_cast<double>(i % 2);
    it.n_vectors = 1 + static_cast<int>(i % kPerItem);
    it.vectors = rows.row(row);
    first_row.push_back(row);
    row += it.n_vectors;
    items.push_back(std::move(it));
  }
  return items;
}

int64_t rows_needed(int64_t n_items) {
  int64_t n = 0;
  for (int64_t i = 0; i < n_items; ++i) n += 1 + i % kPerItem;
  return n;
}

struct Ranked {
  int64_t id;
  float score;
};

// Brute force over the store's own decoded vectors: max over each item's rows (or a weighted
// sum over rows with `weights`), ties by smaller id.
std::vector<Ranked> brute_force(const Store& store, const float* q, const std::vector<float>* weights,
                                const std::unordered_set<int64_t>* only = nullptr) {
  std::vector<Ranked> out;
  ListRequest req;
  req.limit = 1'000'000;
  req.with_metadata = false;
  for (const auto& rec : store.list_items(req)) {
    if (only && !only->count(rec.id)) continue;
    const FloatMatrix v = store.get_vectors({rec.id});
    double best = -1e30, sum = 0;
    for (int64_t r = 0; r < v.rows; ++r) {
      double s = 0;
      for (int k = 0; k < kDim; ++k) s += double(q[k]) * v.row(r)[k];
      best = std::max(best, s);
      if (weights) sum += (*weights)[static_cast<size_t>(r)] * s;
    }
    out.push_back({rec.id, static_cast<float>(weights ? sum : best)});
  }
  std::sort(out.begin(), out.end(), [](const Ranked& a, const Ranked& b) {
    return a.score != b.score ? a.score > b.score : a.id < b.id;
  });
  return out;
}

TEST(MultiVector, ExactSearchEqualsBruteForce) {
  for (const VectorDType dtype : {VectorDType::kFp16, VectorDType::kFp32}) {
    TempDir tmp;
    auto store = Store::create(tmp.str("idx"), make_manifest(kDim, "Flat", kPerItem, dtype));
    const int64_t n_items = 400;
    const FloatMatrix rows = random_unit(rows_needed(n_items), kDim, 11);
    std::vector<int64_t> first;
    store->add_items(multi_items(n_items, rows, first));
    const FloatMatrix queries = random_unit(6, kDim, 12);
    SearchRequest req;
    req.k = 25;
    req.exact = true;
    const SearchResult res = store->search(queries, req);
    for (int64_t q = 0; q < queries.rows; ++q) {
      const auto truth = brute_force(*store, queries.row(q), nullptr);
      const auto& hits = res.queries[static_cast<size_t>(q)].hits;
      ASSERT_EQ(hits.size(), 25u);
      for (size_t i = 0; i < hits.size(); ++i) {
        EXPECT_EQ(hits[i].id, truth[i].id) << "query " << q << " rank " << i + 1 << " dtype " << vector_dtype_name(dtype);
        EXPECT_NEAR(hits[i].score, truth[i].score, 1e-5);
      }
    }
    // Eight queries go through faiss's batched Flat path: still exact max-over-vectors.
    const FloatMatrix batch = random_unit(8, kDim, 13);
    const SearchResult batched = store->search(batch, req);
    for (int64_t q = 0; q < batch.rows; ++q) {
      const auto truth = brute_force(*store, batch.row(q), nullptr);
      for (size_t i = 0; i < batched.queries[static_cast<size_t>(q)].hits.size(); ++i)
        EXPECT_NEAR(batched.queries[static_cast<size_t>(q)].hits[i].score, truth[i].score, 1e-4);
    }
  }
}

TEST(MultiVector, ScoredSearchEqualsBruteForceWeightedRule) {
  TempDir tmp;
  auto store = Store::create(tmp.str("idx"), make_manifest(kDim, "Flat", kPerItem, VectorDType::kFp32));
  const int64_t n_items = 300;
  const FloatMatrix rows = random_unit(rows_needed(n_items), kDim, 21);
  std::vector<int64_t> first;
  const auto ids = store->add_items(multi_items(n_items, rows, first));
  const FloatMatrix q = random_unit(1, kDim, 22);
  std::vector<float> weights(kPerItem);
  for (int j = 0; j < kPerItem; ++j) weights[static_cast<size_t>(j)] = 0.05f + 0.1f * j;
  const Store::ItemScorer rule = [&](const float* products, int n) {
    double s = 0;
    for (int j = 0; j < n; ++j) s += weights[static_cast<size_t>(j)] * products[j];
    return static_cast<float>(s);
  };
  SearchRequest req;
  req.k = 30;
  const SearchResult res = store->search_scored(q, rule, req);
  ASSERT_EQ(res.queries.size(), 1u);
  const auto truth = brute_force(*store, q.row(0), &weights);
  ASSERT_EQ(res.queries[0].hits.size(), 30u);
  EXPECT_TRUE(res.queries[0].has_more);
  for (size_t i = 0; i < 30; ++i) {
    EXPECT_EQ(res.queries[0].hits[i].id, truth[i].id) << "rank " << i + 1;
    EXPECT_NEAR(res.queries[0].hits[i].score, truth[i].score, 1e-5);
    EXPECT_EQ(res.queries[0].hits[i].rank, static_cast<int>(i + 1));
  }

  // Candidate list + filter + exclusion: only even-parity candidates, minus one excluded.
  std::vector<int64_t> candidates(ids.begin(), ids.begin() + 50);
  candidates.push_back(987654);  // unknown ids are ignored
  req.candidate_ids = candidates;
  req.filter = Filter::match("parity", 0.0);
  req.exclude_ids_per_query = {{ids[0]}};
  req.k = 100;
  const SearchResult sub = store->search_scored(q, rule, req);
  std::unordered_set<int64_t> allowed;
  for (int i = 2; i < 50; i += 2) allowed.insert(ids[static_cast<size_t>(i)]);
  const auto sub_truth = brute_force(*store, q.row(0), &weights, &allowed);
  ASSERT_EQ(sub.queries[0].hits.size(), sub_truth.size());
  for (size_t i = 0; i < sub_truth.size(); ++i) EXPECT_EQ(sub.queries[0].hits[i].id, sub_truth[i].id);
  EXPECT_EQ(sub.queries[0].n_excluded, 1);
  EXPECT_EQ(sub.n_filtered, n_items / 2);
  EXPECT_FALSE(sub.queries[0].has_more);

  // The same candidate list restricts max-over-vectors search too.
  SearchRequest plain;
  plain.k = 100;
  plain.candidate_ids = std::vector<int64_t>(ids.begin(), ids.begin() + 10);
  const SearchResult restricted = store->search(q, plain);
  EXPECT_EQ(restricted.queries[0].hits.size(), 10u);
  for (const auto& h : restricted.queries[0].hits) EXPECT_LE(h.id, ids[9]);

  // Bad input is an error, never a crash.
  EXPECT_THROW(store->search_scored(random_unit(1, kDim + 1, 1), rule, {}), Error);
  EXPECT_THROW(store->search_scored(q, Store::ItemScorer{}, {}), Error);
}

TEST(MultiVector, RowPartsRoundTrip) {
  TempDir tmp;
  IndexManifest m = make_manifest(kDim, "Flat", kPerItem);
  m.model.family = "blip2";
  m.row_parts = {{"features", 8}, {"query_embeds", 16}};
  Store::create(tmp.str("idx"), m);
  auto store = Store::open(tmp.str("idx"));
  ASSERT_EQ(store->manifest().row_parts.size(), 2u);
  EXPECT_EQ(store->manifest().row_parts[1].name, "query_embeds");
  EXPECT_EQ(store->manifest().row_parts[1].dim, 16);
  // Parts that do not cover the row are refused at create and at parse time.
  IndexManifest bad = m;
  bad.row_parts = {{"features", 8}};
  EXPECT_THROW(Store::create(tmp.str("bad"), bad), Error);
  const std::string text = manifest_to_json(bad);
  EXPECT_THROW(manifest_from_json(text, "manifest.json"), Error);
  // Single-part manifests do not mention row_parts at all (older readers stay happy).
  EXPECT_EQ(manifest_to_json(make_manifest(kDim)).find("row_parts"), std::string::npos);
}

// A few thousand items x 8 vectors in an HNSW index: the store's approximate route (ANN over
// every vector, candidate items rescored exactly) against the exact scan.
TEST(MultiVector, ApproximateRecallOnThousandsOfItems) {
  TempDir tmp;
  constexpr int kRecallDim = 32;
  constexpr int64_t kItems = 3000;
  auto store = Store::create(tmp.str("idx"), make_manifest(kRecallDim, "HNSW32", kPerItem));
  const FloatMatrix rows = random_unit(kItems * kPerItem, kRecallDim, 31);
  std::vector<NewItem> items;
  for (int64_t i = 0; i < kItems; ++i) {
    NewItem it;
    it.external_id = "r" + std::to_string(i);
    it.vectors = rows.row(i * kPerItem);
    it.n_vectors = kPerItem;
    items.push_back(std::move(it));
  }
  for (size_t begin = 0; begin < items.size(); begin += 1000)
    store->add_items(std::vector<NewItem>(items.begin() + static_cast<std::ptrdiff_t>(begin),
                                          items.begin() + static_cast<std::ptrdiff_t>(std::min(items.size(), begin + 1000))));
  ASSERT_EQ(store->ann_key(), "HNSW32");
  // Queries near stored vectors (what a real query looks like: close to some image) and
  // uniformly random ones (the hard case for a graph index).
  FloatMatrix near(64, kRecallDim);
  const FloatMatrix noise = random_unit(64, kRecallDim, 32);
  for (int64_t q = 0; q < near.rows; ++q)
    for (int k = 0; k < kRecallDim; ++k) near.row(q)[k] = rows.row(q * 373 % rows.rows)[k] + 0.5f * noise.row(q)[k];
  normalize_rows(near);
  const RecallReport near_recall = store->measure_recall(near, 10);
  const RecallReport random_recall = store->measure_recall(random_unit(64, kRecallDim, 33), 10);
  std::cout << "multi-vector HNSW32 recall@10 over " << kItems << " items x " << kPerItem
            << " vectors: near-item queries " << near_recall.recall << " (" << near_recall.ann_ms_per_query
            << " ms vs exact " << near_recall.exact_ms_per_query << " ms), random queries " << random_recall.recall
            << "\n";
  ::testing::Test::RecordProperty("recall_near", std::to_string(near_recall.recall));
  ::testing::Test::RecordProperty("recall_random", std::to_string(random_recall.recall));
  EXPECT_GE(near_recall.recall, 0.95);
  EXPECT_GE(random_recall.recall, 0.8);
  // Whatever the ANN returns is rescored exactly: every score is the item's true max.
  SearchRequest req;
  req.k = 10;
  const SearchResult approx = store->search(near, req);
  for (int64_t q = 0; q < 4; ++q)
    for (const Hit& h : approx.queries[static_cast<size_t>(q)].hits) {
      const FloatMatrix v = store->get_vectors({h.id});
      float best = -2;
      for (int64_t r = 0; r < v.rows; ++r) {
        float s = 0;
        for (int k = 0; k < kRecallDim; ++k) s += near.row(q)[k] * v.row(r)[k];
        best = std::max(best, s);
      }
      EXPECT_NEAR(h.score, best, 1e-4);
    }
}

}  // namespace
}  // namespace cir::index
