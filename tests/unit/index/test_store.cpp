// Store lifecycle, items, metadata, bad input, compaction, clip-retrieval layout.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "index_test_util.h"

namespace cir::index {
namespace {

using testing::make_items;
using testing::make_manifest;
using testing::max_abs_diff;
using testing::random_unit;
using cir::testing::TempDir;

template <typename Fn>
Error expect_error(Fn&& fn, ErrorCode code) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(error_code_name(e.code()), error_code_name(code)) << e.what();
    return e;
  }
  ADD_FAILURE() << "expected cir::Error " << error_code_name(code);
  return Error(ErrorCode::kInternal, "no error");
}

TEST(IndexStore, CreateOpenRoundTrip) {
  TempDir tmp;
  const std::string dir = tmp.str("idx");
  const FloatMatrix vecs = random_unit(100, 32, 1);
  IndexManifest m = make_manifest(32);
  m.preprocess.resize_mode = ResizeMode::kTargetPad;
  m.preprocess.image_size = 336;
  std::vector<int64_t> ids;
  {
    auto store = Store::create(dir, m);
    auto items = make_items("img/", 0, 100, vecs);
    for (size_t i = 0; i < items.size(); ++i) {
      items[i].metadata["color"] = std::string(i % 2 ? "red" : "blue");
      items[i].metadata["size"] = static_cast<double>(i % 7);
    }
    ids = store->add_items(items);
    ASSERT_EQ(ids.size(), 100u);
    EXPECT_EQ(store->count(), 100);
  }
  auto store = Store::open(dir);
  const IndexManifest& got = store->manifest();
  EXPECT_EQ(got.embed_dim, 32);
  EXPECT_EQ(got.dtype, VectorDType::kFp16);
  EXPECT_EQ(got.index_key, "Flat");
  EXPECT_EQ(got.model.weights_sha256, "abc123");
  EXPECT_EQ(got.preprocess.resize_mode, ResizeMode::kTargetPad);
  EXPECT_EQ(got.preprocess.image_size, 336);
  EXPECT_FALSE(got.created_at.empty());
  EXPECT_FALSE(got.cir_version.empty());
  EXPECT_EQ(store->count(), 100);

  const auto item = store->find_by_external_id("img/7");
  ASSERT_TRUE(item.has_value());
  EXPECT_EQ(item->id, ids[7]);
  EXPECT_EQ(item->caption, "caption 7");
  EXPECT_EQ(item->content_hash, "h7");
  EXPECT_EQ(item->size_bytes, 1007);
  EXPECT_EQ(item->mtime, 1700000007);
  EXPECT_EQ(item->n_vectors, 1);
  EXPECT_FALSE(item->removed);
  EXPECT_EQ(std::get<std::string>(item->metadata.at("color")), "red");
  EXPECT_EQ(std::get<double>(item->metadata.at("size")), 0.0);
  EXPECT_FALSE(store->find_by_external_id("nope").has_value());
  EXPECT_FALSE(store->get_item(99999).has_value());

  const FloatMatrix back = store->get_vectors({ids[3], ids[50]});
  ASSERT_EQ(back.rows, 2);
  EXPECT_LT(max_abs_diff(back.row(0), vecs.row(3), 32), 2e-3f);  // fp16 storage
  EXPECT_LT(max_abs_diff(back.row(1), vecs.row(50), 32), 2e-3f);

  // The item's own vector finds itself first.
  SearchRequest req;
  req.k = 1;
  FloatMatrix q(1, 32);
  std::copy_n(vecs.row(42), 32, q.row(0));
  const SearchResult r = store->search(q, req);
  ASSERT_EQ(r.queries[0].hits.size(), 1u);
  EXPECT_EQ(r.queries[0].hits[0].id, ids[42]);
  EXPECT_NEAR(r.queries[0].hits[0].score, 1.0f, 2e-3f);
  EXPECT_EQ(r.queries[0].hits[0].rank, 1);
}

TEST(IndexStore, Fp32StoresExactly) {
  TempDir tmp;
  const FloatMatrix vecs = random_unit(10, 16, 2);
  auto store = Store::create(tmp.str("idx"), make_manifest(16, "Flat", 1, VectorDType::kFp32));
  const auto ids = store->add_items(make_items("a", 0, 10, vecs));
  const FloatMatrix back = store->get_vectors(ids);
  EXPECT_EQ(max_abs_diff(back.data.data(), vecs.data.data(), vecs.data.size()), 0.0f);
}

TEST(IndexStore, AddRemoveReplace) {
  TempDir tmp;
  const std::string dir = tmp.str("idx");
  const FloatMatrix vecs = random_unit(60, 16, 3);
  auto store = Store::create(dir, make_manifest(16));
  const auto ids = store->add_items(make_items("p", 0, 50, vecs));
  EXPECT_EQ(store->remove_items({ids[0], ids[1], ids[1], 123456}), 2);
  EXPECT_EQ(store->remove_by_external_ids({"p2", "p2", "missing"}), 1);
  EXPECT_EQ(store->remove_items({ids[0]}), 0);  // already removed
  EXPECT_EQ(store->count(), 47);
  EXPECT_TRUE(store->get_item(ids[0])->removed);
  expect_error([&] { store->get_vectors({ids[0]}); }, ErrorCode::kNotFound);

  // Replace a live item: same id, new vectors, new caption, metadata replaced.
  auto rep = make_items("p", 10, 11, vecs);
  rep[0].vectors = vecs.row(55);
  rep[0].caption = "new";
  rep[0].metadata["k"] = std::string("v");
  EXPECT_EQ(store->add_items(rep)[0], ids[10]);
  // Re-add a removed item: revived with the same id.
  auto revive = make_items("p", 0, 1, vecs);
  EXPECT_EQ(store->add_items(revive)[0], ids[0]);
  EXPECT_EQ(store->count(), 48);
  EXPECT_EQ(store->get_item(ids[10])->caption, "new");
  EXPECT_LT(max_abs_diff(store->get_vectors({ids[10]}).row(0), vecs.row(55), 16), 2e-3f);

  // Search never returns the replaced vector of p10 nor removed items.
  FloatMatrix q(1, 16);
  std::copy_n(vecs.row(10), 16, q.row(0));
  SearchRequest req;
  req.k = 48;
  const auto r = store->search(q, req);
  ASSERT_EQ(r.queries[0].hits.size(), 48u);
  std::set<int64_t> seen;
  for (const Hit& h : r.queries[0].hits) {
    EXPECT_TRUE(seen.insert(h.id).second) << "duplicate id " << h.id;
    EXPECT_NE(h.id, ids[1]);
    EXPECT_NE(h.id, ids[2]);
  }

  ListRequest lr;
  lr.limit = 20;
  auto page1 = store->list_items(lr);
  ASSERT_EQ(page1.size(), 20u);
  lr.after_id = page1.back().id;
  lr.limit = 1000;
  auto page2 = store->list_items(lr);
  EXPECT_EQ(page1.size() + page2.size(), 48u);
  lr = {};
  lr.include_removed = true;
  EXPECT_EQ(store->list_items(lr).size(), 50u);
  lr = {};
  lr.filter = parse_filter("k = v");
  ASSERT_EQ(store->list_items(lr).size(), 1u);
  EXPECT_EQ(store->list_items(lr)[0].id, ids[10]);

  StoreInfo info = store->info();
  EXPECT_EQ(info.n_items, 48);
  EXPECT_EQ(info.n_removed, 2);
  EXPECT_EQ(info.n_vector_rows, 52);
  EXPECT_EQ(info.n_vectors, 48);

  // Compaction drops dead rows and tombstones, keeps ids and vectors.
  store->compact();
  info = store->info();
  EXPECT_EQ(info.n_vector_rows, 48);
  EXPECT_EQ(info.n_removed, 0);
  EXPECT_FALSE(store->get_item(ids[1]).has_value());
  EXPECT_LT(max_abs_diff(store->get_vectors({ids[10]}).row(0), vecs.row(55), 16), 2e-3f);
  EXPECT_TRUE(store->verify().ok());
  store.reset();
  store = Store::open(dir);
  EXPECT_EQ(store->count(), 48);
  EXPECT_LT(max_abs_diff(store->get_vectors({ids[20]}).row(0), vecs.row(20), 16), 2e-3f);
  const auto r2 = store->search(q, req);
  EXPECT_EQ(r2.queries[0].hits.size(), 48u);
  EXPECT_TRUE(store->verify().ok());
}

TEST(IndexStore, FailuresAreRecordedAndClearedBySuccess) {
  TempDir tmp;
  const FloatMatrix vecs = random_unit(2, 8, 4);
  auto store = Store::create(tmp.str("idx"), make_manifest(8));
  store->record_failure("bad.jpg", "truncated JPEG");
  store->record_failure("bad.jpg", "truncated JPEG again");
  store->record_failure("p1", "unreadable");
  auto f = store->failures();
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].path, "bad.jpg");
  EXPECT_EQ(f[0].n_attempts, 2);
  EXPECT_EQ(f[0].reason, "truncated JPEG again");
  store->add_items(make_items("p", 1, 2, vecs));
  EXPECT_EQ(store->failures().size(), 1u);
  EXPECT_EQ(store->info().n_failures, 1);
}

TEST(IndexStore, InfoListsFiles) {
  TempDir tmp;
  const FloatMatrix vecs = random_unit(5, 8, 5);
  auto store = Store::create(tmp.str("idx"), make_manifest(8));
  store->add_items(make_items("p", 0, 5, vecs));
  const StoreInfo info = store->info();
  EXPECT_EQ(info.index_key, "Flat");
  EXPECT_TRUE(info.index_ready);
  EXPECT_EQ(info.index_vectors, 5);
  EXPECT_GT(info.index_memory_bytes, 5 * 8 * 4 - 1);
  std::set<std::string> names;
  for (const FileSize& f : info.files) names.insert(f.name);
  EXPECT_TRUE(names.count("manifest.json"));
  EXPECT_TRUE(names.count("items.sqlite"));
  EXPECT_TRUE(names.count("vectors.bin"));
  EXPECT_GT(info.disk_bytes, 0);
}

TEST(IndexStore, BadInputGetsClearErrors) {
  TempDir tmp;
  expect_error([&] { Store::open(tmp.str("absent")); }, ErrorCode::kNotFound);
  std::filesystem::create_directories(tmp.str("empty"));
  const Error not_index = expect_error([&] { Store::open(tmp.str("empty")); }, ErrorCode::kNotFound);
  EXPECT_NE(std::string(not_index.what()).find("manifest.json"), std::string::npos);

  const std::string dir = tmp.str("idx");
  { auto store = Store::create(dir, make_manifest(8)); }
  const std::string manifest_path = dir + "/manifest.json";
  const std::string good = read_file_text(manifest_path);

  write_file_atomic(manifest_path, "{ not json");
  Error e = expect_error([&] { Store::open(dir); }, ErrorCode::kCorrupt);
  EXPECT_NE(std::string(e.what()).find("manifest.json"), std::string::npos) << e.what();

  std::string garbled = good;
  garbled.replace(garbled.find("\"embed_dim\": 8"), 14, "\"embed_dim\": \"eight\"");
  write_file_atomic(manifest_path, garbled);
  e = expect_error([&] { Store::open(dir); }, ErrorCode::kCorrupt);
  EXPECT_NE(std::string(e.what()).find("embed_dim"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("manifest.json"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("\"eight\""), std::string::npos) << e.what();

  std::string future = good;
  future.replace(future.find("\"format_version\": 1"), 19, "\"format_version\": 99");
  write_file_atomic(manifest_path, future);
  e = expect_error([&] { Store::open(dir); }, ErrorCode::kUnsupported);
  EXPECT_NE(std::string(e.what()).find("99"), std::string::npos) << e.what();

  // A manifest whose dim disagrees with vectors.bin is caught too.
  std::string wrong_dim = good;
  wrong_dim.replace(wrong_dim.find("\"embed_dim\": 8"), 14, "\"embed_dim\": 9");
  write_file_atomic(manifest_path, wrong_dim);
  e = expect_error([&] { Store::open(dir); }, ErrorCode::kCorrupt);
  EXPECT_NE(std::string(e.what()).find("vectors.bin"), std::string::npos) << e.what();

  write_file_atomic(manifest_path, good);
  auto store = Store::open(dir);
  expect_error([&] { Store::create(dir, make_manifest(8)); }, ErrorCode::kInvalidArgument);
  expect_error([&] { Store::open(dir); }, ErrorCode::kIo);  // second writer: locked

  const FloatMatrix v8 = random_unit(3, 8, 6);
  std::vector<float> nan_vec(8, 0.f);
  nan_vec[3] = std::nanf("");
  auto items = make_items("x", 0, 1, v8);
  items[0].vectors = nan_vec.data();
  expect_error([&] { store->add_items(items); }, ErrorCode::kInvalidArgument);
  items = make_items("x", 0, 1, v8);
  items[0].n_vectors = 2;  // vectors_per_item is 1
  expect_error([&] { store->add_items(items); }, ErrorCode::kInvalidArgument);
  items = make_items("x", 0, 2, v8);
  items[1].external_id = items[0].external_id;
  expect_error([&] { store->add_items(items); }, ErrorCode::kInvalidArgument);
  items = make_items("x", 0, 1, v8);
  items[0].external_id.clear();
  expect_error([&] { store->add_items(items); }, ErrorCode::kInvalidArgument);
  EXPECT_EQ(store->count(), 0);

  FloatMatrix wrong(1, 7);
  const Error dim_err = expect_error([&] { store->search(wrong, {}); }, ErrorCode::kInvalidArgument);
  EXPECT_NE(std::string(dim_err.what()).find("7"), std::string::npos);
  SearchRequest bad_k;
  bad_k.k = -1;
  expect_error([&] { store->search(random_unit(1, 8, 1), bad_k); }, ErrorCode::kInvalidArgument);

  expect_error([&] { store->check_compatible({"clip", "hf", "/x", "abc123"}, 16); }, ErrorCode::kInvalidArgument);
  expect_error([&] { store->check_compatible({"clip", "hf", "/x", "other"}, 8); }, ErrorCode::kInvalidArgument);
  store->check_compatible({"clip", "hf", "/elsewhere", "abc123"}, 8);

  expect_error([&] { Store::create(tmp.str("k"), make_manifest(8, "NotAKey")); }, ErrorCode::kInvalidArgument);
  expect_error([&] { Store::create(tmp.str("k"), make_manifest(10, "IVF16,PQ3")); }, ErrorCode::kInvalidArgument);
  expect_error([&] { Store::create(tmp.str("k"), make_manifest(0)); }, ErrorCode::kInvalidArgument);
  expect_error([&] { store->set_index_key("Bogus"); }, ErrorCode::kInvalidArgument);
  EXPECT_EQ(store->manifest().index_key, "Flat");
}

TEST(IndexStore, ReadOnlyOpenSharesAndRejectsWrites) {
  TempDir tmp;
  const std::string dir = tmp.str("idx");
  const FloatMatrix vecs = random_unit(4, 8, 7);
  { Store::create(dir, make_manifest(8))->add_items(make_items("p", 0, 4, vecs)); }
  OpenOptions ro;
  ro.read_only = true;
  auto a = Store::open(dir, ro);
  auto b = Store::open(dir, ro);
  EXPECT_EQ(a->count(), 4);
  EXPECT_EQ(b->search(random_unit(1, 8, 1), {}).queries[0].hits.size(), 4u);
  expect_error([&] { a->add_items(make_items("q", 0, 1, vecs)); }, ErrorCode::kInvalidArgument);
  expect_error([&] { Store::open(dir); }, ErrorCode::kIo);
}

TEST(IndexStore, HnswIndexIsCachedAndReloaded) {
  TempDir tmp;
  const std::string dir = tmp.str("idx");
  const FloatMatrix vecs = random_unit(2000, 32, 8);
  const FloatMatrix q = random_unit(5, 32, 9);
  SearchResult before;
  {
    auto store = Store::create(dir, make_manifest(32));
    store->add_items(make_items("p", 0, 1500, vecs));
    store->set_index_key("HNSW16");
    EXPECT_EQ(store->manifest().index_key, "HNSW16");
    store->flush();
    EXPECT_TRUE(std::filesystem::exists(dir + "/faiss.index"));
    store->add_items(make_items("p", 1500, 2000, vecs));  // rows past the cache get appended at open
    before = store->search(q, {});
  }
  auto store = Store::open(dir);
  EXPECT_EQ(store->info().index_key, "HNSW16");
  EXPECT_EQ(store->info().index_vectors, 2000);
  const SearchResult after = store->search(q, {});
  for (size_t i = 0; i < 5; ++i) {
    ASSERT_EQ(after.queries[i].hits.size(), 10u);
    EXPECT_EQ(after.queries[i].hits[0].id, before.queries[i].hits[0].id);
  }
  // A damaged cache is ignored and rebuilt, not fatal.
  store.reset();
  write_file_atomic(dir + "/faiss.index", "garbage");
  store = Store::open(dir);
  EXPECT_EQ(store->info().index_vectors, 2000);
}

TEST(IndexStore, ClipRetrievalExportImportRoundTrip) {
  TempDir tmp;
  const FloatMatrix vecs = random_unit(30, 16, 10);
  auto src = Store::create(tmp.str("src"), make_manifest(16));
  auto items = make_items("photos/", 0, 30, vecs);
  items[4].metadata["year"] = 2020.0;
  items[4].metadata["tag"] = std::string("cat");
  src->add_items(items);
  src->remove_by_external_ids({"photos/3"});
  EXPECT_EQ(src->export_clip_retrieval(tmp.str("export")), 29);

  const NpyArray arr = read_npy(tmp.str("export/img_emb/img_emb_0.npy"));
  EXPECT_EQ(arr.dtype, "f2");
  ASSERT_EQ(arr.shape, (std::vector<int64_t>{29, 16}));
  const std::vector<float> exported = arr.as_floats();
  EXPECT_LT(max_abs_diff(exported.data() + 3 * 16, vecs.row(4), 16), 2e-3f);  // row 3 is photos/4
  std::ifstream meta(tmp.str("export/metadata/metadata_0.jsonl"));
  std::string line;
  int lines = 0;
  while (std::getline(meta, line)) ++lines;
  EXPECT_EQ(lines, 29);

  auto dst = Store::create(tmp.str("dst"), make_manifest(16));
  EXPECT_EQ(dst->import_clip_retrieval(tmp.str("export")), 29);
  EXPECT_EQ(dst->count(), 29);
  const auto got = dst->find_by_external_id("photos/4");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->caption, "caption 4");
  EXPECT_EQ(std::get<double>(got->metadata.at("year")), 2020.0);
  EXPECT_EQ(std::get<std::string>(got->metadata.at("tag")), "cat");
  EXPECT_LT(max_abs_diff(dst->get_vectors({got->id}).row(0), vecs.row(4), 16), 3e-3f);
  EXPECT_FALSE(dst->find_by_external_id("photos/3").has_value());

  // Without metadata the rows are named after their file; a dim mismatch is refused.
  std::filesystem::remove(tmp.str("export/metadata/metadata_0.jsonl"));
  auto bare = Store::create(tmp.str("bare"), make_manifest(16));
  EXPECT_EQ(bare->import_clip_retrieval(tmp.str("export")), 29);
  EXPECT_TRUE(bare->find_by_external_id("img_emb_0.npy#0").has_value());
  auto wrong = Store::create(tmp.str("wrong"), make_manifest(8));
  expect_error([&] { wrong->import_clip_retrieval(tmp.str("export")); }, ErrorCode::kInvalidArgument);
  expect_error([&] { wrong->import_clip_retrieval(tmp.str("nothing")); }, ErrorCode::kNotFound);
}

TEST(IndexStore, ManifestJsonRoundTrip) {
  IndexManifest m = make_manifest(512, "HNSW32", 32, VectorDType::kFp32);
  m.memory_budget_bytes = 12345;
  m.preprocess.mean = {0.5f, 0.25f, 0.125f};
  const IndexManifest back = manifest_from_json(manifest_to_json(m), "m.json");
  EXPECT_EQ(back.embed_dim, 512);
  EXPECT_EQ(back.index_key, "HNSW32");
  EXPECT_EQ(back.vectors_per_item, 32);
  EXPECT_EQ(back.dtype, VectorDType::kFp32);
  EXPECT_EQ(back.memory_budget_bytes, 12345);
  EXPECT_EQ(back.preprocess.mean[2], 0.125f);
  EXPECT_EQ(back.model.family, "clip");
  EXPECT_EQ(parse_vector_dtype("float16"), VectorDType::kFp16);
  EXPECT_THROW(parse_vector_dtype("int8"), Error);
}

// read_manifest reads an index's description without opening it (no lock: works beside a writer).
TEST(IndexStore, ReadManifestWithoutOpening) {
  TempDir tmp;
  IndexManifest m = make_manifest(16, "HNSW16");
  m.memory_budget_bytes = 777;
  auto writer = Store::create(tmp.str("idx"), m);
  const IndexManifest back = read_manifest(tmp.str("idx"));
  EXPECT_EQ(back.embed_dim, 16);
  EXPECT_EQ(back.index_key, "HNSW16");
  EXPECT_EQ(back.memory_budget_bytes, 777);
  expect_error([&] { read_manifest(tmp.str("absent")); }, ErrorCode::kNotFound);
}

TEST(IndexStore, AutoKeyRule) {
  EXPECT_EQ(resolve_index_key("HNSW8", 10, 4, 1), "HNSW8");
  EXPECT_EQ(resolve_index_key("auto", 10'000, 512, int64_t{4} << 30), "Flat");
  EXPECT_EQ(resolve_index_key("auto", 1'000'000, 512, int64_t{4} << 30), "HNSW32");
  const std::string big = resolve_index_key("auto", 100'000'000, 512, int64_t{4} << 30);
  EXPECT_EQ(big.rfind("IVF", 0), 0u) << big;
  EXPECT_NE(big.find(",PQ"), std::string::npos) << big;
}

}  // namespace
}  // namespace cir::index

// ---------------------------------------------------------------------------------------------
// Format stability: fixtures/index_v1 was written by format_version 1 (regenerate only when the
// format changes, by running this binary with --gtest_also_run_disabled_tests
// --gtest_filter=*WriteFormatV1Fixture, and keep the old one as index_v<N-1>).

namespace cir::index {
namespace {

const char* kFixture = "tests/unit/index/fixtures/index_v1";

std::vector<float> fixture_vector(int i) {
  std::vector<float> v(8, 0.f);
  v[static_cast<size_t>(i % 8)] = 1.0f;
  v[static_cast<size_t>((i + 3) % 8)] = 0.5f;
  return v;
}

TEST(IndexFormat, DISABLED_WriteFormatV1Fixture) {
  const std::string dir = cir::testing::source_path(kFixture);
  std::filesystem::remove_all(dir);
  {
    auto store = Store::create(dir, make_manifest(8));
    std::vector<std::vector<float>> vecs;
    std::vector<NewItem> items;
    for (int i = 0; i < 6; ++i) vecs.push_back(fixture_vector(i));
    for (int i = 0; i < 6; ++i) {
      NewItem it;
      it.external_id = "img/" + std::to_string(i) + ".jpg";
      it.caption = "item " + std::to_string(i);
      it.metadata["n"] = static_cast<double>(i);
      it.metadata["parity"] = std::string(i % 2 ? "odd" : "even");
      it.vectors = vecs[static_cast<size_t>(i)].data();
      items.push_back(it);
    }
    store->add_items(items);
    store->remove_by_external_ids({"img/5.jpg"});
    store->record_failure("broken.png", "truncated PNG");
  }
  std::filesystem::remove(dir + "/LOCK");
}

TEST(IndexFormat, OpensFormatV1Fixture) {
  const std::string fixture = cir::testing::source_path(kFixture);
  if (!std::filesystem::exists(fixture + "/manifest.json")) GTEST_SKIP() << "fixture missing: " << fixture;
  TempDir tmp;
  std::filesystem::copy(fixture, tmp.str("idx"), std::filesystem::copy_options::recursive);
  auto store = Store::open(tmp.str("idx"));
  EXPECT_EQ(store->manifest().format_version, 1);
  EXPECT_EQ(store->manifest().embed_dim, 8);
  EXPECT_EQ(store->count(), 5);
  EXPECT_TRUE(store->verify().ok());
  const auto item = store->find_by_external_id("img/3.jpg");
  ASSERT_TRUE(item.has_value());
  EXPECT_EQ(item->caption, "item 3");
  EXPECT_EQ(std::get<std::string>(item->metadata.at("parity")), "odd");
  EXPECT_EQ(std::get<double>(item->metadata.at("n")), 3.0);
  EXPECT_LT(max_abs_diff(store->get_vectors({item->id}).row(0), fixture_vector(3).data(), 8), 1e-3f);
  EXPECT_TRUE(store->find_by_external_id("img/5.jpg")->removed);
  ASSERT_EQ(store->failures().size(), 1u);
  FloatMatrix q(1, 8);
  const auto v = fixture_vector(2);
  std::copy(v.begin(), v.end(), q.row(0));
  SearchRequest req;
  req.k = 3;
  req.filter = parse_filter("parity=even");
  const auto r = store->search(q, req);
  ASSERT_EQ(r.queries[0].hits.size(), 3u);
  EXPECT_EQ(r.queries[0].hits[0].id, store->find_by_external_id("img/2.jpg")->id);
}

}  // namespace
}  // namespace cir::index
