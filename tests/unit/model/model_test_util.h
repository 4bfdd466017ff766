// Helpers shared by the model tests: fixture inputs (pixels.npy, token ids from inputs.json,
// reference features) and the tolerance checks stated in ../shared/fixtures/clip/README.md.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cir/core.h"
#include "cir/model.h"
#include "test_support.h"

namespace cir::testing {

/// The 18 x 77 token ids of <family>/inputs.json, with each row's length (through the first
/// end token 49407) filled in.
inline TokenBatch fixture_tokens(const std::string& family) {
  const auto doc = nlohmann::json::parse(read_file_text(fixture_path("fixtures/clip/" + family + "/inputs.json")));
  TokenBatch batch;
  batch.n_texts = static_cast<int64_t>(doc["tokens"].size());
  batch.context_length = static_cast<int64_t>(doc["tokens"][0].size());
  for (const auto& row : doc["tokens"]) {
    int32_t length = 0;
    for (size_t j = 0; j < row.size(); ++j) {
      const int32_t id = row[j].get<int32_t>();
      batch.ids.push_back(id);
      if (id == 49407 && length == 0) length = static_cast<int32_t>(j) + 1;
    }
    batch.lengths.push_back(length);
  }
  return batch;
}

/// Rows [first, first + count) of a token batch.
inline TokenBatch slice_tokens(const TokenBatch& batch, int64_t first, int64_t count) {
  TokenBatch out;
  out.n_texts = count;
  out.context_length = batch.context_length;
  out.ids.assign(batch.ids.begin() + first * batch.context_length, batch.ids.begin() + (first + count) * batch.context_length);
  if (!batch.lengths.empty()) out.lengths.assign(batch.lengths.begin() + first, batch.lengths.begin() + first + count);
  return out;
}

/// Rows [first, first + count) of a matrix.
inline FloatMatrix slice_rows(const FloatMatrix& m, int64_t first, int64_t count) {
  FloatMatrix out(count, m.cols);
  std::copy(m.row(first), m.row(first) + count * m.cols, out.data.begin());
  return out;
}

inline FloatMatrix npy_matrix(const std::string& path) {
  const NpyArray a = read_npy(path);
  FloatMatrix m;
  m.rows = a.shape.at(0);
  m.cols = a.size() / m.rows;
  m.data = a.as_floats();
  return m;
}

/// max over rows of (max abs difference / reference row norm).
inline double max_relative_diff(const FloatMatrix& got, const FloatMatrix& ref) {
  double worst = 0;
  for (int64_t i = 0; i < ref.rows; ++i) {
    double norm = 0, diff = 0;
    for (int64_t j = 0; j < ref.cols; ++j) {
      norm += double(ref.row(i)[j]) * ref.row(i)[j];
      diff = std::max(diff, std::fabs(double(got.row(i)[j]) - ref.row(i)[j]));
    }
    worst = std::max(worst, diff / std::max(std::sqrt(norm), 1e-12));
  }
  return worst;
}

/// min over rows of the cosine similarity.
inline double min_cosine(const FloatMatrix& got, const FloatMatrix& ref) {
  double worst = 1;
  for (int64_t i = 0; i < ref.rows; ++i) {
    double dot = 0, a = 0, b = 0;
    for (int64_t j = 0; j < ref.cols; ++j) {
      dot += double(got.row(i)[j]) * ref.row(i)[j];
      a += double(got.row(i)[j]) * got.row(i)[j];
      b += double(ref.row(i)[j]) * ref.row(i)[j];
    }
    worst = std::min(worst, dot / std::max(std::sqrt(a * b), 1e-24));
  }
  return worst;
}

/// Expects the same shape and every row within `tolerance` x its reference norm.
inline void expect_close(const FloatMatrix& got, const FloatMatrix& ref, double tolerance, const std::string& what) {
  ASSERT_EQ(got.rows, ref.rows) << what;
  ASSERT_EQ(got.cols, ref.cols) << what;
  EXPECT_LE(max_relative_diff(got, ref), tolerance) << what;
}

}  // namespace cir::testing
