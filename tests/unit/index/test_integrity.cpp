// Damage from outside the process: corrupted older vector blocks (verify names them), non-finite
// stored rows (never a hit), vectors.bin truncated or replaced under an open Store (a clear error,
// not SIGBUS), and ids that are not UTF-8 (exported escaped, imported back).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "index/vector_file.h"
#include "index_test_util.h"

namespace cir::index {
namespace {

namespace fs = std::filesystem;
using cir::testing::TempDir;
using testing::make_items;
using testing::make_manifest;
using testing::random_unit;

constexpr int kDim = 16;
constexpr int64_t kFileHeader = 64, kBlockHeader = 32;
constexpr int64_t kRowBytes = kDim * 2;  // fp16

SearchRequest top(int k) {
  SearchRequest r;
  r.k = k;
  return r;
}

// Byte offset of block b's header when every block holds `rows` rows.
int64_t block_offset(int64_t b, int64_t rows) { return kFileHeader + b * (kBlockHeader + rows * kRowBytes); }

void overwrite(const std::string& path, int64_t offset, const void* data, size_t n) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.good()) << path;
  f.seekp(offset);
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
}

// An index of 3 blocks of 10 items ("a0".."a29"), closed.
std::string build_three_blocks(const TempDir& tmp, const FloatMatrix& vecs) {
  const std::string dir = tmp.str("idx");
  auto store = Store::create(dir, make_manifest(kDim));
  for (int b = 0; b < 3; ++b) store->add_items(make_items("a", b * 10, b * 10 + 10, vecs));
  return dir;
}

bool mentions(const VerifyReport& r, const std::string& file, int64_t offset, const std::string& word) {
  for (const auto& p : r.problems)
    if (p.file == file && p.byte_offset == offset && p.message.find(word) != std::string::npos) return true;
  return false;
}

std::string listing(const VerifyReport& r) {
  std::string out;
  for (const auto& p : r.problems) out += p.file + " @" + std::to_string(p.byte_offset) + ": " + p.message + "\n";
  return out;
}

TEST(IndexIntegrity, VerifyOfASoundIndexCountsEverything) {
  TempDir tmp;
  const FloatMatrix vecs = random_unit(30, kDim, 1);
  const std::string dir = build_three_blocks(tmp, vecs);
  const VerifyReport r = verify_index(dir);
  EXPECT_TRUE(r.ok()) << listing(r);
  EXPECT_EQ(r.n_blocks, 3);
  EXPECT_EQ(r.n_rows, 30);
  EXPECT_EQ(r.n_items, 30);
  EXPECT_EQ(r.uncommitted_bytes, 0);
}

TEST(IndexIntegrity, VerifyNamesADamagedOlderBlockAndItsByte) {
  TempDir tmp;
  const FloatMatrix vecs = random_unit(30, kDim, 2);
  const std::string dir = build_three_blocks(tmp, vecs);
  // One flipped byte in block 0's payload: open() checks only the last block, so this is served.
  const int64_t block0 = block_offset(0, 10);
  const uint8_t junk = 0x5a;
  overwrite(dir + "/vectors.bin", block0 + kBlockHeader + 7, &junk, 1);

  const VerifyReport r = verify_index(dir);
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(mentions(r, "vectors.bin", block0, "block 0 at byte " + std::to_string(block0))) << listing(r);
  EXPECT_TRUE(mentions(r, "vectors.bin", block0, "checksum mismatch")) << listing(r);
  EXPECT_TRUE(mentions(r, "vectors.bin", block0, "10 live item(s)")) << listing(r);
  EXPECT_FALSE(mentions(r, "vectors.bin", block_offset(1, 10), "checksum")) << listing(r);

  // The same check on an open store (what the server exposes).
  auto store = Store::open(dir, {.read_only = true});
  const VerifyReport live = store->verify();
  EXPECT_TRUE(mentions(live, "vectors.bin", block0, "checksum mismatch")) << listing(live);
}

TEST(IndexIntegrity, VerifyListsATruncatedFileInsteadOfThrowing) {
  TempDir tmp;
  const FloatMatrix vecs = random_unit(30, kDim, 3);
  const std::string dir = build_three_blocks(tmp, vecs);
  fs::resize_file(dir + "/vectors.bin", static_cast<uintmax_t>(block_offset(2, 10) + 40));
  const VerifyReport r = verify_index(dir);
  EXPECT_TRUE(mentions(r, "vectors.bin", block_offset(2, 10), "truncated")) << listing(r);
  EXPECT_EQ(r.n_blocks, 2);
}

// Rows set to +inf (fp16 0x7c00) in an older block: the item's score is not finite.
std::string build_with_infinite_row(const TempDir& tmp, const FloatMatrix& vecs, int64_t row) {
  const std::string dir = build_three_blocks(tmp, vecs);
  std::vector<uint16_t> inf(kDim, 0x7c00);
  const int64_t b = row / 10;
  overwrite(dir + "/vectors.bin", block_offset(b, 10) + kBlockHeader + (row % 10) * kRowBytes, inf.data(), kRowBytes);
  return dir;
}

// `counted`: whether the route must count the skipped item (faiss's batched Flat scan drops
// non-finite rows itself, before the store sees them).
void expect_all_finite_without(const SearchResult& r, int64_t bad_id, bool counted = true) {
  for (const QueryHits& q : r.queries) {
    EXPECT_EQ(q.n_invalid, counted ? 1 : q.n_invalid);
    EXPECT_LE(q.n_invalid, 1);
    for (const Hit& h : q.hits) {
      EXPECT_TRUE(std::isfinite(h.score)) << "item " << h.id;
      EXPECT_NE(h.id, bad_id);
    }
  }
}

TEST(IndexIntegrity, ANonFiniteRowNeverReachesResults) {
  TempDir tmp;
  const FloatMatrix vecs = random_unit(30, kDim, 4);
  const std::string dir = build_with_infinite_row(tmp, vecs, 5);
  auto store = Store::open(dir);
  const int64_t bad_id = store->find_by_external_id("a5")->id;
  SearchRequest req;
  req.k = 30;
  // One query takes our exact scan; eight take faiss's batched path.
  for (int64_t n_queries : {1, 8}) {
    const SearchResult r = store->search(random_unit(n_queries, kDim, 40), req);
    expect_all_finite_without(r, bad_id, /*counted=*/n_queries == 1);
    EXPECT_EQ(r.queries[0].hits.size(), 29u);
  }
  req.filter = Filter::match("cir:none", std::string("x"));
  req.filter = Filter::negate(req.filter);  // a filtered (subset) search
  expect_all_finite_without(store->search(random_unit(1, kDim, 41), req), bad_id);
  const Store::ItemScorer sum = [](const float* p, int n) {
    float s = 0;
    for (int i = 0; i < n; ++i) s += p[i];
    return s;
  };
  expect_all_finite_without(store->search_scored(random_unit(1, kDim, 42), sum, top(30)), bad_id);
  EXPECT_GE(store->info().n_invalid_scores, 3);
}

TEST(IndexIntegrity, TruncatedVectorsUnderAnOpenStoreIsAClearError) {
  TempDir tmp;
  const FloatMatrix vecs = random_unit(30, kDim, 5);
  const std::string dir = build_three_blocks(tmp, vecs);
  auto store = Store::open(dir, {.read_only = true});
  const FloatMatrix q = random_unit(1, kDim, 50);
  ASSERT_EQ(store->search(q, top(5)).queries[0].hits.size(), 5u);
  // Another process truncates the mapped file: reading the map now would raise SIGBUS.
  fs::resize_file(dir + "/vectors.bin", 100);
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      store->search(q, top(5));
      ADD_FAILURE() << "search on a truncated vectors.bin returned";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
      EXPECT_NE(std::string(e.what()).find("vectors.bin"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(store->get_vectors({store->find_by_external_id("a0")->id}), Error);
}

// The window check_unchanged cannot close: the file is cut after the check and before the copy.
// Reading the map directly (no check first) stands for that moment: kCorrupt, not SIGBUS.
TEST(IndexIntegrity, TruncationBetweenCheckAndReadIsAClearErrorNotSigbus) {
  TempDir tmp;
  const std::string path = tmp.str("vectors.bin");
  constexpr int64_t kRows = 1024;  // 32 KiB of fp16 rows: eight pages, most past a 100-byte file
  detail::VectorFile::create(path, kDim, VectorDType::kFp16, 7);
  {
    detail::VectorFile writer(path, kDim, VectorDType::kFp16, 7, 0, /*writable=*/true);
    const std::vector<uint16_t> payload(static_cast<size_t>(kRows * kDim), 0x3c00);  // 1.0 in fp16
    writer.append(payload.data(), kRows);
    writer.publish();
  }
  detail::VectorFile reader(path, kDim, VectorDType::kFp16, 7, kRows, /*writable=*/false);
  std::vector<float> row(kDim);
  reader.read_rows(kRows - 1, 1, row.data());
  EXPECT_EQ(row[0], 1.0f);
  fs::resize_file(path, 100);
  for (int attempt = 0; attempt < 2; ++attempt) {  // the guard re-arms after a fault
    try {
      reader.read_rows(kRows - 1, 1, row.data());
      ADD_FAILURE() << "a mapped read past the truncated end returned";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
      EXPECT_NE(std::string(e.what()).find("vectors.bin"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
    }
  }
}

TEST(IndexIntegrity, ReplacedVectorsUnderAnOpenStoreIsAClearError) {
  TempDir tmp;
  const FloatMatrix vecs = random_unit(30, kDim, 6);
  const std::string dir = build_three_blocks(tmp, vecs);
  auto store = Store::open(dir, {.read_only = true});
  fs::copy_file(dir + "/vectors.bin", dir + "/copy.bin");
  fs::rename(dir + "/copy.bin", dir + "/vectors.bin");
  try {
    store->search(random_unit(1, kDim, 60), top(5));
    ADD_FAILURE() << "search on a replaced vectors.bin returned";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
    EXPECT_NE(std::string(e.what()).find("replaced"), std::string::npos) << e.what();
  }
}

TEST(IndexIntegrity, WritesOfTheStoreItselfAreNotMistakenForOutsideChanges) {
  TempDir tmp;
  const FloatMatrix vecs = random_unit(60, kDim, 7);
  auto store = Store::create(tmp.str("idx"), make_manifest(kDim));
  for (int b = 0; b < 6; ++b) {
    store->add_items(make_items("a", b * 10, b * 10 + 10, vecs));
    EXPECT_EQ(store->search(random_unit(1, kDim, 70), top(3)).queries[0].hits.size(), 3u);
  }
  store->remove_items({1, 2});
  store->compact();
  EXPECT_EQ(store->search(random_unit(1, kDim, 71), top(3)).queries[0].hits.size(), 3u);
}

TEST(IndexIntegrity, NonUtf8IdsAreExportedEscapedAndImportedBack) {
  TempDir tmp;
  const FloatMatrix vecs = random_unit(2, kDim, 8);
  auto store = Store::create(tmp.str("idx"), make_manifest(kDim));
  auto items = make_items("ok", 0, 2, vecs);
  const std::string raw_id = std::string("photos/caf\xe9 100%\xff.png");  // Latin-1 file name
  items[1].external_id = raw_id;
  items[1].caption = "caf\xe9";
  store->add_items(items);
  ASSERT_EQ(store->export_clip_retrieval(tmp.str("out")), 2);

  std::ifstream in(tmp.str("out/metadata/metadata_0.jsonl"));
  std::string line;
  std::vector<nlohmann::json> rows;
  while (std::getline(in, line)) rows.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_FALSE(rows[0].contains("escaped_fields"));
  EXPECT_EQ(rows[1]["image_path"], "photos/caf%E9 100%25%FF.png");
  EXPECT_EQ(rows[1]["escaped_fields"], (nlohmann::json{"image_path", "caption"}));

  auto back = Store::create(tmp.str("back"), make_manifest(kDim));
  ASSERT_EQ(back->import_clip_retrieval(tmp.str("out")), 2);
  const auto item = back->find_by_external_id(raw_id);
  ASSERT_TRUE(item.has_value());
  EXPECT_EQ(item->caption, "caf\xe9");
}

}  // namespace
}  // namespace cir::index
