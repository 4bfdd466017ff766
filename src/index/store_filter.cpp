// Evaluating a Filter: each condition becomes one indexed SQLite lookup (metadata(key, value)
// indexes) returning item ids; AND/OR/NOT are sorted-set operations in memory. This touches only
// the matching metadata rows, never the whole items table, so selective filters over 100k+ items
// cost a few milliseconds.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iterator>

#include "index/store_impl.h"

namespace cir::index {

using detail::Stmt;

namespace {

using Ids = std::vector<int64_t>;

void sort_unique(Ids& ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
}

Ids intersect(const Ids& a, const Ids& b) {
  Ids out;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

Ids unite(const Ids& a, const Ids& b) {
  Ids out;
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

Ids subtract(const Ids& a, const Ids& b) {
  Ids out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

// The spellings of a number as text metadata ("3" for 3.0), so `year=2020` finds "2020" too.
std::string number_text(double v) {
  char buf[40];
  for (int precision : {15, 17}) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

void collect(Stmt& st, Ids& out) {
  while (st.step()) out.push_back(st.col_int(0));
  st.reset();
}

Ids match_value(detail::Db& db, const std::string& key, const MetaValue& value) {
  Ids out;
  Stmt by_text(db, "SELECT item_id FROM metadata WHERE key = ?1 AND value_text = ?2");
  if (const double* d = std::get_if<double>(&value)) {
    Stmt by_num(db, "SELECT item_id FROM metadata WHERE key = ?1 AND value_num = ?2");
    by_num.bind(1, std::string_view(key)).bind(2, *d);
    collect(by_num, out);
    by_text.bind(1, std::string_view(key)).bind(2, std::string_view(number_text(*d)));
  } else {
    by_text.bind(1, std::string_view(key)).bind(2, std::string_view(std::get<std::string>(value)));
  }
  collect(by_text, out);
  sort_unique(out);
  return out;
}

Ids eval_condition(detail::Db& db, const Condition& c, const Ids& universe) {
  using Op = Condition::Op;
  const bool needs_value = c.op != Op::kExists;
  if (needs_value && c.values.empty())
    throw Error(ErrorCode::kInvalidArgument, "filter condition on '" + c.key + "' has no value");
  switch (c.op) {
    case Op::kEq: return match_value(db, c.key, c.values[0]);
    case Op::kNe: return subtract(universe, match_value(db, c.key, c.values[0]));
    case Op::kIn:
    case Op::kNotIn: {
      Ids hits;
      for (const MetaValue& v : c.values) hits = unite(hits, match_value(db, c.key, v));
      return c.op == Op::kIn ? hits : subtract(universe, hits);
    }
    case Op::kLt:
    case Op::kLe:
    case Op::kGt:
    case Op::kGe: {
      const double* bound = std::get_if<double>(&c.values[0]);
      if (!bound) throw Error(ErrorCode::kInvalidArgument, "range filter on '" + c.key + "' needs a number");
      const char* sql = c.op == Op::kLt   ? "SELECT item_id FROM metadata WHERE key = ?1 AND value_num < ?2"
                        : c.op == Op::kLe ? "SELECT item_id FROM metadata WHERE key = ?1 AND value_num <= ?2"
                        : c.op == Op::kGt ? "SELECT item_id FROM metadata WHERE key = ?1 AND value_num > ?2"
                                          : "SELECT item_id FROM metadata WHERE key = ?1 AND value_num >= ?2";
      Stmt st(db, sql);
      st.bind(1, std::string_view(c.key)).bind(2, *bound);
      Ids out;
      collect(st, out);
      sort_unique(out);
      return out;
    }
    case Op::kExists: {
      Stmt st(db, "SELECT item_id FROM metadata WHERE key = ?1");
      st.bind(1, std::string_view(c.key));
      Ids out;
      collect(st, out);
      sort_unique(out);
      return out;
    }
  }
  return {};
}

Ids eval(detail::Db& db, const Filter& f, const Ids& universe) {
  switch (f.kind) {
    case Filter::Kind::kAll: return universe;
    case Filter::Kind::kCondition: return intersect(eval_condition(db, f.condition, universe), universe);
    case Filter::Kind::kAnd: {
      Ids acc = universe;
      for (const Filter& c : f.children) {
        acc = eval(db, c, acc);
        if (acc.empty()) break;
      }
      return acc;
    }
    case Filter::Kind::kOr: {
      Ids acc;
      for (const Filter& c : f.children) acc = unite(acc, eval(db, c, universe));
      return acc;
    }
    case Filter::Kind::kNot: {
      if (f.children.size() != 1) throw Error(ErrorCode::kInvalidArgument, "a NOT filter needs exactly one child");
      return subtract(universe, eval(db, f.children[0], universe));
    }
  }
  return {};
}

}  // namespace

std::vector<int64_t> Store::Impl::eval_filter(const Filter& filter, const std::vector<int64_t>& universe) const {
  return eval(*db, filter, universe);
}

std::shared_ptr<const std::vector<int64_t>> Store::Impl::live_matching(const Filter& filter) const {
  constexpr size_t kCacheEntries = 8;
  const std::string key = filter.to_string();
  {
    std::lock_guard lock(filter_cache_mutex);
    for (size_t i = 0; i < filter_cache.size(); ++i) {
      if (filter_cache[i].first != key) continue;
      std::rotate(filter_cache.begin(), filter_cache.begin() + static_cast<std::ptrdiff_t>(i),
                  filter_cache.begin() + static_cast<std::ptrdiff_t>(i) + 1);
      return filter_cache.front().second;
    }
  }
  std::shared_ptr<const std::vector<int64_t>> ids;
  {
    std::lock_guard db_lock(db_mutex);
    ids = std::make_shared<const std::vector<int64_t>>(eval_filter(filter, live_ids()));
  }
  std::lock_guard lock(filter_cache_mutex);
  filter_cache.insert(filter_cache.begin(), {key, ids});
  if (filter_cache.size() > kCacheEntries) filter_cache.pop_back();
  return ids;
}

void Store::Impl::clear_filter_cache() const {
  std::lock_guard lock(filter_cache_mutex);
  filter_cache.clear();
}

std::vector<int64_t> Store::Impl::live_ids() const {
  std::vector<int64_t> ids;
  ids.reserve(live.size());
  for (const detail::LiveItem& it : live) ids.push_back(it.id);
  return ids;
}

}  // namespace cir::index
