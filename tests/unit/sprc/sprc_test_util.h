// Helpers shared by the SPRC tests: the fixtures of ../shared/fixtures/sprc and a model
// directory laid out as a user would have it (checkpoint, config.json and vocab.txt side by
// side), made of symlinks so nothing is copied.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cir/core.h"
#include "test_support.h"

namespace cir::testing {

inline std::string sprc_fixture(const std::string& relative) { return fixture_path("fixtures/sprc/" + relative); }

inline nlohmann::json sprc_inputs() { return nlohmann::json::parse(read_file_text(sprc_fixture("inputs.json"))); }

/// "sprc" -> checkpoint/sprc_tiny.pt; "blip24cir" -> spn4cir_blip24cir/best.pt.
inline std::string sprc_checkpoint(const std::string& layout) {
  return sprc_fixture(layout == "sprc" ? "checkpoint/sprc_tiny.pt" : "spn4cir_blip24cir/best.pt");
}

/// A directory holding the layout's checkpoint, the fixture config.json and vocab.txt.
/// Returns the checkpoint path inside it.
inline std::string make_sprc_model_dir(const TempDir& dir, const std::string& layout) {
  namespace fs = std::filesystem;
  const std::string checkpoint = sprc_checkpoint(layout);
  const fs::path target = fs::path(dir.str()) / fs::path(checkpoint).filename();
  fs::create_symlink(checkpoint, target);
  fs::create_symlink(sprc_fixture("config.json"), fs::path(dir.str()) / "config.json");
  fs::create_symlink(sprc_fixture("vocab.txt"), fs::path(dir.str()) / "vocab.txt");
  return target.string();
}

/// A float .npy as rows of its last dimension.
inline FloatMatrix sprc_npy_rows(const std::string& name) {
  const NpyArray a = read_npy(sprc_fixture(name));
  FloatMatrix m;
  m.cols = a.shape.back();
  m.rows = a.size() / m.cols;
  m.data = a.as_floats();
  return m;
}

/// An int64 .npy's values.
inline std::vector<int64_t> sprc_npy_int64(const std::string& name) {
  const NpyArray a = read_npy(sprc_fixture(name));
  EXPECT_EQ(a.dtype, "i8") << name;
  std::vector<int64_t> out(static_cast<size_t>(a.size()));
  std::memcpy(out.data(), a.data.data(), out.size() * sizeof(int64_t));
  return out;
}

/// The fixture's token ids padded with 0 to 32 (SPRC max_txt_len), lengths filled.
inline TokenBatch sprc_fixture_tokens() {
  const auto doc = sprc_inputs();
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

inline double max_abs_diff(const FloatMatrix& a, const FloatMatrix& b) {
  double worst = 0;
  for (size_t i = 0; i < std::min(a.data.size(), b.data.size()); ++i)
    worst = std::max(worst, std::abs(static_cast<double>(a.data[i]) - b.data[i]));
  return worst;
}

/// min over rows of the cosine similarity.
inline double min_row_cosine(const FloatMatrix& a, const FloatMatrix& ref) {
  double worst = 1;
  for (int64_t r = 0; r < ref.rows; ++r) {
    double dot = 0, na = 0, nb = 0;
    for (int64_t k = 0; k < ref.cols; ++k) {
      dot += static_cast<double>(a.row(r)[k]) * ref.row(r)[k];
      na += static_cast<double>(a.row(r)[k]) * a.row(r)[k];
      nb += static_cast<double>(ref.row(r)[k]) * ref.row(r)[k];
    }
    worst = std::min(worst, dot / std::max(std::sqrt(na * nb), 1e-24));
  }
  return worst;
}

}  // namespace cir::testing
