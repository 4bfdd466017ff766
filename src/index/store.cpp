// Store lifecycle (create/open/close, recovery, compaction) and item bookkeeping.
//
// Why synchronous=NORMAL is enough: in WAL mode a commit is durable against a process crash
// (kill -9) as soon as COMMIT returns, because the WAL write reached the OS. Only a power cut can
// roll back the newest commits, and that keeps the one invariant that matters — SQLite never
// references a vector row that is not on disk — because every vectors block is fsynced before
// the transaction that references it. A rolled-back SQLite simply sees more rows in vectors.bin
// than it references, and open() truncates those. The one step that must not roll back is the
// commit of a compaction (it switches vectors files), so that transaction runs with FULL.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <unordered_map>

#include "index/store_impl.h"
#include "index/util.h"

#ifndef CIR_VERSION_STRING
#define CIR_VERSION_STRING "unknown"
#endif

namespace cir::index {

using detail::Db;
using detail::LiveItem;
using detail::Stmt;
using detail::Transaction;
namespace fs = std::filesystem;

namespace {

const char* kSchemaSql = R"sql(
CREATE TABLE IF NOT EXISTS items(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  external_id TEXT NOT NULL UNIQUE,
  content_hash TEXT NOT NULL DEFAULT '',
  size_bytes INTEGER NOT NULL DEFAULT 0,
  mtime INTEGER NOT NULL DEFAULT 0,
  vector_offset INTEGER NOT NULL,
  n_vectors INTEGER NOT NULL,
  status TEXT NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'removed')),
  added_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  caption TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS metadata(
  item_id INTEGER NOT NULL,
  key TEXT NOT NULL,
  value_text TEXT,
  value_num REAL,
  PRIMARY KEY (item_id, key)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS metadata_by_text ON metadata(key, value_text);
CREATE INDEX IF NOT EXISTS metadata_by_num ON metadata(key, value_num);
CREATE TABLE IF NOT EXISTS failures(
  path TEXT PRIMARY KEY,
  reason TEXT NOT NULL,
  at INTEGER NOT NULL,
  n_attempts INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS kv(key TEXT PRIMARY KEY, value TEXT NOT NULL);
)sql";

void validate_manifest(const IndexManifest& m) {
  if (m.embed_dim <= 0 || m.embed_dim > 65536)
    throw Error(ErrorCode::kInvalidArgument, "manifest embed_dim must be in 1..65536, got " + std::to_string(m.embed_dim));
  if (m.vectors_per_item < 1 || m.vectors_per_item > 4096)
    throw Error(ErrorCode::kInvalidArgument,
                "manifest vectors_per_item must be in 1..4096, got " + std::to_string(m.vectors_per_item));
  if (m.memory_budget_bytes <= 0) throw Error(ErrorCode::kInvalidArgument, "memory_budget_bytes must be positive");
  if (m.index_key.empty()) throw Error(ErrorCode::kInvalidArgument, "index key is empty");
  if (!m.row_parts.empty()) {
    int64_t total = 0;
    for (const RowPart& part : m.row_parts) {
      if (part.dim <= 0 || part.name.empty())
        throw Error(ErrorCode::kInvalidArgument, "manifest row_parts: each part needs a name and dim > 0");
      total += part.dim;
    }
    if (total != m.embed_dim)
      throw Error(ErrorCode::kInvalidArgument, "manifest row_parts sum to " + std::to_string(total) +
                                                   " values, embed_dim is " + std::to_string(m.embed_dim));
  }
  // Building an empty index proves faiss understands the key at this dimension.
  detail::AnnIndex probe(resolve_index_key(m.index_key, 0, m.embed_dim, m.memory_budget_bytes), m.embed_dim);
}

bool is_finite(const float* v, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(v[i])) return false;
  return true;
}

void set_kv(Db& db, const char* key, const std::string& value) {
  Stmt st(db, "INSERT INTO kv(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  st.bind(1, std::string_view(key)).bind(2, std::string_view(value)).run();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Impl helpers

int detail::take_lock(const std::string& dir, bool shared) {
  const std::string path = dir + "/" + detail::kLockFile;
  const int fd = ::open(path.c_str(), (shared ? O_RDONLY : O_RDWR) | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(ErrorCode::kIo, "cannot open '" + path + "': " + std::strerror(errno));
  if (::flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK)
      throw Error(ErrorCode::kIo, "index '" + dir + "' is in use by another process (" + path + " is locked)");
    throw Error(ErrorCode::kIo, "cannot lock '" + path + "': " + std::strerror(err));
  }
  return fd;
}


Store::Impl::~Impl() {
  ann.reset();
  vectors.reset();
  db.reset();
  if (lock_fd >= 0) ::close(lock_fd);
}

const LiveItem* Store::Impl::find_live(int64_t id) const {
  auto it = std::lower_bound(live.begin(), live.end(), id, [](const LiveItem& a, int64_t b) { return a.id < b; });
  return (it != live.end() && it->id == id) ? &*it : nullptr;
}

void Store::Impl::require_writable() const {
  if (read_only) throw Error(ErrorCode::kInvalidArgument, "index '" + dir + "' was opened read-only");
}

int64_t Store::Impl::kv_int(const char* key, int64_t fallback) const {
  Stmt st(*db, "SELECT value FROM kv WHERE key = ?1");
  st.bind(1, std::string_view(key));
  if (!st.step()) return fallback;
  const std::string v = st.col_text(0);
  char* end = nullptr;
  const long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0')
    throw Error(ErrorCode::kCorrupt, "'" + db->path() + "': kv '" + key + "' is not an integer: '" + v + "'");
  return n;
}

void Store::Impl::mark_row_range(int64_t row, int64_t n, int64_t owner) {
  for (int64_t r = row; r < row + n; ++r) {
    row_owner[static_cast<size_t>(r)] = owner;
    const uint8_t bit = static_cast<uint8_t>(1u << (r & 7));
    if (owner >= 0) {
      live_rows[static_cast<size_t>(r >> 3)] |= bit;
    } else {
      live_rows[static_cast<size_t>(r >> 3)] &= static_cast<uint8_t>(~bit);
    }
  }
}

void Store::Impl::load_items() {
  const int64_t rows = vectors->rows();
  live.clear();
  row_owner.assign(static_cast<size_t>(rows), -1);
  live_rows.assign(static_cast<size_t>((rows + 7) / 8), 0);
  n_live_vectors = 0;
  Stmt st(*db, "SELECT id, vector_offset, n_vectors FROM items WHERE status = 'ok' ORDER BY id");
  while (st.step()) {
    LiveItem it{st.col_int(0), st.col_int(1), static_cast<int32_t>(st.col_int(2))};
    if (it.row < 0 || it.n < 1 || it.n > manifest.vectors_per_item || it.row + it.n > rows)
      throw Error(ErrorCode::kCorrupt, "'" + db->path() + "': item " + std::to_string(it.id) + " references vector rows " +
                                           std::to_string(it.row) + "+" + std::to_string(it.n) + " but '" +
                                           vectors->path() + "' holds " + std::to_string(rows) + " rows");
    live.push_back(it);
    mark_row_range(it.row, it.n, it.id);
    n_live_vectors += it.n;
  }
  Stmt removed(*db, "SELECT COUNT(*) FROM items WHERE status = 'removed'");
  removed.step();
  n_removed = removed.col_int(0);
}

void Store::Impl::add_rows_to_ann(int64_t first_row, int64_t n) {
  constexpr int64_t kChunk = 16384;
  std::vector<float> buf;
  std::vector<int64_t> rows;
  for (int64_t start = first_row; start < first_row + n; start += kChunk) {
    const int64_t end = std::min(first_row + n, start + kChunk);
    buf.resize(static_cast<size_t>((end - start) * manifest.embed_dim));
    vectors->read_rows(start, end - start, buf.data());
    // Compact the chunk down to live rows so dead ones never enter the index.
    rows.clear();
    int64_t kept = 0;
    for (int64_t r = start; r < end; ++r) {
      if (row_owner[static_cast<size_t>(r)] < 0) continue;
      if (kept != r - start)
        std::memcpy(buf.data() + kept * manifest.embed_dim, buf.data() + (r - start) * manifest.embed_dim,
                    sizeof(float) * static_cast<size_t>(manifest.embed_dim));
      rows.push_back(r);
      ++kept;
    }
    ann->add(buf.data(), kept, rows.data());
  }
}

void Store::Impl::train_ann_if_ready() {
  if (ann->trained() || n_live_vectors < ann->min_train_rows()) return;
  // An evenly strided sample over live rows: deterministic, and it spans the whole history.
  const int64_t want = std::min(n_live_vectors, ann->train_sample_rows());
  const int64_t stride = std::max<int64_t>(1, n_live_vectors / want);
  std::vector<float> sample;
  sample.reserve(static_cast<size_t>(want * manifest.embed_dim));
  std::vector<float> row(static_cast<size_t>(manifest.embed_dim));
  int64_t seen = 0, taken = 0;
  for (int64_t r = 0; r < vectors->rows() && taken < want; ++r) {
    if (row_owner[static_cast<size_t>(r)] < 0) continue;
    if (seen++ % stride != 0) continue;
    vectors->read_rows(r, 1, row.data());
    sample.insert(sample.end(), row.begin(), row.end());
    ++taken;
  }
  ann->train(sample.data(), taken);
  add_rows_to_ann(0, vectors->rows());
  ann_dead = 0;
  ann_dirty = true;
}

void Store::Impl::build_ann(bool allow_cache) {
  const std::string key =
      resolve_index_key(manifest.index_key, n_live_vectors, manifest.embed_dim, manifest.memory_budget_bytes);
  ann.reset();
  ann_dead = 0;
  const bool cacheable = key != "Flat";
  if (allow_cache && cacheable) {
    auto loaded = detail::AnnIndex::load(path(detail::kAnnFile), key, manifest.embed_dim, epoch);
    if (loaded && loaded->covered_rows() <= vectors->rows()) {
      ann = std::move(loaded);
      const int64_t covered = ann->covered_rows();
      int64_t live_in_ann = 0;
      for (const LiveItem& it : live)
        if (it.row < covered) live_in_ann += it.n;
      ann_dead = ann->size() - live_in_ann;
      if (ann->trained()) {
        add_rows_to_ann(covered, vectors->rows() - covered);
        ann_dirty = vectors->rows() > covered;
      }
      train_ann_if_ready();
      return;
    }
  }
  ann = std::make_unique<detail::AnnIndex>(key, manifest.embed_dim);
  if (ann->trained()) {
    add_rows_to_ann(0, vectors->rows());
  } else {
    train_ann_if_ready();
  }
  ann_dirty = cacheable;
}

void Store::Impl::write_manifest() {
  write_file_atomic(path(detail::kManifestFile), manifest_to_json(manifest));
  detail::fsync_dir(dir);
}

// ---------------------------------------------------------------------------------------------
// Lifecycle

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Store::~Store() {
  if (!impl_ || impl_->read_only) return;
  try {
    flush();
  } catch (const std::exception& e) {
    log(LogLevel::kWarn, std::string("closing index '") + impl_->dir + "': " + e.what());
  }
}

std::unique_ptr<Store> Store::create(const std::string& dir, const IndexManifest& manifest_in) {
  IndexManifest manifest = manifest_in;
  manifest.format_version = kIndexFormatVersion;
  validate_manifest(manifest);
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) throw Error(ErrorCode::kInvalidArgument, "'" + dir + "' exists and is not a directory");
    if (fs::exists(fs::path(dir) / detail::kManifestFile, ec))
      throw Error(ErrorCode::kInvalidArgument, "'" + dir + "' already holds an index (manifest.json exists)");
    // Leftovers of a create() that died before writing the manifest may be replaced; anything
    // else means the directory belongs to someone else.
    for (const auto& entry : fs::directory_iterator(dir)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("items.sqlite", 0) != 0 && name.rfind("vectors.bin", 0) != 0 && name != detail::kLockFile &&
          name.rfind("faiss.index", 0) != 0 && name.rfind("manifest.json", 0) != 0)
        throw Error(ErrorCode::kInvalidArgument, "'" + dir + "' is not empty (found '" + name + "')");
    }
  } else {
    fs::create_directories(dir, ec);
    if (ec) throw Error(ErrorCode::kIo, "cannot create directory '" + dir + "': " + ec.message());
  }
  const int lock_fd = detail::take_lock(dir, false);
  try {
    for (const auto& entry : fs::directory_iterator(dir))
      if (entry.path().filename() != detail::kLockFile) fs::remove(entry.path());
    {
      Db db(dir + "/" + detail::kItemsFile, true, false);
      db.exec("PRAGMA journal_mode=WAL");
      db.exec(kSchemaSql);
      Transaction txn(db);
      set_kv(db, "schema_version", std::to_string(detail::kSchemaVersion));
      set_kv(db, "vector_rows", "0");
      set_kv(db, "vectors_epoch", "0");
      txn.commit();
    }
    detail::VectorFile::create(dir + "/" + detail::kVectorsFile, manifest.embed_dim, manifest.dtype, 0);
    manifest.created_at = manifest.updated_at = detail::now_iso8601();
    manifest.cir_version = CIR_VERSION_STRING;
    // The manifest goes last: its presence is what makes the directory an index.
    write_file_atomic(dir + "/" + detail::kManifestFile, manifest_to_json(manifest));
    detail::fsync_dir(dir);
  } catch (...) {
    ::close(lock_fd);
    throw;
  }
  ::close(lock_fd);
  return open(dir);
}

std::unique_ptr<Store> Store::open(const std::string& dir, const OpenOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(ErrorCode::kNotFound, "index directory '" + dir + "' does not exist");
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->read_only = options.read_only;
  impl->manifest = read_manifest(dir);
  if (impl->manifest.embed_dim > 65536 || impl->manifest.vectors_per_item > 4096)
    throw Error(ErrorCode::kCorrupt, "'" + impl->path(detail::kManifestFile) + "': embed_dim or vectors_per_item out of range");
  impl->lock_fd = detail::take_lock(dir, options.read_only);

  const std::string items_path = impl->path(detail::kItemsFile);
  if (!file_exists(items_path))
    throw Error(ErrorCode::kCorrupt, "'" + items_path + "' is missing: the index directory is incomplete");
  impl->db = std::make_unique<Db>(items_path, false, options.read_only);
  if (!options.read_only) {
    impl->db->exec("PRAGMA journal_mode=WAL");
    impl->db->exec("PRAGMA synchronous=NORMAL");
  }
  const int64_t schema = impl->kv_int("schema_version", -1);
  if (schema < 0) throw Error(ErrorCode::kCorrupt, "'" + items_path + "': kv 'schema_version' is missing");
  if (schema > detail::kSchemaVersion)
    throw Error(ErrorCode::kUnsupported, "'" + items_path + "': schema_version " + std::to_string(schema) +
                                             " is newer than this build reads (" +
                                             std::to_string(detail::kSchemaVersion) + ")");
  impl->epoch = static_cast<uint64_t>(impl->kv_int("vectors_epoch", 0));
  const int64_t committed = impl->kv_int("vector_rows", 0);

  // A compaction that died after its commit but before the rename left the new file behind
  // (epoch matches SQLite: finish it); one that died before its commit left garbage (drop it).
  std::string vectors_path = impl->path(detail::kVectorsFile);
  const std::string compact_path = impl->path(detail::kCompactFile);
  if (file_exists(compact_path)) {
    bool current = false;
    try {
      detail::VectorFile probe(compact_path, impl->manifest.embed_dim, impl->manifest.dtype, impl->epoch, committed, false);
      current = true;
    } catch (const Error&) {
    }
    if (options.read_only) {
      if (current) vectors_path = compact_path;
    } else if (current) {
      if (std::rename(compact_path.c_str(), vectors_path.c_str()) != 0)
        throw Error(ErrorCode::kIo, "cannot rename '" + compact_path + "': " + std::strerror(errno));
      detail::fsync_dir(dir);
    } else {
      std::remove(compact_path.c_str());
    }
  }
  impl->vectors = std::make_unique<detail::VectorFile>(vectors_path, impl->manifest.embed_dim, impl->manifest.dtype,
                                                       impl->epoch, committed, !options.read_only);
  if (impl->vectors->recovered_bytes() > 0)
    log(LogLevel::kInfo, "index '" + dir + "': dropped " + std::to_string(impl->vectors->recovered_bytes()) +
                             " bytes of uncommitted vectors left by an interrupted run");
  impl->load_items();
  impl->build_ann(true);
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

const IndexManifest& Store::manifest() const { return impl_->manifest; }
const std::string& Store::dir() const { return impl_->dir; }

void Store::check_compatible(const ModelIdentity& model, int embed_dim) const {
  const IndexManifest& m = impl_->manifest;
  const std::string where = "index '" + impl_->dir + "'";
  if (embed_dim != m.embed_dim)
    throw Error(ErrorCode::kInvalidArgument, where + " holds " + std::to_string(m.embed_dim) +
                                                 "-d vectors but the query model produces " + std::to_string(embed_dim) +
                                                 "-d embeddings");
  if (!model.family.empty() && !m.model.family.empty() && model.family != m.model.family)
    throw Error(ErrorCode::kInvalidArgument, where + " was built with model family '" + m.model.family +
                                                 "', the query model is '" + model.family + "'");
  if (!model.weights_sha256.empty() && !m.model.weights_sha256.empty() && model.weights_sha256 != m.model.weights_sha256)
    throw Error(ErrorCode::kInvalidArgument, where + " was built with weights sha256 " + m.model.weights_sha256 +
                                                 " (" + m.model.path + "), the query model has " + model.weights_sha256 +
                                                 " (" + model.path + ")");
}

// ---------------------------------------------------------------------------------------------
// Items

std::vector<int64_t> Store::add_items(const std::vector<NewItem>& items) {
  Impl& s = *impl_;
  s.require_writable();
  if (items.empty()) return {};
  const int dim = s.manifest.embed_dim;
  std::unordered_set<std::string> seen;
  int64_t total_rows = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const NewItem& it = items[i];
    const std::string at = "add_items: item " + std::to_string(i) + " ('" + it.external_id + "')";
    if (it.external_id.empty()) throw Error(ErrorCode::kInvalidArgument, "add_items: item " + std::to_string(i) + " has an empty external_id");
    if (!seen.insert(it.external_id).second)
      throw Error(ErrorCode::kInvalidArgument, at + ": external_id appears twice in one batch");
    if (it.n_vectors < 1 || it.n_vectors > s.manifest.vectors_per_item)
      throw Error(ErrorCode::kInvalidArgument, at + ": n_vectors " + std::to_string(it.n_vectors) + " outside 1.." +
                                                   std::to_string(s.manifest.vectors_per_item) + " (vectors_per_item)");
    if (!it.vectors) throw Error(ErrorCode::kInvalidArgument, at + ": vectors is null");
    if (!is_finite(it.vectors, static_cast<size_t>(it.n_vectors) * dim))
      throw Error(ErrorCode::kInvalidArgument, at + ": vectors contain NaN or infinity");
    for (const auto& [key, value] : it.metadata) {
      if (key.empty()) throw Error(ErrorCode::kInvalidArgument, at + ": metadata key is empty");
      if (const double* d = std::get_if<double>(&value); d && !std::isfinite(*d))
        throw Error(ErrorCode::kInvalidArgument, at + ": metadata '" + key + "' is not a finite number");
    }
    total_rows += it.n_vectors;
  }
  std::vector<uint8_t> payload(static_cast<size_t>(total_rows) * s.vectors->row_bytes());
  {
    size_t off = 0;
    for (const NewItem& it : items) {
      const size_t values = static_cast<size_t>(it.n_vectors) * dim;
      if (s.manifest.dtype == VectorDType::kFp16) {
        detail::float_to_half_n(it.vectors, reinterpret_cast<uint16_t*>(payload.data()) + off, values);
      } else {
        std::memcpy(reinterpret_cast<float*>(payload.data()) + off, it.vectors, values * sizeof(float));
      }
      off += values;
    }
  }

  std::unique_lock lock(s.mutex);
  std::lock_guard db_lock(s.db_mutex);
  s.check_vectors();  // appending to a file someone else truncated would commit garbage offsets
  // Order is the crash-safety argument: vectors durable first, then the rows that point at them.
  const int64_t first_row = s.vectors->append(payload.data(), total_rows);
  std::vector<int64_t> ids(items.size());
  struct Previous {
    bool existed = false, was_live = false;
    int64_t row = 0, n = 0;
  };
  std::vector<Previous> previous(items.size());
  try {
    Transaction txn(*s.db);
    Stmt find(*s.db, "SELECT id, status, vector_offset, n_vectors FROM items WHERE external_id = ?1");
    Stmt update(*s.db,
                "UPDATE items SET content_hash=?1, size_bytes=?2, mtime=?3, vector_offset=?4, n_vectors=?5, "
                "status='ok', updated_at=?6, caption=?7 WHERE id=?8");
    Stmt insert(*s.db,
                "INSERT INTO items(external_id, content_hash, size_bytes, mtime, vector_offset, n_vectors, status, "
                "added_at, updated_at, caption) VALUES(?1, ?2, ?3, ?4, ?5, ?6, 'ok', ?7, ?7, ?8)");
    Stmt clear_meta(*s.db, "DELETE FROM metadata WHERE item_id = ?1");
    Stmt put_meta(*s.db, "INSERT INTO metadata(item_id, key, value_text, value_num) VALUES(?1, ?2, ?3, ?4)");
    Stmt clear_failure(*s.db, "DELETE FROM failures WHERE path = ?1");
    const int64_t now = detail::now_unix();
    int64_t row = first_row;
    for (size_t i = 0; i < items.size(); ++i) {
      const NewItem& it = items[i];
      find.bind(1, std::string_view(it.external_id));
      if (find.step()) {
        previous[i] = {true, find.col_text(1) == "ok", find.col_int(2), find.col_int(3)};
        ids[i] = find.col_int(0);
        find.reset();
        update.bind(1, std::string_view(it.content_hash)).bind(2, it.size_bytes).bind(3, it.mtime).bind(4, row);
        update.bind(5, int64_t{it.n_vectors}).bind(6, now).bind(7, std::string_view(it.caption)).bind(8, ids[i]).run();
        clear_meta.bind(1, ids[i]).run();
      } else {
        find.reset();
        insert.bind(1, std::string_view(it.external_id)).bind(2, std::string_view(it.content_hash));
        insert.bind(3, it.size_bytes).bind(4, it.mtime).bind(5, row).bind(6, int64_t{it.n_vectors}).bind(7, now);
        insert.bind(8, std::string_view(it.caption)).run();
        ids[i] = s.db->last_insert_rowid();
      }
      for (const auto& [key, value] : it.metadata) {
        put_meta.bind(1, ids[i]).bind(2, std::string_view(key));
        if (const double* d = std::get_if<double>(&value)) {
          put_meta.bind_null(3).bind(4, *d);
        } else {
          put_meta.bind(3, std::string_view(std::get<std::string>(value))).bind_null(4);
        }
        put_meta.run();
      }
      clear_failure.bind(1, std::string_view(it.external_id)).run();
      row += it.n_vectors;
    }
    set_kv(*s.db, "vector_rows", std::to_string(first_row + total_rows));
    txn.commit();
  } catch (...) {
    s.vectors->discard();
    throw;
  }
  s.vectors->publish();
  s.clear_filter_cache();

  // In-memory state follows the commit.
  const int64_t rows = s.vectors->rows();
  s.row_owner.resize(static_cast<size_t>(rows), -1);
  s.live_rows.resize(static_cast<size_t>((rows + 7) / 8), 0);
  const int64_t covered = s.ann->covered_rows();
  int64_t row = first_row;
  for (size_t i = 0; i < items.size(); ++i) {
    const Previous& p = previous[i];
    if (p.was_live) {
      s.mark_row_range(p.row, p.n, -1);
      s.n_live_vectors -= p.n;
      if (p.row < covered) s.ann_dead += p.n;
    } else if (p.existed) {
      --s.n_removed;
    }
    const LiveItem li{ids[i], row, items[i].n_vectors};
    auto pos = std::lower_bound(s.live.begin(), s.live.end(), ids[i],
                                [](const LiveItem& a, int64_t b) { return a.id < b; });
    if (pos != s.live.end() && pos->id == ids[i]) {
      *pos = li;
    } else {
      s.live.insert(pos, li);
    }
    s.mark_row_range(row, items[i].n_vectors, ids[i]);
    s.n_live_vectors += items[i].n_vectors;
    row += items[i].n_vectors;
  }
  try {
    if (s.ann->trained()) {
      s.add_rows_to_ann(first_row, total_rows);
    } else {
      s.train_ann_if_ready();
    }
  } catch (const Error& e) {
    log(LogLevel::kWarn, std::string("rebuilding the ANN index after: ") + e.what());
    s.build_ann(false);
  }
  s.ann_dirty = s.ann_dirty || s.ann->key() != "Flat";
  s.manifest_dirty = true;
  return ids;
}

int64_t Store::remove_items(const std::vector<int64_t>& ids) {
  Impl& s = *impl_;
  s.require_writable();
  std::unique_lock lock(s.mutex);
  std::lock_guard db_lock(s.db_mutex);
  std::vector<LiveItem> gone;
  std::unordered_set<int64_t> unique;
  for (int64_t id : ids)
    if (const LiveItem* it = s.find_live(id); it && unique.insert(id).second) gone.push_back(*it);
  if (gone.empty()) return 0;
  {
    Transaction txn(*s.db);
    Stmt st(*s.db, "UPDATE items SET status = 'removed', updated_at = ?1 WHERE id = ?2");
    const int64_t now = detail::now_unix();
    for (const LiveItem& it : gone) st.bind(1, now).bind(2, it.id).run();
    txn.commit();
  }
  const int64_t covered = s.ann->covered_rows();
  for (const LiveItem& it : gone) {
    s.mark_row_range(it.row, it.n, -1);
    s.n_live_vectors -= it.n;
    if (it.row < covered) s.ann_dead += it.n;
  }
  std::erase_if(s.live, [&](const LiveItem& it) { return unique.count(it.id) > 0; });
  s.n_removed += static_cast<int64_t>(gone.size());
  s.manifest_dirty = true;
  s.clear_filter_cache();
  return static_cast<int64_t>(gone.size());
}

int64_t Store::remove_by_external_ids(const std::vector<std::string>& external_ids) {
  std::vector<int64_t> ids;
  {
    std::lock_guard db_lock(impl_->db_mutex);
    Stmt st(*impl_->db, "SELECT id FROM items WHERE external_id = ?1 AND status = 'ok'");
    for (const std::string& e : external_ids) {
      st.bind(1, std::string_view(e));
      if (st.step()) ids.push_back(st.col_int(0));
      st.reset();
    }
  }
  return remove_items(ids);
}

int64_t Store::count() const {
  std::shared_lock lock(impl_->mutex);
  return static_cast<int64_t>(impl_->live.size());
}

FloatMatrix Store::get_vectors(const std::vector<int64_t>& ids) const {
  const Impl& s = *impl_;
  std::shared_lock lock(s.mutex);
  s.check_vectors();
  int64_t rows = 0;
  for (int64_t id : ids) {
    const LiveItem* it = s.find_live(id);
    if (!it) throw Error(ErrorCode::kNotFound, "item " + std::to_string(id) + " is not in index '" + s.dir + "' (unknown or removed)");
    rows += it->n;
  }
  FloatMatrix out(rows, s.manifest.embed_dim);
  int64_t r = 0;
  for (int64_t id : ids) {
    const LiveItem* it = s.find_live(id);
    s.vectors->read_rows(it->row, it->n, out.row(r));
    r += it->n;
  }
  return out;
}

void Store::record_failure(const std::string& path, const std::string& reason) {
  impl_->require_writable();
  std::lock_guard db_lock(impl_->db_mutex);
  Stmt st(*impl_->db,
          "INSERT INTO failures(path, reason, at, n_attempts) VALUES(?1, ?2, ?3, 1) ON CONFLICT(path) DO UPDATE SET "
          "reason = excluded.reason, at = excluded.at, n_attempts = n_attempts + 1");
  st.bind(1, std::string_view(path)).bind(2, std::string_view(reason)).bind(3, detail::now_unix()).run();
}

std::vector<Failure> Store::failures() const {
  std::lock_guard db_lock(impl_->db_mutex);
  Stmt st(*impl_->db, "SELECT path, reason, at, n_attempts FROM failures ORDER BY path");
  std::vector<Failure> out;
  while (st.step()) out.push_back({st.col_text(0), st.col_text(1), st.col_int(2), static_cast<int>(st.col_int(3))});
  return out;
}

}  // namespace cir::index
