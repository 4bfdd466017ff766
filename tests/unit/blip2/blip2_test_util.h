// Helpers shared by the BLIP-2 tests: the fixture inputs of ../shared/fixtures/blip2
// (inputs.json texts and token ids, .npy outputs) and the README's tolerance measures.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cir/core.h"
#include "test_support.h"

namespace cir::testing {

inline std::string blip2_fixture(const std::string& relative) { return fixture_path("fixtures/blip2/" + relative); }

inline nlohmann::json blip2_inputs() { return nlohmann::json::parse(read_file_text(blip2_fixture("inputs.json"))); }

/// The reference token ids as a batch padded with 0 to 32 (LAVIS max_txt_len), lengths filled.
inline TokenBatch blip2_fixture_tokens() {
  const auto doc = blip2_inputs();
  TokenBatch batch;
  batch.n_texts = static_cast<int64_t>(doc["token_ids"].size());
  batch.context_length = 32;
  for (const auto& row : doc["token_ids"]) {
    std::vector<int32_t> ids = row.get<std::vector<int32_t>>();
    batch.lengths.push_back(static_cast<int32_t>(ids.size()));
    ids.resize(32, 0);
    batch.ids.insert(batch.ids.end(), ids.begin(), ids.end());
  }
  return batch;
}

/// A fixture .npy as rows of its last dimension.
inline FloatMatrix blip2_npy_rows(const std::string& name) {
  const NpyArray a = read_npy(blip2_fixture(name));
  FloatMatrix m;
  m.cols = a.shape.back();
  m.rows = a.size() / m.cols;
  m.data = a.as_floats();
  return m;
}

inline double row_norm(const float* x, int64_t n) {
  double s = 0;
  for (int64_t k = 0; k < n; ++k) s += static_cast<double>(x[k]) * x[k];
  return std::sqrt(s);
}

/// max over rows of max_k |a - ref| / ||ref_row|| (the README's fp32 measure).
inline double max_relative_diff(const FloatMatrix& a, const FloatMatrix& ref) {
  double worst = 0;
  for (int64_t r = 0; r < ref.rows; ++r) {
    double d = 0;
    for (int64_t k = 0; k < ref.cols; ++k) d = std::max(d, std::abs(static_cast<double>(a.row(r)[k]) - ref.row(r)[k]));
    worst = std::max(worst, d / std::max(row_norm(ref.row(r), ref.cols), 1e-12));
  }
  return worst;
}

/// min over rows of the cosine similarity (the README's bf16 measure).
inline double min_cosine(const FloatMatrix& a, const FloatMatrix& ref) {
  double worst = 1;
  for (int64_t r = 0; r < ref.rows; ++r) {
    double dot = 0;
    for (int64_t k = 0; k < ref.cols; ++k) dot += static_cast<double>(a.row(r)[k]) * ref.row(r)[k];
    worst = std::min(worst, dot / std::max(row_norm(a.row(r), a.cols) * row_norm(ref.row(r), ref.cols), 1e-24));
  }
  return worst;
}

}  // namespace cir::testing
