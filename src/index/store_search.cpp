// Search: filters and exclusions are applied before the top-k cut so a page holds exactly k hits
// when k eligible items exist. Three routes, chosen per request:
//  1. exact scan of the eligible items from the stored vectors — for small eligible subsets
//     (<= 20k vectors or <= 5% of the index: cheaper than ANN and perfectly accurate, like
//     Qdrant's full-scan threshold), exact=true on non-Flat indexes, untrained IVF indexes, and
//     fewer than 8 queries on a Flat index;
//  2. FAISS with an IDSelector over eligible rows (Flat, HNSW, IVF accept one in 1.7.3),
//     over-fetching and widening x4 until enough distinct eligible items come back;
//  3. route 2 falling back to route 1 for a query when three widenings were not enough (very
//     selective filters starve HNSW's graph walk).
// Candidates from a lossy index (PQ) or for multi-vector items are rescored exactly (max over the
// item's stored vectors), so every returned score is an exact inner product.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <unordered_set>

#include "index/store_impl.h"
#include "index/util.h"

namespace cir::index {

using detail::LiveItem;

namespace {

struct Cand {
  float score;
  int64_t id;
};

bool better(const Cand& a, const Cand& b) { return a.score > b.score || (a.score == b.score && a.id < b.id); }

/// The best `cap` candidates seen (a heap whose front is the worst kept).
class TopK {
 public:
  explicit TopK(size_t cap = 0) : cap_(cap) {}
  void push(float score, int64_t id) {
    if (cap_ == 0) return;
    const Cand c{score, id};
    if (heap_.size() < cap_) {
      heap_.push_back(c);
      std::push_heap(heap_.begin(), heap_.end(), better);
    } else if (better(c, heap_.front())) {
      std::pop_heap(heap_.begin(), heap_.end(), better);
      heap_.back() = c;
      std::push_heap(heap_.begin(), heap_.end(), better);
    }
  }
  std::vector<Cand>& items() { return heap_; }

 private:
  size_t cap_;
  std::vector<Cand> heap_;
};

bool bit(const uint8_t* bitmap, int64_t row) { return (bitmap[row >> 3] >> (row & 7)) & 1; }

void set_bits(std::vector<uint8_t>& bitmap, int64_t row, int64_t n, bool on) {
  for (int64_t r = row; r < row + n; ++r) {
    const uint8_t mask = static_cast<uint8_t>(1u << (r & 7));
    if (on) {
      bitmap[static_cast<size_t>(r >> 3)] |= mask;
    } else {
      bitmap[static_cast<size_t>(r >> 3)] &= static_cast<uint8_t>(~mask);
    }
  }
}

constexpr int64_t kMaxWindow = 1'000'000;
constexpr int64_t kSmallSubsetRows = 20'000;
constexpr int kMaxWidenings = 3;
constexpr int64_t kBlasBatch = 8;

}  // namespace

void Store::Impl::note_invalid_scores(int64_t n) const {
  if (n <= 0) return;
  if (n_invalid_scores.fetch_add(n) == 0)
    log(LogLevel::kWarn, "index '" + dir + "': " + std::to_string(n) +
                             " item(s) skipped by a search because their score is NaN or infinite (damaged vectors); "
                             "run `cir index verify " + dir + "`");
}

float Store::Impl::score_item(const float* q, const LiveItem& item, float* buf) const {
  const int dim = manifest.embed_dim;
  vectors->read_rows(item.row, item.n, buf);
  float best = -std::numeric_limits<float>::infinity();
  for (int32_t r = 0; r < item.n; ++r) best = std::max(best, detail::dot(q, buf + int64_t{r} * dim, dim));
  return best;
}

SearchResult Store::search(const FloatMatrix& queries, const SearchRequest& req) const {
  const Impl& s = *impl_;
  const int dim = s.manifest.embed_dim;
  const int64_t nq = queries.rows;
  if (nq > 0 && queries.cols != dim)
    throw Error(ErrorCode::kInvalidArgument, "search: queries have " + std::to_string(queries.cols) +
                                                 " values per row but index '" + s.dir + "' holds " +
                                                 std::to_string(dim) + "-d vectors");
  if (static_cast<int64_t>(queries.data.size()) != nq * queries.cols)
    throw Error(ErrorCode::kInvalidArgument, "search: query matrix data size does not match rows x cols");
  if (req.k < 0 || req.offset < 0 || int64_t{req.k} + req.offset > kMaxWindow)
    throw Error(ErrorCode::kInvalidArgument, "search: need k >= 0, offset >= 0 and k + offset <= " +
                                                 std::to_string(kMaxWindow) + " (got k " + std::to_string(req.k) +
                                                 ", offset " + std::to_string(req.offset) + ")");
  if (!req.exclude_ids_per_query.empty() && static_cast<int64_t>(req.exclude_ids_per_query.size()) != nq)
    throw Error(ErrorCode::kInvalidArgument, "search: exclude_ids_per_query has " +
                                                 std::to_string(req.exclude_ids_per_query.size()) + " lists for " +
                                                 std::to_string(nq) + " queries");
  for (float v : queries.data)
    if (!std::isfinite(v)) throw Error(ErrorCode::kInvalidArgument, "search: queries contain NaN or infinity");

  std::shared_lock lock(s.mutex);
  s.check_vectors();
  SearchResult res;
  res.n_live = static_cast<int64_t>(s.live.size());
  res.index_key = s.ann->key();
  res.queries.resize(static_cast<size_t>(nq));
  if (nq == 0) return res;

  // --- Eligible items: filter, then request-wide exclusions.
  // A candidate list restricts like a filter does (the same subset routes apply).
  const bool filtered = !req.filter.is_all() || req.candidate_ids.has_value();
  std::vector<LiveItem> subset;  // eligible items when filtered, sorted by id
  if (filtered && !req.candidate_ids) {
    const auto ids = s.live_matching(req.filter);  // shared with the filter cache, not copied
    res.n_filtered = res.n_live - static_cast<int64_t>(ids->size());
    subset.reserve(ids->size());
    for (int64_t id : *ids) subset.push_back(*s.find_live(id));
  } else if (filtered) {
    const std::vector<int64_t> ids = s.eligible_ids(req, res.n_filtered);
    subset.reserve(ids.size());
    for (int64_t id : ids) subset.push_back(*s.find_live(id));
  }
  auto find_eligible = [&](int64_t id) -> const LiveItem* {
    if (!filtered) return s.find_live(id);
    auto it = std::lower_bound(subset.begin(), subset.end(), id, [](const LiveItem& a, int64_t b) { return a.id < b; });
    return (it != subset.end() && it->id == id) ? &*it : nullptr;
  };
  std::unordered_set<int64_t> common_excl;
  int64_t excluded_rows = 0;
  for (int64_t id : req.exclude_ids)
    if (const LiveItem* it = find_eligible(id); it && common_excl.insert(id).second) excluded_rows += it->n;
  if (filtered && !common_excl.empty())
    std::erase_if(subset, [&](const LiveItem& it) { return common_excl.count(it.id) > 0; });
  const bool restricted = filtered || !common_excl.empty();
  int64_t n_eligible_items = 0, n_eligible_rows = 0;
  if (filtered) {
    n_eligible_items = static_cast<int64_t>(subset.size());
    for (const LiveItem& it : subset) n_eligible_rows += it.n;
  } else {
    n_eligible_items = res.n_live - static_cast<int64_t>(common_excl.size());
    n_eligible_rows = s.n_live_vectors - excluded_rows;
  }

  // --- Per-query exclusions and how many hits each query needs.
  std::vector<std::unordered_set<int64_t>> query_excl(static_cast<size_t>(nq));
  std::vector<int64_t> need(static_cast<size_t>(nq));
  const int64_t window = int64_t{req.offset} + req.k;
  for (int64_t q = 0; q < nq; ++q) {
    if (!req.exclude_ids_per_query.empty())
      for (int64_t id : req.exclude_ids_per_query[static_cast<size_t>(q)])
        if (!common_excl.count(id) && find_eligible(id)) query_excl[static_cast<size_t>(q)].insert(id);
    const int64_t available = n_eligible_items - static_cast<int64_t>(query_excl[static_cast<size_t>(q)].size());
    QueryHits& out = res.queries[static_cast<size_t>(q)];
    out.n_excluded = static_cast<int64_t>(common_excl.size() + query_excl[static_cast<size_t>(q)].size());
    out.has_more = available > window;
    need[static_cast<size_t>(q)] = std::min(window, available);
  }

  // --- Row bitmap handed to FAISS (and checked again on what comes back).
  const int64_t n_rows = s.vectors->rows();
  std::vector<uint8_t> bitmap;
  detail::RowBitmap allowed_rows{nullptr, n_rows};
  if (filtered) {
    bitmap.assign(static_cast<size_t>((n_rows + 7) / 8), 0);
    for (const LiveItem& it : subset) set_bits(bitmap, it.row, it.n, true);
    allowed_rows.bitmap = bitmap.data();
  } else if (!common_excl.empty()) {
    bitmap = s.live_rows;
    for (int64_t id : common_excl) {
      const LiveItem* it = s.find_live(id);
      set_bits(bitmap, it->row, it->n, false);
    }
    allowed_rows.bitmap = bitmap.data();
  } else if (s.ann_dead > 0) {
    allowed_rows.bitmap = s.live_rows.data();
  }
  const detail::RowBitmap* allowed = allowed_rows.bitmap ? &allowed_rows : nullptr;

  // --- Route choice.
  const detail::AnnIndex& ann = *s.ann;
  const bool small = restricted && (n_eligible_rows <= kSmallSubsetRows || n_eligible_rows * 20 <= ann.size());
  const bool ann_unusable = !ann.trained() || ann.size() == 0;
  // A few queries against Flat: our scan reads fp16 rows (half the bytes of faiss's fp32 copy) with
  // F16C + AVX2, ~3x faster than the distribution faiss build; batches go to faiss's BLAS path.
  const bool few_on_flat = ann.exhaustive() && nq < kBlasBatch;
  const bool scan_route = small || few_on_flat || ((req.exact || ann_unusable) && !ann.exhaustive()) ||
                          (ann_unusable && ann.exhaustive());
  std::vector<int64_t> scan_queries, ann_queries;
  for (int64_t q = 0; q < nq; ++q) {
    if (need[static_cast<size_t>(q)] == 0) {
      res.queries[static_cast<size_t>(q)].exact = true;
      continue;
    }
    (scan_route ? scan_queries : ann_queries).push_back(q);
  }
  std::vector<std::vector<Cand>> ranked(static_cast<size_t>(nq));

  // --- Route 2: FAISS with selector, widening.
  const int vpi = s.manifest.vectors_per_item;
  const bool rescore = !ann.exhaustive() && (!ann.exact_scores() || vpi > 1);
  if (!ann_queries.empty()) {
    int64_t max_need = 0, max_excl = 0;
    for (int64_t q : ann_queries) {
      max_need = std::max(max_need, need[static_cast<size_t>(q)]);
      max_excl = std::max(max_excl, static_cast<int64_t>(query_excl[static_cast<size_t>(q)].size()));
    }
    int64_t kf = (max_need + max_excl) * (ann.exact_scores() ? 1 : 4) * std::min(vpi, 8);
    if (allowed && !ann.supports_selector())
      kf *= std::min<int64_t>(64, std::max<int64_t>(1, ann.size() / std::max<int64_t>(1, n_eligible_rows)));
    kf = std::clamp<int64_t>(kf, 1, ann.size());
    std::vector<int64_t> pending = ann_queries;
    std::vector<float> rescore_buf(static_cast<size_t>(vpi) * dim);
    for (int round = 0; !pending.empty(); ++round) {
      const int64_t np = static_cast<int64_t>(pending.size());
      std::vector<float> qbuf(static_cast<size_t>(np * dim)), scores(static_cast<size_t>(np * kf));
      std::vector<int64_t> rows(static_cast<size_t>(np * kf));
      for (int64_t j = 0; j < np; ++j)
        std::copy_n(queries.row(pending[static_cast<size_t>(j)]), dim, qbuf.data() + j * dim);
      ann.search(np, qbuf.data(), kf, allowed, req.ef_search, req.nprobe, scores.data(), rows.data());
      std::vector<int64_t> next;
      for (int64_t j = 0; j < np; ++j) {
        const int64_t q = pending[static_cast<size_t>(j)];
        const auto& excl = query_excl[static_cast<size_t>(q)];
        std::vector<Cand> cands;
        std::unordered_set<int64_t> seen;
        int64_t n_valid = 0, n_invalid = 0;
        for (int64_t t = 0; t < kf; ++t) {
          const int64_t row = rows[static_cast<size_t>(j * kf + t)];
          if (row < 0) continue;
          ++n_valid;
          const int64_t id = s.row_owner[static_cast<size_t>(row)];
          if (id < 0 || (allowed && !bit(allowed->bitmap, row)) || excl.count(id) || !seen.insert(id).second) continue;
          const float score = scores[static_cast<size_t>(j * kf + t)];
          if (!std::isfinite(score)) {
            ++n_invalid;
            continue;
          }
          cands.push_back({score, id});
        }
        const int64_t want = need[static_cast<size_t>(q)];
        const bool enough = static_cast<int64_t>(cands.size()) >= want;
        const bool everything = n_valid < kf || kf >= ann.size();
        if (ann.exhaustive() && (enough || everything)) {
          res.queries[static_cast<size_t>(q)].exact = true;
        } else if (enough) {
          if (rescore) {
            for (Cand& c : cands) c.score = s.score_item(queries.row(q), *s.find_live(c.id), rescore_buf.data());
            n_invalid += static_cast<int64_t>(std::erase_if(cands, [](const Cand& c) { return !std::isfinite(c.score); }));
          }
        } else if (round >= kMaxWidenings || kf >= ann.size()) {
          scan_queries.push_back(q);
          continue;
        } else {
          next.push_back(q);
          continue;
        }
        std::sort(cands.begin(), cands.end(), better);
        if (static_cast<int64_t>(cands.size()) > want) cands.resize(static_cast<size_t>(want));
        ranked[static_cast<size_t>(q)] = std::move(cands);
        res.queries[static_cast<size_t>(q)].n_invalid = n_invalid;
      }
      pending = std::move(next);
      kf = std::min(kf * 4, ann.size());
    }
  }

  // --- Route 1: exact scan over eligible items (parallel over item ranges).
  if (!scan_queries.empty()) {
    const std::vector<LiveItem>& items = filtered ? subset : s.live;
    const int64_t n_items = static_cast<int64_t>(items.size());
    const int threads = default_thread_count();
    const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(threads * 4, (n_items + 2047) / 2048));
    const size_t nsq = scan_queries.size();
    std::vector<std::vector<TopK>> heaps(static_cast<size_t>(parts));
    // Per part and scan query: items skipped for a non-finite score (damaged stored vectors).
    std::vector<std::vector<int64_t>> invalid(static_cast<size_t>(parts), std::vector<int64_t>(nsq, 0));
    parallel_for(parts, threads, [&](int64_t p) {
      std::vector<TopK>& local = heaps[static_cast<size_t>(p)];
      for (size_t j = 0; j < nsq; ++j) local.emplace_back(static_cast<size_t>(need[static_cast<size_t>(scan_queries[j])]));
      std::vector<float> buf(static_cast<size_t>(vpi) * dim);
      const int64_t begin = n_items * p / parts, end = n_items * (p + 1) / parts;
      for (int64_t i = begin; i < end; ++i) {
        const LiveItem& it = items[static_cast<size_t>(i)];
        if (!filtered && !common_excl.empty() && common_excl.count(it.id)) continue;
        s.vectors->read_rows(it.row, it.n, buf.data());
        for (size_t j = 0; j < nsq; ++j) {
          const int64_t q = scan_queries[j];
          if (query_excl[static_cast<size_t>(q)].count(it.id)) continue;
          const float* qv = queries.row(q);
          float best = -std::numeric_limits<float>::infinity();
          for (int32_t r = 0; r < it.n; ++r) best = std::max(best, detail::dot(qv, buf.data() + int64_t{r} * dim, dim));
          if (!std::isfinite(best)) {
            ++invalid[static_cast<size_t>(p)][j];
            continue;
          }
          local[j].push(best, it.id);
        }
      }
    });
    for (size_t j = 0; j < nsq; ++j) {
      const int64_t q = scan_queries[j];
      std::vector<Cand> all;
      for (auto& part : heaps) all.insert(all.end(), part[j].items().begin(), part[j].items().end());
      std::sort(all.begin(), all.end(), better);
      if (static_cast<int64_t>(all.size()) > need[static_cast<size_t>(q)])
        all.resize(static_cast<size_t>(need[static_cast<size_t>(q)]));
      ranked[static_cast<size_t>(q)] = std::move(all);
      res.queries[static_cast<size_t>(q)].exact = true;
      int64_t n_invalid = 0;
      for (const auto& part : invalid) n_invalid += part[j];
      res.queries[static_cast<size_t>(q)].n_invalid = n_invalid;
    }
  }
  int64_t n_invalid = 0;
  for (const QueryHits& out : res.queries) n_invalid += out.n_invalid;
  s.note_invalid_scores(n_invalid);

  // --- Pages.
  for (int64_t q = 0; q < nq; ++q) {
    QueryHits& out = res.queries[static_cast<size_t>(q)];
    const std::vector<Cand>& r = ranked[static_cast<size_t>(q)];
    for (int64_t i = req.offset; i < static_cast<int64_t>(r.size()); ++i) {
      const Cand& c = r[static_cast<size_t>(i)];
      if (req.score_threshold && c.score < *req.score_threshold) {
        ++out.n_below_threshold;
        continue;
      }
      out.hits.push_back({c.id, c.score, static_cast<int>(i + 1)});
    }
    if (out.n_below_threshold > 0) out.has_more = false;
  }
  return res;
}

RecallReport Store::measure_recall(const FloatMatrix& queries, int k, const SearchRequest& params) const {
  if (k <= 0) throw Error(ErrorCode::kInvalidArgument, "measure_recall: k must be positive");
  SearchRequest ann_req;
  ann_req.k = k;
  ann_req.ef_search = params.ef_search;
  ann_req.nprobe = params.nprobe;
  SearchRequest exact_req = ann_req;
  exact_req.exact = true;
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  const SearchResult approx = search(queries, ann_req);
  const auto t1 = Clock::now();
  const SearchResult exact = search(queries, exact_req);
  const auto t2 = Clock::now();
  RecallReport report;
  report.k = k;
  report.n_queries = queries.rows;
  report.index_key = approx.index_key;
  double sum = 0;
  int64_t counted = 0;
  for (int64_t q = 0; q < queries.rows; ++q) {
    const auto& truth = exact.queries[static_cast<size_t>(q)].hits;
    if (truth.empty()) continue;
    std::unordered_set<int64_t> want;
    for (const Hit& h : truth) want.insert(h.id);
    int64_t found = 0;
    for (const Hit& h : approx.queries[static_cast<size_t>(q)].hits) found += want.count(h.id);
    sum += static_cast<double>(found) / static_cast<double>(truth.size());
    ++counted;
  }
  report.recall = counted ? sum / static_cast<double>(counted) : 1.0;
  const double n = std::max<double>(1.0, static_cast<double>(queries.rows));
  report.ann_ms_per_query = std::chrono::duration<double, std::milli>(t1 - t0).count() / n;
  report.exact_ms_per_query = std::chrono::duration<double, std::milli>(t2 - t1).count() / n;
  return report;
}

}  // namespace cir::index
