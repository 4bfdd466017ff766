// Store reads (items, listing, info) and maintenance (flush, set_index_key, compact, verify).
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "index/store_impl.h"
#include "index/util.h"

namespace cir::index {

using detail::LiveItem;
using detail::Stmt;
using detail::Transaction;

namespace {

constexpr const char* kItemColumns =
    "SELECT id, external_id, content_hash, size_bytes, mtime, caption, n_vectors, status, added_at, updated_at "
    "FROM items ";

ItemRecord row_to_item(const Stmt& st) {
  ItemRecord r;
  r.id = st.col_int(0);
  r.external_id = st.col_text(1);
  r.content_hash = st.col_text(2);
  r.size_bytes = st.col_int(3);
  r.mtime = st.col_int(4);
  r.caption = st.col_text(5);
  r.n_vectors = static_cast<int>(st.col_int(6));
  r.removed = st.col_text(7) != "ok";
  r.added_at = st.col_int(8);
  r.updated_at = st.col_int(9);
  return r;
}

}  // namespace

void Store::Impl::read_metadata(ItemRecord& item) const {
  Stmt st(*db, "SELECT key, value_text, value_num FROM metadata WHERE item_id = ?1");
  st.bind(1, item.id);
  while (st.step()) {
    if (st.col_is_null(1)) {
      item.metadata[st.col_text(0)] = st.col_double(2);
    } else {
      item.metadata[st.col_text(0)] = st.col_text(1);
    }
  }
}

std::optional<ItemRecord> Store::Impl::read_item(const char* where_sql, const std::string& text_arg, int64_t int_arg,
                                                 bool with_metadata) const {
  const std::string sql = std::string(kItemColumns) + where_sql;
  Stmt st(*db, sql.c_str());
  if (text_arg.empty()) {
    st.bind(1, int_arg);
  } else {
    st.bind(1, std::string_view(text_arg));
  }
  if (!st.step()) return std::nullopt;
  ItemRecord r = row_to_item(st);
  if (with_metadata) read_metadata(r);
  return r;
}

std::optional<ItemRecord> Store::get_item(int64_t id) const {
  std::lock_guard db_lock(impl_->db_mutex);
  return impl_->read_item("WHERE id = ?1", "", id, true);
}

std::optional<ItemRecord> Store::find_by_external_id(const std::string& external_id) const {
  if (external_id.empty()) return std::nullopt;
  std::lock_guard db_lock(impl_->db_mutex);
  return impl_->read_item("WHERE external_id = ?1", external_id, 0, true);
}

std::vector<ItemRecord> Store::list_items(const ListRequest& request) const {
  const Impl& s = *impl_;
  if (request.limit < 0) throw Error(ErrorCode::kInvalidArgument, "list_items: limit must be >= 0");
  std::vector<ItemRecord> out;
  if (request.limit == 0) return out;
  std::shared_lock lock(s.mutex);
  std::lock_guard db_lock(s.db_mutex);
  if (request.filter.is_all()) {
    const std::string sql = std::string(kItemColumns) + "WHERE id > ?1" +
                            (request.include_removed ? "" : " AND status = 'ok'") + " ORDER BY id LIMIT ?2";
    Stmt st(*s.db, sql.c_str());
    st.bind(1, request.after_id).bind(2, request.limit);
    while (st.step()) out.push_back(row_to_item(st));
  } else {
    std::vector<int64_t> universe;
    if (request.include_removed) {
      Stmt all(*s.db, "SELECT id FROM items ORDER BY id");
      while (all.step()) universe.push_back(all.col_int(0));
    } else {
      universe = s.live_ids();
    }
    const std::vector<int64_t> ids = s.eval_filter(request.filter, universe);
    const std::string sql = std::string(kItemColumns) + "WHERE id = ?1";
    Stmt st(*s.db, sql.c_str());
    for (auto it = std::upper_bound(ids.begin(), ids.end(), request.after_id);
         it != ids.end() && static_cast<int64_t>(out.size()) < request.limit; ++it) {
      st.bind(1, *it);
      if (st.step()) out.push_back(row_to_item(st));
      st.reset();
    }
  }
  if (request.with_metadata)
    for (ItemRecord& r : out) s.read_metadata(r);
  return out;
}

StoreInfo Store::info() const {
  const Impl& s = *impl_;
  std::shared_lock lock(s.mutex);
  StoreInfo info;
  info.dir = s.dir;
  info.manifest = s.manifest;
  info.n_items = static_cast<int64_t>(s.live.size());
  info.n_removed = s.n_removed;
  info.n_vectors = s.n_live_vectors;
  info.n_vector_rows = s.vectors->rows();
  info.index_key = s.ann->key();
  info.index_ready = s.ann->trained();
  info.index_vectors = s.ann->size();
  info.index_memory_bytes = s.ann->memory_bytes();
  info.n_invalid_scores = s.n_invalid_scores.load();
  {
    std::lock_guard db_lock(s.db_mutex);
    Stmt st(*s.db, "SELECT COUNT(*) FROM failures");
    st.step();
    info.n_failures = st.col_int(0);
  }
  for (const char* name : {detail::kManifestFile, detail::kItemsFile, "items.sqlite-wal", "items.sqlite-shm",
                           detail::kVectorsFile, detail::kAnnFile}) {
    const int64_t bytes = detail::file_size_or_neg(s.path(name));
    if (bytes < 0) continue;
    info.files.push_back({name, bytes});
    info.disk_bytes += bytes;
  }
  return info;
}

// ---------------------------------------------------------------------------------------------
// Maintenance

void Store::flush() {
  Impl& s = *impl_;
  if (s.read_only) return;
  std::unique_lock lock(s.mutex);
  if (s.ann->key() == "Flat") {
    // A cache left by an earlier key would only be ignored at the next open: drop it now.
    std::remove(s.path(detail::kAnnFile).c_str());
  } else if (s.ann_dirty && s.ann->trained()) {
    s.ann->save(s.path(detail::kAnnFile), s.epoch);
    s.ann_dirty = false;
  }
  if (s.manifest_dirty) {
    s.manifest.updated_at = detail::now_iso8601();
    s.write_manifest();
    s.manifest_dirty = false;
  }
  std::lock_guard db_lock(s.db_mutex);
  s.db->exec("PRAGMA wal_checkpoint(PASSIVE)");
}

void Store::set_index_key(const std::string& index_key) {
  Impl& s = *impl_;
  s.require_writable();
  std::unique_lock lock(s.mutex);
  if (index_key.empty()) throw Error(ErrorCode::kInvalidArgument, "index key is empty");
  // Validate before touching anything: a bad key must leave the index as it was.
  detail::AnnIndex probe(
      resolve_index_key(index_key, s.n_live_vectors, s.manifest.embed_dim, s.manifest.memory_budget_bytes),
      s.manifest.embed_dim);
  s.check_vectors();
  s.manifest.index_key = index_key;
  s.write_manifest();
  std::remove(s.path(detail::kAnnFile).c_str());
  s.build_ann(false);
}

void Store::compact() {
  Impl& s = *impl_;
  s.require_writable();
  std::unique_lock lock(s.mutex);
  std::lock_guard db_lock(s.db_mutex);
  s.check_vectors();
  const int dim = s.manifest.embed_dim;
  const uint64_t new_epoch = s.epoch + 1;
  const std::string compact_path = s.path(detail::kCompactFile);
  detail::VectorFile::create(compact_path, dim, s.manifest.dtype, new_epoch);
  std::vector<int64_t> new_rows(s.live.size());
  int64_t total = 0;
  {
    detail::VectorFile out(compact_path, dim, s.manifest.dtype, new_epoch, 0, true);
    constexpr size_t kBlockBytes = size_t{32} << 20;
    std::vector<uint8_t> payload;
    std::vector<float> buf;
    int64_t block_rows = 0;
    auto flush_block = [&] {
      if (block_rows > 0) out.append(payload.data(), block_rows, false);
      payload.clear();
      block_rows = 0;
    };
    for (size_t i = 0; i < s.live.size(); ++i) {
      const LiveItem& it = s.live[i];
      buf.resize(static_cast<size_t>(it.n) * dim);
      s.vectors->read_rows(it.row, it.n, buf.data());
      const size_t old = payload.size();
      payload.resize(old + static_cast<size_t>(it.n) * s.vectors->row_bytes());
      if (s.manifest.dtype == VectorDType::kFp16) {
        detail::float_to_half_n(buf.data(), reinterpret_cast<uint16_t*>(payload.data() + old), buf.size());
      } else {
        std::memcpy(payload.data() + old, buf.data(), buf.size() * sizeof(float));
      }
      new_rows[i] = total;
      total += it.n;
      block_rows += it.n;
      if (payload.size() >= kBlockBytes) flush_block();
    }
    flush_block();
    out.sync();
  }
  // FULL for this one commit: after the rename below, a rolled-back epoch would not match.
  s.db->exec("PRAGMA synchronous=FULL");
  try {
    Transaction txn(*s.db);
    s.db->exec("DELETE FROM metadata WHERE item_id IN (SELECT id FROM items WHERE status = 'removed')");
    s.db->exec("DELETE FROM items WHERE status = 'removed'");
    Stmt st(*s.db, "UPDATE items SET vector_offset = ?1 WHERE id = ?2");
    for (size_t i = 0; i < s.live.size(); ++i) st.bind(1, new_rows[i]).bind(2, s.live[i].id).run();
    Stmt kv(*s.db, "UPDATE kv SET value = ?1 WHERE key = ?2");
    kv.bind(1, std::string_view(std::to_string(total))).bind(2, std::string_view("vector_rows")).run();
    kv.bind(1, std::string_view(std::to_string(new_epoch))).bind(2, std::string_view("vectors_epoch")).run();
    txn.commit();
  } catch (...) {
    s.db->exec("PRAGMA synchronous=NORMAL");
    std::remove(compact_path.c_str());
    throw;
  }
  s.db->exec("PRAGMA synchronous=NORMAL");
  const std::string vectors_path = s.path(detail::kVectorsFile);
  s.vectors.reset();
  s.epoch = new_epoch;
  // SQLite now references the new file; if the rename fails, keep serving from it under its
  // temporary name (the next open() finishes the rename).
  const bool renamed = std::rename(compact_path.c_str(), vectors_path.c_str()) == 0;
  if (renamed) detail::fsync_dir(s.dir);
  s.vectors = std::make_unique<detail::VectorFile>(renamed ? vectors_path : compact_path, dim, s.manifest.dtype,
                                                   s.epoch, total, true);
  std::remove(s.path(detail::kAnnFile).c_str());
  s.load_items();
  s.build_ann(false);
  s.manifest_dirty = true;
  s.clear_filter_cache();
}

}  // namespace cir::index
