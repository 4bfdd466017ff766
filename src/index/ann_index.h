// The FAISS side of the store: one ANN structure chosen by a factory string, whose positions map
// to vector rows (we keep that map ourselves: IndexIDMap does not accept search parameters in
// faiss 1.7.3, and we need IDSelectors for filtering before the top-k cut).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

namespace faiss {
struct Index;
}

namespace cir::index::detail {

/// Rows a search may return: bit r of `bitmap` set = row r eligible (rows >= n_rows are not).
struct RowBitmap {
  const uint8_t* bitmap = nullptr;
  int64_t n_rows = 0;
};

class AnnIndex {
 public:
  /// Builds an empty index for a concrete key; kInvalidArgument when faiss cannot build it.
  AnnIndex(const std::string& key, int dim);
  ~AnnIndex();
  AnnIndex(const AnnIndex&) = delete;
  AnnIndex& operator=(const AnnIndex&) = delete;

  const std::string& key() const { return key_; }
  int dim() const { return dim_; }
  bool trained() const;
  /// Vectors needed before train() is worth calling (0 when the key needs no training).
  int64_t min_train_rows() const;
  /// Training sample size we aim for (train() subsamples larger inputs anyway).
  int64_t train_sample_rows() const;
  /// Search is a brute-force scan: results are exact and complete (IndexFlat).
  bool exhaustive() const { return exhaustive_; }
  /// Returned scores equal exact inner products of the stored vectors (no quantisation).
  bool exact_scores() const { return exact_scores_; }
  bool supports_selector() const { return supports_selector_.load(); }
  int64_t nlist() const { return nlist_; }

  void train(const float* x, int64_t n);
  /// Appends n vectors that are vector rows `rows[i]`.
  void add(const float* x, int64_t n, const int64_t* rows);
  /// Positions in the index (live and dead rows alike).
  int64_t size() const { return static_cast<int64_t>(pos_to_row_.size()); }
  /// 1 + the largest row added (rows are added in increasing order), 0 when empty.
  int64_t covered_rows() const { return pos_to_row_.empty() ? 0 : pos_to_row_.back() + 1; }

  /// k nearest rows of each of nq queries by inner product, restricted to `allowed` when given.
  /// Writes nq x k scores and rows (-1 pads missing results). ef_search/nprobe: 0 = default.
  void search(int64_t nq, const float* queries, int64_t k, const RowBitmap* allowed, int ef_search, int nprobe,
              float* scores, int64_t* rows) const;

  /// Estimated bytes of RAM held by the structure (codes, graph, centroids, our row map).
  int64_t memory_bytes() const;

  /// Writes the index with the vectors epoch it belongs to (temp + fsync + rename).
  void save(const std::string& path, uint64_t epoch) const;
  /// Reads a saved index; nullptr (with a logged reason) when it is absent, damaged, or was built
  /// for another key, dim or epoch, so the caller rebuilds.
  static std::unique_ptr<AnnIndex> load(const std::string& path, const std::string& key, int dim, uint64_t epoch);

 private:
  AnnIndex() = default;
  void inspect();

  std::string key_;
  int dim_ = 0;
  std::unique_ptr<faiss::Index> index_;
  std::vector<int64_t> pos_to_row_;
  bool exhaustive_ = false;
  bool exact_scores_ = false;
  int64_t nlist_ = 0;
  mutable std::atomic<bool> supports_selector_{true};
  // faiss 1.7.3's HNSW reads efSearch from the index, not from SearchParametersHNSW (measured:
  // the parameter has no effect). Searches share this lock; one that needs another efSearch takes
  // it exclusively to change the index's value.
  mutable std::shared_mutex ef_mutex_;
};

}  // namespace cir::index::detail
