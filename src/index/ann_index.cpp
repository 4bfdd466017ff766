#include "index/ann_index.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <shared_mutex>

#include <faiss/IVFlib.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexPQ.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>

#include <omp.h>

#include "cir/index.h"
#include "index/util.h"

namespace cir::index {

std::string resolve_index_key(const std::string& key, int64_t n, int dim, int64_t budget) {
  if (key != "auto") return key;
  if (n <= 50'000) return "Flat";
  const int64_t hnsw_bytes = n * (4 * int64_t{dim} + 8 * 32 + 16);
  if (hnsw_bytes <= budget) return "HNSW32";
  // IVF lists: ~4 sqrt(n), a power of two, with >= 39 training vectors per list (faiss's advice).
  int64_t nlist = 64;
  while (nlist * 2 <= 4 * static_cast<int64_t>(std::sqrt(static_cast<double>(n))) && nlist * 2 <= 65536 &&
         nlist * 2 * 39 <= n)
    nlist *= 2;
  int m = 8;
  for (int cand : {dim / 4, dim / 8, dim / 16, 16, 8}) {
    if (cand <= 0 || dim % cand != 0) continue;
    const int64_t bytes = n * (cand + 8 + 8) + nlist * int64_t{dim} * 4 + 256 * int64_t{dim} * 4;
    if (bytes <= budget) {
      m = cand;
      break;
    }
  }
  if (dim % m != 0) m = 1;
  return "IVF" + std::to_string(nlist) + ",PQ" + std::to_string(m);
}

namespace detail {
namespace {

// faiss messages carry "Error in <signature> at <file:line>: Error: '...' failed: why"; keep the why.
std::string faiss_reason(const faiss::FaissException& e) {
  std::string msg = e.msg;
  const auto pos = msg.rfind("Error: ");
  if (pos != std::string::npos) msg = msg.substr(pos + 7);
  return msg;
}

// Translates faiss positions to our rows and asks the caller's row bitmap.
struct RowSelector : faiss::IDSelector {
  const int64_t* pos_to_row;
  RowBitmap allowed;
  RowSelector(const int64_t* p, RowBitmap a) : pos_to_row(p), allowed(a) {}
  bool is_member(idx_t pos) const final {
    const int64_t row = pos_to_row[pos];
    return row < allowed.n_rows && (allowed.bitmap[row >> 3] >> (row & 7)) & 1;
  }
};

constexpr char kMagic[8] = {'C', 'I', 'R', 'A', 'N', 'N', '0', '1'};

// Caps OpenMP threads for faiss calls made from this thread. Small jobs (a few queries, a small
// batch, k-means on low-dimensional PQ sub-vectors) run as many tiny parallel regions, and on a
// busy machine every region's barrier waits for a descheduled worker: we measured PQ training
// going from 3 s to 40 s that way on 2 shared cores. One thread is faster for those.
class OmpThreads {
 public:
  explicit OmpThreads(bool single) : saved_(omp_get_max_threads()), active_(single) {
    if (active_) omp_set_num_threads(1);
  }
  ~OmpThreads() {
    if (active_) omp_set_num_threads(saved_);
  }
  OmpThreads(const OmpThreads&) = delete;
  OmpThreads& operator=(const OmpThreads&) = delete;

 private:
  int saved_;
  bool active_;
};

constexpr int64_t kSmallWork = int64_t{1} << 22;  // floats touched below which one thread wins

}  // namespace

AnnIndex::AnnIndex(const std::string& key, int dim) : key_(key), dim_(dim) {
  try {
    index_.reset(faiss::index_factory(dim, key.c_str(), faiss::METRIC_INNER_PRODUCT));
  } catch (const faiss::FaissException& e) {
    throw Error(ErrorCode::kInvalidArgument, "index key '" + key + "' is not a FAISS factory string faiss can build for " +
                                                 std::to_string(dim) + "-d vectors: " + faiss_reason(e));
  }
  inspect();
}

AnnIndex::~AnnIndex() = default;

void AnnIndex::inspect() {
  // Polysemous training (simulated annealing over code assignments, minutes on big trainings) only
  // serves Hamming pre-filtering, which we never use: candidates are rescored exactly instead.
  if (auto* ivfpq = dynamic_cast<faiss::IndexIVFPQ*>(faiss::ivflib::try_extract_index_ivf(index_.get())))
    ivfpq->do_polysemous_training = false;
  if (auto* pq = dynamic_cast<faiss::IndexPQ*>(index_.get())) pq->do_polysemous_training = false;
  exhaustive_ = dynamic_cast<const faiss::IndexFlat*>(index_.get()) != nullptr;
  exact_scores_ = exhaustive_ || dynamic_cast<const faiss::IndexHNSWFlat*>(index_.get()) != nullptr ||
                  dynamic_cast<const faiss::IndexIVFFlat*>(index_.get()) != nullptr;
  if (const faiss::IndexIVF* ivf = faiss::ivflib::try_extract_index_ivf(index_.get())) nlist_ = ivf->nlist;
}

bool AnnIndex::trained() const { return index_->is_trained; }

int64_t AnnIndex::min_train_rows() const {
  if (index_->is_trained) return 0;
  // k-means needs at least one point per centroid; 4 per centroid (and 1024 for 256-entry PQ
  // codebooks) keeps quality tolerable. faiss still warns below 39 per centroid.
  return std::max<int64_t>(1024, 4 * nlist_);
}

int64_t AnnIndex::train_sample_rows() const {
  return std::min<int64_t>(500'000, std::max<int64_t>(256 * 64, 64 * nlist_));
}

void AnnIndex::train(const float* x, int64_t n) {
  OmpThreads threads(n * dim_ < kSmallWork * 4);
  try {
    index_->train(n, x);
  } catch (const faiss::FaissException& e) {
    throw Error(ErrorCode::kInvalidArgument, "training '" + key_ + "' on " + std::to_string(n) +
                                                 " vectors failed: " + faiss_reason(e));
  }
}

void AnnIndex::add(const float* x, int64_t n, const int64_t* rows) {
  if (n <= 0) return;
  OmpThreads threads(n * dim_ < kSmallWork / 4);
  try {
    index_->add(n, x);
  } catch (const faiss::FaissException& e) {
    throw Error(ErrorCode::kInternal, "adding " + std::to_string(n) + " vectors to '" + key_ + "' failed: " + faiss_reason(e));
  }
  pos_to_row_.insert(pos_to_row_.end(), rows, rows + n);
}

void AnnIndex::search(int64_t nq, const float* queries, int64_t k, const RowBitmap* allowed, int ef_search,
                      int nprobe, float* scores, int64_t* rows) const {
  std::vector<faiss::Index::idx_t> pos(static_cast<size_t>(nq * k), -1);
  std::fill(scores, scores + nq * k, -std::numeric_limits<float>::infinity());
  if (index_->ntotal == 0 || k == 0) {
    std::fill(rows, rows + nq * k, -1);
    return;
  }
  RowSelector selector(pos_to_row_.data(), allowed ? *allowed : RowBitmap{});
  faiss::SearchParametersHNSW hnsw_params;
  faiss::SearchParametersIVF ivf_params;
  faiss::SearchParameters plain_params;
  faiss::SearchParameters* params = &plain_params;
  auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(index_.get());
  if (hnsw) {
    hnsw_params.efSearch = static_cast<int>(std::max<int64_t>(ef_search > 0 ? ef_search : 64, k));
    params = &hnsw_params;
  } else if (nlist_ > 0) {
    ivf_params.nprobe = static_cast<size_t>(
        nprobe > 0 ? std::min<int64_t>(nprobe, nlist_) : std::min<int64_t>(nlist_, std::max<int64_t>(16, nlist_ / 16)));
    params = &ivf_params;
  }
  const bool use_selector = allowed && supports_selector_.load();
  params->sel = use_selector ? &selector : nullptr;
  const bool default_params = !use_selector && params == &plain_params;
  // faiss 1.7.3 parallelises searches over queries only: a handful of queries gains nothing.
  OmpThreads threads(nq < 8);
  std::shared_lock<std::shared_mutex> shared(ef_mutex_, std::defer_lock);
  std::unique_lock<std::shared_mutex> exclusive(ef_mutex_, std::defer_lock);
  if (hnsw) {
    shared.lock();
    if (hnsw->hnsw.efSearch != hnsw_params.efSearch) {
      shared.unlock();
      exclusive.lock();
      hnsw->hnsw.efSearch = hnsw_params.efSearch;
    }
  }
  try {
    index_->search(nq, queries, k, scores, pos.data(), default_params ? nullptr : params);
  } catch (const faiss::FaissException& e) {
    // Composite keys (OPQ pre-transforms, refine wrappers...) reject SearchParameters in 1.7.3:
    // remember that and let the caller post-filter an over-fetched list instead.
    if (default_params) throw Error(ErrorCode::kInternal, "faiss search on '" + key_ + "' failed: " + faiss_reason(e));
    supports_selector_.store(false);
    try {
      index_->search(nq, queries, k, scores, pos.data());
    } catch (const faiss::FaissException& e2) {
      throw Error(ErrorCode::kInternal, "faiss search on '" + key_ + "' failed: " + faiss_reason(e2));
    }
  }
  for (int64_t i = 0; i < nq * k; ++i) rows[i] = pos[i] < 0 ? -1 : pos_to_row_[static_cast<size_t>(pos[i])];
}

int64_t AnnIndex::memory_bytes() const {
  const int64_t n = index_->ntotal;
  int64_t bytes = static_cast<int64_t>(pos_to_row_.capacity() * sizeof(int64_t));
  if (const auto* hnsw = dynamic_cast<const faiss::IndexHNSW*>(index_.get())) {
    bytes += static_cast<int64_t>(hnsw->hnsw.neighbors.size() * 4 + hnsw->hnsw.offsets.size() * 8 +
                                  hnsw->hnsw.levels.size() * 4);
    bytes += n * int64_t{dim_} * 4;  // IndexHNSWFlat storage (other storages are smaller)
  } else if (const faiss::IndexIVF* ivf = faiss::ivflib::try_extract_index_ivf(index_.get())) {
    bytes += n * static_cast<int64_t>(ivf->code_size + sizeof(faiss::Index::idx_t));
    bytes += static_cast<int64_t>(ivf->nlist) * dim_ * 4;
    if (const auto* pq = dynamic_cast<const faiss::IndexIVFPQ*>(ivf))
      bytes += static_cast<int64_t>(pq->pq.centroids.size() * 4 + pq->precomputed_table.size() * 4);
  } else if (const auto* flat = dynamic_cast<const faiss::IndexFlatCodes*>(index_.get())) {
    bytes += static_cast<int64_t>(flat->codes.size());
  } else {
    bytes += n * int64_t{dim_} * 4;
  }
  return bytes;
}

void AnnIndex::save(const std::string& path, uint64_t epoch) const {
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw Error(ErrorCode::kIo, "cannot create '" + tmp + "': " + std::strerror(errno));
  bool ok = true;
  // n == 0 is skipped: an empty vector's data() may be null, which fwrite must not get (UBSan).
  auto put = [&](const void* p, size_t n) { ok = ok && (n == 0 || std::fwrite(p, 1, n, f) == n); };
  const uint32_t version = 1, dim = static_cast<uint32_t>(dim_), key_len = static_cast<uint32_t>(key_.size());
  const int64_t n_pos = size();
  put(kMagic, 8);
  put(&version, 4);
  put(&dim, 4);
  put(&epoch, 8);
  put(&n_pos, 8);
  put(&key_len, 4);
  put(key_.data(), key_.size());
  put(pos_to_row_.data(), pos_to_row_.size() * sizeof(int64_t));
  try {
    if (ok) faiss::write_index(index_.get(), f);
  } catch (const faiss::FaissException& e) {
    ok = false;
  }
  ok = ok && std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error(ErrorCode::kIo, "cannot write '" + path + "'");
  }
  fsync_dir(std::filesystem::path(path).parent_path().string());
}

std::unique_ptr<AnnIndex> AnnIndex::load(const std::string& path, const std::string& key, int dim, uint64_t epoch) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return nullptr;
  std::unique_ptr<AnnIndex> out;
  std::string why;
  try {
    char magic[8];
    uint32_t version = 0, file_dim = 0, key_len = 0;
    uint64_t file_epoch = 0;
    int64_t n_pos = 0;
    auto get = [&](void* p, size_t n) {
      if (n != 0 && std::fread(p, 1, n, f) != n) throw Error(ErrorCode::kCorrupt, "truncated");
    };
    get(magic, 8);
    get(&version, 4);
    get(&file_dim, 4);
    get(&file_epoch, 8);
    get(&n_pos, 8);
    get(&key_len, 4);
    if (std::memcmp(magic, kMagic, 8) != 0 || version != 1 || key_len > 4096 || n_pos < 0)
      throw Error(ErrorCode::kCorrupt, "bad header");
    std::string file_key(key_len, '\0');
    get(file_key.data(), key_len);
    if (file_key != key || static_cast<int>(file_dim) != dim || file_epoch != epoch) {
      why = "built for key '" + file_key + "', epoch " + std::to_string(file_epoch);
    } else {
      out.reset(new AnnIndex());
      out->key_ = key;
      out->dim_ = dim;
      out->pos_to_row_.resize(static_cast<size_t>(n_pos));
      get(out->pos_to_row_.data(), out->pos_to_row_.size() * sizeof(int64_t));
      out->index_.reset(faiss::read_index(f));
      if (out->index_->d != dim || out->index_->ntotal != n_pos) throw Error(ErrorCode::kCorrupt, "size mismatch");
      out->inspect();
    }
  } catch (const faiss::FaissException& e) {
    why = faiss_reason(e);
    out.reset();
  } catch (const Error& e) {
    why = e.what();
    out.reset();
  } catch (const std::bad_alloc&) {
    why = "implausible sizes";
    out.reset();
  }
  std::fclose(f);
  if (!out) log(LogLevel::kInfo, "ignoring '" + path + "' (" + why + "); rebuilding the ANN index");
  return out;
}

}  // namespace detail
}  // namespace cir::index
