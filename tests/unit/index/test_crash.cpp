// Crash safety: torn and uncommitted vector tails, damaged committed data, and a real SIGKILL of a
// process adding batches.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include "index_test_util.h"

namespace cir::index {
namespace {

using cir::testing::TempDir;
using testing::make_items;
using testing::make_manifest;
using testing::max_abs_diff;
using testing::random_unit;
using testing::vector_for;
namespace fs = std::filesystem;

// Copies of items.sqlite (and its WAL, when present) taken while the store is closed.
struct DbSnapshot {
  std::map<std::string, std::string> files;
  explicit DbSnapshot(const std::string& dir) {
    for (const char* name : {"items.sqlite", "items.sqlite-wal"})
      if (fs::exists(dir + "/" + name)) files[name] = read_file_text(dir + "/" + name);
  }
  void restore(const std::string& dir) const {
    for (const char* name : {"items.sqlite-wal", "items.sqlite-shm"}) fs::remove(dir + "/" + name);
    for (const auto& [name, content] : files) write_file_atomic(dir + "/" + name, content);
  }
};

// Batch A committed; batch B's vectors reached vectors.bin but its SQLite commit is rolled back
// (by restoring the database from before B). `cut` bytes are then chopped off the file's end.
struct TailFixture {
  TempDir tmp;
  std::string dir = tmp.str("idx");
  FloatMatrix vecs = random_unit(80, 16, 21);
  int64_t size_after_a = 0, size_after_b = 0;

  explicit TailFixture(int64_t cut) {
    { Store::create(dir, make_manifest(16))->add_items(make_items("a", 0, 50, vecs)); }
    size_after_a = static_cast<int64_t>(fs::file_size(dir + "/vectors.bin"));
    DbSnapshot before_b(dir);
    { Store::open(dir)->add_items(make_items("b", 50, 80, vecs)); }
    size_after_b = static_cast<int64_t>(fs::file_size(dir + "/vectors.bin"));
    before_b.restore(dir);
    if (cut > 0) fs::resize_file(dir + "/vectors.bin", static_cast<uintmax_t>(size_after_b - cut));
  }

  void check_recovers_and_resumes() {
    auto store = Store::open(dir);
    EXPECT_EQ(store->count(), 50);
    EXPECT_EQ(store->info().n_vector_rows, 50);
    EXPECT_EQ(static_cast<int64_t>(fs::file_size(dir + "/vectors.bin")), size_after_a);
    EXPECT_FALSE(store->find_by_external_id("b50").has_value());
    EXPECT_TRUE(store->verify().ok());
    // The rerun re-adds batch B: no duplicates, every vector where it belongs.
    const auto ids = store->add_items(make_items("b", 50, 80, vecs));
    store->add_items(make_items("b", 50, 80, vecs));
    EXPECT_EQ(store->count(), 80);
    FloatMatrix q(1, 16);
    std::copy_n(vecs.row(60), 16, q.row(0));
    const auto r = store->search(q, {});
    ASSERT_FALSE(r.queries[0].hits.empty());
    EXPECT_EQ(r.queries[0].hits[0].id, ids[10]);
    EXPECT_LT(max_abs_diff(store->get_vectors({ids[10]}).row(0), vecs.row(60), 16), 2e-3f);
  }
};

TEST(IndexCrash, UncommittedTailIsDropped) {
  TailFixture f(0);
  f.check_recovers_and_resumes();
}

TEST(IndexCrash, TornHalfBlockIsDropped) {
  TailFixture f(0);
  const int64_t block = f.size_after_b - f.size_after_a;
  fs::resize_file(f.dir + "/vectors.bin", static_cast<uintmax_t>(f.size_after_a + block / 2));
  f.check_recovers_and_resumes();
}

TEST(IndexCrash, TornBlockHeaderIsDropped) {
  TailFixture f(0);
  fs::resize_file(f.dir + "/vectors.bin", static_cast<uintmax_t>(f.size_after_a + 10));
  f.check_recovers_and_resumes();
}

TEST(IndexCrash, GarbageTailIsDropped) {
  TempDir tmp;
  const std::string dir = tmp.str("idx");
  const FloatMatrix vecs = random_unit(20, 16, 22);
  { Store::create(dir, make_manifest(16))->add_items(make_items("a", 0, 20, vecs)); }
  const auto size = fs::file_size(dir + "/vectors.bin");
  {
    std::ofstream out(dir + "/vectors.bin", std::ios::app | std::ios::binary);
    for (int i = 0; i < 1000; ++i) out.put(static_cast<char>(i * 37));
  }
  auto store = Store::open(dir);
  EXPECT_EQ(store->count(), 20);
  EXPECT_EQ(fs::file_size(dir + "/vectors.bin"), size);
  store->add_items(make_items("b", 0, 5, vecs));
  store.reset();
  EXPECT_EQ(Store::open(dir)->count(), 25);
}

TEST(IndexCrash, MissingCommittedVectorsAreCorrupt) {
  TempDir tmp;
  const std::string dir = tmp.str("idx");
  const FloatMatrix vecs = random_unit(20, 16, 23);
  { Store::create(dir, make_manifest(16))->add_items(make_items("a", 0, 20, vecs)); }
  const auto size = fs::file_size(dir + "/vectors.bin");
  fs::resize_file(dir + "/vectors.bin", size - 40);
  try {
    Store::open(dir);
    FAIL() << "expected kCorrupt";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
    EXPECT_NE(std::string(e.what()).find("vectors.bin"), std::string::npos) << e.what();
  }
}

TEST(IndexCrash, FlippedPayloadByteFailsChecksum) {
  TempDir tmp;
  const std::string dir = tmp.str("idx");
  const FloatMatrix vecs = random_unit(20, 16, 24);
  { Store::create(dir, make_manifest(16))->add_items(make_items("a", 0, 20, vecs)); }
  {
    std::fstream f(dir + "/vectors.bin", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(64 + 32 + 100);
    f.put('\x5a');
  }
  try {
    Store::open(dir);
    FAIL() << "expected kCorrupt";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
    EXPECT_NE(std::string(e.what()).find("checksum"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------
// A child process adds (and replaces, and removes) batches in a loop until SIGKILL lands at a
// random moment; the parent then opens the index and checks every invariant.

constexpr int kDim = 24;
constexpr int kBatch = 20;

[[noreturn]] void child_loop(const std::string& dir, int iteration) {
  try {
    auto store = fs::exists(dir + "/manifest.json") ? Store::open(dir) : Store::create(dir, make_manifest(kDim));
    for (int batch = 0;; ++batch) {
      std::vector<std::vector<float>> vecs;
      std::vector<NewItem> items;
      auto push = [&](const std::string& id, int version) {
        vecs.push_back(vector_for(id, version, kDim));
        NewItem it;
        it.external_id = id;
        it.metadata["version"] = static_cast<double>(version);
        items.push_back(std::move(it));
      };
      const std::string prefix = "it" + std::to_string(iteration) + "_b";
      for (int i = 0; i < kBatch; ++i) push(prefix + std::to_string(batch) + "_" + std::to_string(i), 0);
      if (batch > 0)  // replace a few items of the previous batch with new vectors
        for (int i = 0; i < 3; ++i) push(prefix + std::to_string(batch - 1) + "_" + std::to_string(i), batch);
      for (size_t i = 0; i < items.size(); ++i) items[i].vectors = vecs[i].data();
      store->add_items(items);
      if (batch % 4 == 3) store->remove_by_external_ids({prefix + std::to_string(batch - 2) + "_19"});
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "child failed: %s\n", e.what());
    _exit(3);
  }
  _exit(0);
}

void check_consistent(const std::string& dir) {
  auto store = Store::open(dir);
  EXPECT_TRUE(store->verify().ok());
  ListRequest all;
  all.limit = 1'000'000;
  all.include_removed = true;
  const auto items = store->list_items(all);
  std::map<std::string, int> per_batch;  // "itN_bM" -> items recorded (live or removed)
  int64_t live = 0;
  for (const ItemRecord& item : items) {
    per_batch[item.external_id.substr(0, item.external_id.rfind('_'))]++;
    if (item.removed) continue;
    ++live;
    const int version = static_cast<int>(std::get<double>(item.metadata.at("version")));
    const auto expected = vector_for(item.external_id, version, kDim);
    const FloatMatrix got = store->get_vectors({item.id});
    ASSERT_LT(max_abs_diff(got.row(0), expected.data(), kDim), 2e-3f)
        << item.external_id << " v" << version << " points at the wrong vectors";
  }
  for (const auto& [batch, n] : per_batch) EXPECT_EQ(n, kBatch) << "batch " << batch << " is half-committed";
  EXPECT_EQ(store->count(), live);
  std::cout << "[ kill ] after SIGKILL: " << per_batch.size() << " whole batches, " << live << " live items, "
            << store->info().n_vector_rows << " vector rows\n";
  // Search works and finds items by their own vectors.
  int checked = 0;
  for (const ItemRecord& item : items) {
    if (item.removed || checked++ >= 10) continue;
    FloatMatrix q(1, kDim);
    const auto v = vector_for(item.external_id, static_cast<int>(std::get<double>(item.metadata.at("version"))), kDim);
    std::copy(v.begin(), v.end(), q.row(0));
    SearchRequest req;
    req.k = 1;
    const auto r = store->search(q, req);
    ASSERT_EQ(r.queries[0].hits.size(), 1u);
    EXPECT_EQ(r.queries[0].hits[0].id, item.id);
  }
}

TEST(IndexCrash, SigkillDuringAddsNeverCorrupts) {
  TempDir tmp;
  const std::string dir = tmp.str("idx");
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> delay_ms(5, 400);
  int checked = 0;
  for (int iteration = 0; iteration < 6; ++iteration) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) child_loop(dir, iteration);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with status " << WEXITSTATUS(status);
    if (!fs::exists(dir + "/manifest.json")) continue;  // killed inside create(): nothing to check
    check_consistent(dir);
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

}  // namespace
}  // namespace cir::index
