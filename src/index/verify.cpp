// verify: a full check of an index directory (`cir index verify`, the server's verify route).
// open() checks only the last committed block's CRC (the only one a crash can reach), so damage
// to older blocks from a bad disk or a stray write is served until something reads every byte;
// this is that something. It reads vectors.bin with pread, never through a map, so a file that
// is truncated while it runs gives a listed problem instead of SIGBUS.
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <mutex>

#include "index/store_impl.h"

namespace cir::index {

using detail::BlockCheck;
using detail::Db;
using detail::Stmt;

namespace {

constexpr const char* kItemsName = "items.sqlite";
constexpr size_t kIdsPerProblem = 5;  // items named per damaged block; the rest are counted

struct LiveRows {
  int64_t id = 0, row = 0, n = 0;
};

/// What SQLite says, read under the store's db lock (separately from the long vector read).
struct SqlState {
  int64_t committed_rows = 0;
  uint64_t epoch = 0;
  std::vector<LiveRows> items;  ///< live items by first row
  std::vector<VerifyProblem> problems;
};

void add_problem(std::vector<VerifyProblem>& out, const char* file, std::string message, int64_t offset = -1) {
  out.push_back({file, offset, std::move(message)});
}

int64_t kv_or_problem(Db& db, const char* key, SqlState& st) {
  Stmt q(db, "SELECT value FROM kv WHERE key = ?1");
  q.bind(1, std::string_view(key));
  if (!q.step()) {
    add_problem(st.problems, kItemsName, std::string("kv '") + key + "' is missing");
    return 0;
  }
  const std::string v = q.col_text(0);
  char* end = nullptr;
  const long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || n < 0) {
    add_problem(st.problems, kItemsName, std::string("kv '") + key + "' is not a non-negative integer: '" + v + "'");
    return 0;
  }
  return n;
}

SqlState read_sql_state(Db& db) {
  SqlState st;
  {
    Stmt q(db, "PRAGMA integrity_check(100)");
    while (q.step())
      if (const std::string msg = q.col_text(0); msg != "ok") add_problem(st.problems, kItemsName, "integrity_check: " + msg);
  }
  st.committed_rows = kv_or_problem(db, "vector_rows", st);
  st.epoch = static_cast<uint64_t>(kv_or_problem(db, "vectors_epoch", st));
  Stmt q(db, "SELECT id, vector_offset, n_vectors FROM items WHERE status = 'ok' ORDER BY vector_offset, id");
  while (q.step()) st.items.push_back({q.col_int(0), q.col_int(1), q.col_int(2)});
  Stmt orphans(db, "SELECT COUNT(*) FROM metadata WHERE item_id NOT IN (SELECT id FROM items)");
  orphans.step();
  if (orphans.col_int(0) > 0)
    add_problem(st.problems, kItemsName, std::to_string(orphans.col_int(0)) + " metadata rows belong to no item");
  return st;
}

std::string rows_text(int64_t row, int64_t n) { return std::to_string(row) + ".." + std::to_string(row + n - 1); }

// The block holding `row`, or nullptr when the walk never reached it.
const BlockCheck* block_of(const std::vector<BlockCheck>& blocks, int64_t row) {
  auto it = std::upper_bound(blocks.begin(), blocks.end(), row, [](int64_t r, const BlockCheck& b) { return r < b.first_row; });
  if (it == blocks.begin()) return nullptr;
  --it;
  return row < it->first_row + it->n_rows ? &*it : nullptr;
}

// Items against the rows: in range, within one block, not overlapping, not in a damaged block.
void check_items(const SqlState& st, const IndexManifest& manifest, const detail::VectorFileCheck& vf,
                 std::vector<VerifyProblem>& out) {
  std::vector<std::vector<int64_t>> in_bad_block(vf.blocks.size());
  int64_t prev_end = 0, prev_id = -1;
  for (const LiveRows& it : st.items) {
    const std::string item = "item " + std::to_string(it.id) + " (rows " + rows_text(it.row, it.n) + ")";
    if (it.n < 1 || it.n > manifest.vectors_per_item) {
      add_problem(out, kItemsName, item + ": n_vectors " + std::to_string(it.n) + " outside 1.." +
                                       std::to_string(manifest.vectors_per_item));
      continue;
    }
    if (it.row < 0 || it.row + it.n > st.committed_rows) {
      add_problem(out, kItemsName, item + ": outside the " + std::to_string(st.committed_rows) + " committed rows");
      continue;
    }
    if (it.row < prev_end)
      add_problem(out, kItemsName, item + " overlaps item " + std::to_string(prev_id) + " (which ends at row " +
                                       std::to_string(prev_end - 1) + ")");
    if (it.row + it.n > prev_end) {
      prev_end = it.row + it.n;
      prev_id = it.id;
    }
    const BlockCheck* first = block_of(vf.blocks, it.row);
    const BlockCheck* last = block_of(vf.blocks, it.row + it.n - 1);
    if (!first || !last) continue;  // past what the walk could read: already reported
    if (first != last) add_problem(out, kItemsName, item + " spans blocks " + std::to_string(first->index) + " and " +
                                                        std::to_string(last->index));
    if (!first->ok) in_bad_block[static_cast<size_t>(first->index)].push_back(it.id);
  }
  for (size_t b = 0; b < in_bad_block.size(); ++b) {
    const auto& ids = in_bad_block[b];
    if (ids.empty()) continue;
    std::string list;
    for (size_t i = 0; i < ids.size() && i < kIdsPerProblem; ++i) list += (i ? ", " : "") + std::to_string(ids[i]);
    if (ids.size() > kIdsPerProblem) list += " and " + std::to_string(ids.size() - kIdsPerProblem) + " more";
    add_problem(out, detail::kVectorsName,
                std::to_string(ids.size()) + " live item(s) have their vectors in damaged block " + std::to_string(b) +
                    " (item ids " + list + ")",
                vf.blocks[b].byte_offset);
  }
}

VerifyReport verify_with(const std::string& dir, const IndexManifest& manifest, const std::string& vectors_path,
                         const std::function<SqlState()>& read_sql) {
  VerifyReport report;
  report.dir = dir;
  SqlState st;
  try {
    st = read_sql();
  } catch (const Error& e) {
    add_problem(report.problems, kItemsName, e.what());
    return report;
  }
  report.problems = st.problems;
  report.n_items = static_cast<int64_t>(st.items.size());
  detail::VectorFileCheck vf;
  try {
    vf = detail::check_vector_file(vectors_path, manifest.embed_dim, manifest.dtype, st.epoch, st.committed_rows);
  } catch (const Error& e) {
    add_problem(report.problems, detail::kVectorsName, e.what());
  }
  report.problems.insert(report.problems.end(), vf.problems.begin(), vf.problems.end());
  report.n_blocks = static_cast<int64_t>(vf.blocks.size());
  report.n_rows = vf.rows_checked;
  report.uncommitted_bytes = vf.tail_bytes;
  check_items(st, manifest, vf, report.problems);
  return report;
}

}  // namespace

VerifyReport verify_index(const std::string& dir) {
  VerifyReport report;
  report.dir = dir;
  IndexManifest manifest;
  try {
    manifest = read_manifest(dir);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kCorrupt) throw;
    add_problem(report.problems, detail::kManifestFile, e.what());
    return report;
  }
  const int lock_fd = detail::take_lock(dir, /*shared=*/true);
  struct CloseLock {
    int fd;
    ~CloseLock() { ::close(fd); }
  } close_lock{lock_fd};
  const std::string items = dir + "/" + detail::kItemsFile;
  if (!file_exists(items)) {
    add_problem(report.problems, kItemsName, "'" + items + "' is missing");
    return report;
  }
  const std::string vectors = dir + "/" + detail::kVectorsFile;
  std::unique_ptr<Db> db;
  return verify_with(dir, manifest, vectors, [&] {
    db = std::make_unique<Db>(items, false, true);
    SqlState st = read_sql_state(*db);
    const std::string compact = dir + "/" + detail::kCompactFile;
    if (file_exists(compact))
      add_problem(st.problems, detail::kCompactFile, "an interrupted compaction left '" + compact +
                                                         "'; the next writable open resolves it");
    return st;
  });
}

VerifyReport Store::verify() const {
  const Impl& s = *impl_;
  // The shared lock keeps writers out for the whole check; db_mutex only while SQLite is read,
  // so item lookups are not held up by the long read of vectors.bin.
  std::shared_lock lock(s.mutex);
  return verify_with(s.dir, s.manifest, s.vectors->path(), [&] {
    std::lock_guard db_lock(s.db_mutex);
    return read_sql_state(*s.db);
  });
}

}  // namespace cir::index
