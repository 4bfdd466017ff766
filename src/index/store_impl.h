// State of an open Store, shared by store.cpp (lifecycle and items), store_filter.cpp,
// store_search.cpp and clip_retrieval.cpp.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "cir/index.h"
#include "index/ann_index.h"
#include "index/shared_mutex.h"
#include "index/sqlite_db.h"
#include "index/vector_file.h"

namespace cir::index {

namespace detail {

/// A live item as search needs it: where its vectors are.
struct LiveItem {
  int64_t id = 0;
  int64_t row = 0;  ///< first vector row
  int32_t n = 0;    ///< vector rows
};

inline constexpr const char* kManifestFile = "manifest.json";
inline constexpr const char* kItemsFile = "items.sqlite";
inline constexpr const char* kVectorsFile = "vectors.bin";
inline constexpr const char* kCompactFile = "vectors.bin.compact";
inline constexpr const char* kAnnFile = "faiss.index";
inline constexpr const char* kLockFile = "LOCK";
inline constexpr int kSchemaVersion = 1;

/// flock on <dir>/LOCK (shared or exclusive, non-blocking); returns the fd holding it. kIo
/// naming the directory when another process holds a conflicting lock.
int take_lock(const std::string& dir, bool shared);

}  // namespace detail

struct Store::Impl {
  std::string dir;
  IndexManifest manifest;
  bool read_only = false;
  int lock_fd = -1;
  std::unique_ptr<detail::Db> db;
  std::unique_ptr<detail::VectorFile> vectors;
  uint64_t epoch = 0;
  std::unique_ptr<detail::AnnIndex> ann;
  bool ann_dirty = false;       ///< ANN changed since faiss.index was written
  bool manifest_dirty = false;  ///< items changed since updated_at was written

  std::vector<detail::LiveItem> live;  ///< sorted by id
  std::vector<int64_t> row_owner;      ///< item id per committed row, -1 when dead
  std::vector<uint8_t> live_rows;      ///< bitmap over rows: row belongs to a live item
  int64_t n_live_vectors = 0;
  int64_t n_removed = 0;
  int64_t ann_dead = 0;  ///< ANN positions whose rows are dead (searches must then filter)

  /// Readers (search, get) share it; writers (add, remove, compact) hold it exclusively and are
  /// preferred, so continuous searching cannot starve indexing.
  mutable detail::SharedMutex mutex;
  /// One SQLite connection serves all threads; statements are not shareable, so calls serialise.
  mutable std::mutex db_mutex;

  ~Impl();

  std::string path(const char* file) const { return dir + "/" + file; }
  const detail::LiveItem* find_live(int64_t id) const;
  void require_writable() const;

  /// Rebuilds live/row_owner/live_rows from SQLite (caller holds db_mutex or is single-threaded).
  void load_items();
  /// Builds (or loads from faiss.index when `allow_cache`) the ANN index for the live vectors.
  void build_ann(bool allow_cache);
  /// Decodes the live rows among [first_row, first_row + n) and adds them to the ANN index.
  void add_rows_to_ann(int64_t first_row, int64_t n);
  /// Trains an untrained ANN index once enough vectors exist, then fills it.
  void train_ann_if_ready();

  void mark_row_range(int64_t row, int64_t n, int64_t owner);

  /// Sorted ids of items in `universe` (sorted) that match the filter.
  std::vector<int64_t> eval_filter(const Filter& filter, const std::vector<int64_t>& universe) const;
  /// eval_filter over live items, remembered for the last few filters until the next mutation
  /// (paging through one filtered query re-evaluates nothing). Caller holds `mutex` (any mode).
  std::shared_ptr<const std::vector<int64_t>> live_matching(const Filter& filter) const;
  /// Forgets cached filter results; every mutation calls it under the exclusive lock.
  void clear_filter_cache() const;

  mutable std::mutex filter_cache_mutex;
  mutable std::vector<std::pair<std::string, std::shared_ptr<const std::vector<int64_t>>>> filter_cache;
  /// Sorted ids of live items.
  std::vector<int64_t> live_ids() const;
  /// Sorted ids of the live items `req` allows: filter AND candidate_ids (exclusions not
  /// applied); n_filtered = live items the filter rejected. Caller holds `mutex` (any mode).
  std::vector<int64_t> eligible_ids(const SearchRequest& req, int64_t& n_filtered) const;

  /// Reads one item (with metadata when asked); caller holds db_mutex.
  std::optional<ItemRecord> read_item(const char* where_sql, const std::string& text_arg, int64_t int_arg,
                                      bool with_metadata) const;
  void read_metadata(ItemRecord& item) const;

  /// Items searches skipped for a non-finite score since open (StoreInfo::n_invalid_scores).
  mutable std::atomic<int64_t> n_invalid_scores{0};
  /// Counts `n` skipped items of one search; the first ever also logs a warning.
  void note_invalid_scores(int64_t n) const;
  /// VectorFile::check_unchanged: every read of the map goes through it first (no SIGBUS).
  void check_vectors() const { vectors->check_unchanged(); }

  /// Max inner product of q with the item's vectors; `buf` holds >= n * dim floats.
  float score_item(const float* q, const detail::LiveItem& item, float* buf) const;

  /// Writes manifest.json atomically.
  void write_manifest();
  int64_t kv_int(const char* key, int64_t fallback) const;
};

}  // namespace cir::index
