// Eligibility shared by both search paths (filter AND candidate list), and search_scored: exact
// scoring of every eligible item with a caller's rule over all its per-vector inner products.
// That rule is how multi-vector methods whose score is not a max over vectors (ZIRACLE's
// slot-weighted sum) run inside the store, next to the vectors, instead of copying every
// item's rows out to the caller.
#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <unordered_set>

#include "index/store_impl.h"
#include "index/util.h"

namespace cir::index {

using detail::LiveItem;

namespace {

struct Scored {
  float score;
  int64_t id;
};

bool ranks_before(const Scored& a, const Scored& b) { return a.score > b.score || (a.score == b.score && a.id < b.id); }

void check_scored_request(const FloatMatrix& queries, const Store::ItemScorer& scorer, const SearchRequest& req,
                          int dim, const std::string& dir) {
  if (!scorer) throw Error(ErrorCode::kInvalidArgument, "search_scored: no scoring rule given");
  if (queries.rows < 1 || queries.cols != dim)
    throw Error(ErrorCode::kInvalidArgument, "search_scored: need at least one query row of " + std::to_string(dim) +
                                                 " values for index '" + dir + "', got " + std::to_string(queries.rows) +
                                                 " x " + std::to_string(queries.cols));
  if (static_cast<int64_t>(queries.data.size()) != queries.rows * queries.cols)
    throw Error(ErrorCode::kInvalidArgument, "search_scored: query matrix data size does not match rows x cols");
  if (req.k < 0 || req.offset < 0 || int64_t{req.k} + req.offset > 1'000'000)
    throw Error(ErrorCode::kInvalidArgument, "search_scored: need k >= 0, offset >= 0 and k + offset <= 1000000 (got k " +
                                                 std::to_string(req.k) + ", offset " + std::to_string(req.offset) + ")");
  if (req.exclude_ids_per_query.size() > 1)
    throw Error(ErrorCode::kInvalidArgument, "search_scored: ranks one query; exclude_ids_per_query has " +
                                                 std::to_string(req.exclude_ids_per_query.size()) + " lists");
  for (float v : queries.data)
    if (!std::isfinite(v)) throw Error(ErrorCode::kInvalidArgument, "search_scored: queries contain NaN or infinity");
}

}  // namespace

std::vector<int64_t> Store::Impl::eligible_ids(const SearchRequest& req, int64_t& n_filtered) const {
  n_filtered = 0;
  std::vector<int64_t> ids;
  if (!req.filter.is_all()) {
    const auto matching = live_matching(req.filter);
    n_filtered = static_cast<int64_t>(live.size()) - static_cast<int64_t>(matching->size());
    ids = *matching;
  } else if (!req.candidate_ids) {
    return live_ids();
  }
  if (req.candidate_ids) {
    std::vector<int64_t> wanted;
    wanted.reserve(req.candidate_ids->size());
    for (int64_t id : *req.candidate_ids)
      if (find_live(id)) wanted.push_back(id);
    std::sort(wanted.begin(), wanted.end());
    wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
    if (req.filter.is_all()) return wanted;
    std::vector<int64_t> both;
    std::set_intersection(ids.begin(), ids.end(), wanted.begin(), wanted.end(), std::back_inserter(both));
    return both;
  }
  return ids;
}

std::string Store::ann_key() const {
  std::shared_lock lock(impl_->mutex);
  return impl_->ann->key();
}

SearchResult Store::search_scored(const FloatMatrix& queries, const ItemScorer& scorer, const SearchRequest& req) const {
  const Impl& s = *impl_;
  const int dim = s.manifest.embed_dim;
  check_scored_request(queries, scorer, req, dim, s.dir);

  std::shared_lock lock(s.mutex);
  s.check_vectors();
  SearchResult res;
  res.n_live = static_cast<int64_t>(s.live.size());
  res.index_key = "exact";
  int64_t n_filtered = 0;
  const std::vector<int64_t> eligible = s.eligible_ids(req, n_filtered);
  res.n_filtered = n_filtered;

  std::unordered_set<int64_t> excluded(req.exclude_ids.begin(), req.exclude_ids.end());
  if (!req.exclude_ids_per_query.empty())
    excluded.insert(req.exclude_ids_per_query[0].begin(), req.exclude_ids_per_query[0].end());
  std::vector<LiveItem> items;
  items.reserve(eligible.size());
  QueryHits out;
  out.exact = true;
  for (int64_t id : eligible) {
    if (excluded.count(id)) {
      ++out.n_excluded;
      continue;
    }
    items.push_back(*s.find_live(id));
  }

  // Parallel over item ranges; each part scores its items into its own list.
  const int64_t n_items = static_cast<int64_t>(items.size());
  const int64_t m = queries.rows;
  const int vpi = s.manifest.vectors_per_item;
  const int threads = default_thread_count();
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(threads * 4, (n_items + 511) / 512));
  std::vector<std::vector<Scored>> scored(static_cast<size_t>(parts));
  std::vector<int64_t> invalid(static_cast<size_t>(parts), 0);
  parallel_for(parts, threads, [&](int64_t p) {
    std::vector<float> rows(static_cast<size_t>(vpi) * dim);
    std::vector<float> products(static_cast<size_t>(m) * vpi);
    const int64_t begin = n_items * p / parts, end = n_items * (p + 1) / parts;
    auto& local = scored[static_cast<size_t>(p)];
    local.reserve(static_cast<size_t>(end - begin));
    for (int64_t i = begin; i < end; ++i) {
      const LiveItem& it = items[static_cast<size_t>(i)];
      s.vectors->read_rows(it.row, it.n, rows.data());
      for (int64_t r = 0; r < m; ++r)
        for (int32_t j = 0; j < it.n; ++j)
          products[static_cast<size_t>(r * it.n + j)] =
              detail::dot(queries.row(r), rows.data() + int64_t{j} * dim, static_cast<size_t>(dim));
      const float score = scorer(products.data(), it.n);
      // A NaN or infinity (damaged vectors) would make the ranking depend on the sort's
      // internals and reach callers as a null score: skip the item and count it.
      if (!std::isfinite(score)) {
        ++invalid[static_cast<size_t>(p)];
        continue;
      }
      local.push_back({score, it.id});
    }
  });

  for (int64_t n : invalid) out.n_invalid += n;
  s.note_invalid_scores(out.n_invalid);
  std::vector<Scored> all;
  all.reserve(static_cast<size_t>(n_items));
  for (auto& part : scored) all.insert(all.end(), part.begin(), part.end());
  const int64_t window = std::min<int64_t>(int64_t{req.offset} + req.k, static_cast<int64_t>(all.size()));
  std::partial_sort(all.begin(), all.begin() + window, all.end(), ranks_before);
  for (int64_t i = req.offset; i < window; ++i) {
    const Scored& c = all[static_cast<size_t>(i)];
    if (req.score_threshold && c.score < *req.score_threshold) {
      ++out.n_below_threshold;
      continue;
    }
    out.hits.push_back({c.id, c.score, static_cast<int>(i + 1)});
  }
  out.has_more = out.n_below_threshold == 0 && static_cast<int64_t>(all.size()) > int64_t{req.offset} + req.k;
  res.queries.push_back(std::move(out));
  return res;
}

}  // namespace cir::index
