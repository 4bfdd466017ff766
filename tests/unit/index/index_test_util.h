// Helpers shared by the index tests: manifests, seeded random unit vectors, item batches.
#pragma once

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "cir/index.h"
#include "test_support.h"

namespace cir::index::testing {

inline IndexManifest make_manifest(int dim, const std::string& key = "Flat", int vectors_per_item = 1,
                                   VectorDType dtype = VectorDType::kFp16) {
  IndexManifest m;
  m.embed_dim = dim;
  m.index_key = key;
  m.vectors_per_item = vectors_per_item;
  m.dtype = dtype;
  m.model = {"clip", "hf", "/models/test", "abc123"};
  return m;
}

/// n x dim L2-normalised gaussian rows from a seed.
inline FloatMatrix random_unit(int64_t n, int dim, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g;
  FloatMatrix m(n, dim);
  for (float& v : m.data) v = g(rng);
  normalize_rows(m);
  return m;
}

/// A deterministic vector for an external id and version (used to check stored vectors).
inline std::vector<float> vector_for(const std::string& external_id, int version, int dim) {
  const uint64_t seed = std::hash<std::string>{}(external_id) * 31 + static_cast<uint64_t>(version);
  return random_unit(1, dim, seed).data;
}

/// Items "prefix<i>" for i in [begin, end) whose vectors are rows of `vecs` (kept alive by caller).
inline std::vector<NewItem> make_items(const std::string& prefix, int64_t begin, int64_t end, const FloatMatrix& vecs) {
  std::vector<NewItem> items;
  for (int64_t i = begin; i < end; ++i) {
    NewItem it;
    it.external_id = prefix + std::to_string(i);
    it.content_hash = std::string("h").append(std::to_string(i));  // not "h" + ...: GCC 12 -Wrestrict false positive
    it.size_bytes = 1000 + i;
    it.mtime = 1700000000 + i;
    it.caption = "caption " + std::to_string(i);
    it.vectors = vecs.row(i);
    it.n_vectors = 1;
    items.push_back(std::move(it));
  }
  return items;
}

/// Max |a - b| over two equally sized float ranges.
inline float max_abs_diff(const float* a, const float* b, size_t n) {
  float d = 0;
  for (size_t i = 0; i < n; ++i) d = std::max(d, std::fabs(a[i] - b[i]));
  return d;
}

}  // namespace cir::index::testing
