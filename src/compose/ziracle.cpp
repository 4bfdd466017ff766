// ZIRACLE and the plain BLIP-2 scores on float buffers. The score uses the factorisation
// (1/n^2) sum_i sum_j w_i w_j <q_i, d_j> = (1/n^2) <sum_i w_i q_i, sum_j w_j d_j>, so a candidate
// costs one weighted sum of its slots plus one dot product (O(n_slots * dim)), not n^2 dots.
// Accumulation is in double: with tau = 0.001 the logits reach ~1000, and the weights must still
// sum to one.
#include "compose/ziracle.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace cir::compose::ziracle {
namespace {

double dot(const float* a, const float* b, int64_t dim) {
  double s = 0;
  for (int64_t k = 0; k < dim; ++k) s += static_cast<double>(a[k]) * b[k];
  return s;
}

// 1 / ||x|| (0 for a zero row, so it stays zero as torch.nn.functional.normalize leaves it).
double inverse_norm(const float* x, int64_t dim) {
  const double n = std::sqrt(dot(x, x, dim));
  return n > 1e-12 ? 1.0 / n : 0.0;
}

void check_sizes(const char* what, int64_t n_slots, int64_t dim) {
  if (n_slots <= 0 || dim <= 0)
    throw Error(ErrorCode::kInvalidArgument, std::string(what) + ": n_slots and dim must be > 0, found " +
                                                 std::to_string(n_slots) + " and " + std::to_string(dim));
}

std::vector<double> normalized(const float* x, int64_t dim) {
  const double inv = inverse_norm(x, dim);
  std::vector<double> out(static_cast<size_t>(dim));
  for (int64_t k = 0; k < dim; ++k) out[static_cast<size_t>(k)] = x[k] * inv;
  return out;
}

// sum_i w_i n(slot_i) in double.
std::vector<double> weighted_sum_double(const float* slots, int64_t n_slots, int64_t dim, const std::vector<float>& weights) {
  std::vector<double> sum(static_cast<size_t>(dim), 0.0);
  for (int64_t i = 0; i < n_slots; ++i) {
    const float* row = slots + i * dim;
    const double scale = weights[static_cast<size_t>(i)] * inverse_norm(row, dim);
    for (int64_t k = 0; k < dim; ++k) sum[static_cast<size_t>(k)] += scale * row[k];
  }
  return sum;
}

// max_j <q, n(d_j)> for each candidate (q already normalised).
std::vector<float> max_over_slots(const std::vector<double>& q, const float* candidates, int64_t n_candidates,
                                  int64_t n_slots, int64_t dim) {
  std::vector<float> scores(static_cast<size_t>(n_candidates));
  for (int64_t c = 0; c < n_candidates; ++c) {
    double best = -1e300;
    for (int64_t j = 0; j < n_slots; ++j) {
      const float* d = candidates + (c * n_slots + j) * dim;
      double s = 0;
      for (int64_t k = 0; k < dim; ++k) s += q[static_cast<size_t>(k)] * d[k];
      best = std::max(best, s * inverse_norm(d, dim));
    }
    scores[static_cast<size_t>(c)] = static_cast<float>(best);
  }
  return scores;
}

std::vector<double> normalized_mean(const float* rows, int64_t n_rows, int64_t dim) {
  std::vector<double> mean(static_cast<size_t>(dim), 0.0);
  for (int64_t i = 0; i < n_rows; ++i)
    for (int64_t k = 0; k < dim; ++k) mean[static_cast<size_t>(k)] += rows[i * dim + k];
  double norm = 0;
  for (const double v : mean) norm += v * v;
  norm = std::sqrt(norm);
  if (norm > 1e-12)
    for (double& v : mean) v /= norm;
  return mean;
}

std::vector<double> sum_query_double(const float* query_features, const float* text_feature, int64_t n_slots, int64_t dim) {
  std::vector<double> q = normalized_mean(query_features, n_slots, dim);
  const std::vector<double> t = normalized(text_feature, dim);
  double norm = 0;
  for (int64_t k = 0; k < dim; ++k) {
    q[static_cast<size_t>(k)] += t[static_cast<size_t>(k)];
    norm += q[static_cast<size_t>(k)] * q[static_cast<size_t>(k)];
  }
  norm = std::sqrt(norm);
  if (norm > 1e-12)
    for (double& v : q) v /= norm;
  return q;
}

std::vector<float> to_floats(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }

}  // namespace

std::vector<float> slot_weights(const float* query_slots, int64_t n_slots, int64_t dim, const float* text_tokens,
                                int64_t n_text_tokens, float temperature) {
  check_sizes("ziracle slot_weights", n_slots, dim);
  if (n_text_tokens <= 0)
    throw Error(ErrorCode::kInvalidArgument, "ziracle slot_weights: needs at least one text token, found " +
                                                 std::to_string(n_text_tokens));
  if (!(temperature > 0.f))
    throw Error(ErrorCode::kInvalidArgument, "ziracle slot_weights: temperature must be > 0, found " + std::to_string(temperature));
  std::vector<std::vector<double>> texts;
  for (int64_t j = 0; j < n_text_tokens; ++j) texts.push_back(normalized(text_tokens + j * dim, dim));
  std::vector<double> logits(static_cast<size_t>(n_slots));
  for (int64_t i = 0; i < n_slots; ++i) {
    const std::vector<double> q = normalized(query_slots + i * dim, dim);
    double mean = 0;
    for (const auto& t : texts)
      for (int64_t k = 0; k < dim; ++k) mean += q[static_cast<size_t>(k)] * t[static_cast<size_t>(k)];
    logits[static_cast<size_t>(i)] = mean / static_cast<double>(n_text_tokens) / temperature;
  }
  // Softmax with the maximum subtracted: the logits reach 1/tau = 1000 and would overflow exp.
  const double top = *std::max_element(logits.begin(), logits.end());
  double total = 0;
  for (double& l : logits) total += (l = std::exp(l - top));
  std::vector<float> weights(static_cast<size_t>(n_slots));
  for (int64_t i = 0; i < n_slots; ++i) weights[static_cast<size_t>(i)] = static_cast<float>(logits[static_cast<size_t>(i)] / total);
  return weights;
}

std::vector<float> weighted_slot_sum(const float* slots, int64_t n_slots, int64_t dim, const std::vector<float>& weights) {
  check_sizes("ziracle weighted_slot_sum", n_slots, dim);
  if (weights.size() != static_cast<size_t>(n_slots))
    throw Error(ErrorCode::kInvalidArgument, "ziracle weighted_slot_sum: " + std::to_string(weights.size()) +
                                                 " weights for " + std::to_string(n_slots) + " slots");
  return to_floats(weighted_sum_double(slots, n_slots, dim, weights));
}

std::vector<float> score_candidates(const float* query_slots, const std::vector<float>& weights, const float* candidates,
                                    int64_t n_candidates, int64_t n_slots, int64_t dim) {
  check_sizes("ziracle score_candidates", n_slots, dim);
  if (weights.size() != static_cast<size_t>(n_slots))
    throw Error(ErrorCode::kInvalidArgument, "ziracle score_candidates: " + std::to_string(weights.size()) +
                                                 " weights for " + std::to_string(n_slots) + " slots");
  const std::vector<double> q = weighted_sum_double(query_slots, n_slots, dim, weights);
  const double scale = 1.0 / static_cast<double>(n_slots * n_slots);
  std::vector<float> scores(static_cast<size_t>(n_candidates));
  for (int64_t c = 0; c < n_candidates; ++c) {
    const std::vector<double> d = weighted_sum_double(candidates + c * n_slots * dim, n_slots, dim, weights);
    double s = 0;
    for (int64_t k = 0; k < dim; ++k) s += q[static_cast<size_t>(k)] * d[static_cast<size_t>(k)];
    scores[static_cast<size_t>(c)] = static_cast<float>(s * scale);
  }
  return scores;
}

std::vector<float> ziracle_scores(const float* query_slots, const float* text_tokens, int64_t n_text_tokens,
                                  const float* candidates, int64_t n_candidates, int64_t n_slots, int64_t dim,
                                  float temperature) {
  const std::vector<float> w = slot_weights(query_slots, n_slots, dim, text_tokens, n_text_tokens, temperature);
  return score_candidates(query_slots, w, candidates, n_candidates, n_slots, dim);
}

std::vector<float> image_only_scores(const float* query_slots, const float* candidates, int64_t n_candidates,
                                     int64_t n_slots, int64_t dim) {
  return score_candidates(query_slots, std::vector<float>(static_cast<size_t>(n_slots), 1.f), candidates, n_candidates,
                          n_slots, dim);
}

std::vector<float> blip2_text_scores(const float* text_feature, const float* candidates, int64_t n_candidates,
                                     int64_t n_slots, int64_t dim) {
  check_sizes("blip2_text_scores", n_slots, dim);
  return max_over_slots(normalized(text_feature, dim), candidates, n_candidates, n_slots, dim);
}

std::vector<float> blip2_image_scores(const float* query_features, const float* candidates, int64_t n_candidates,
                                      int64_t n_slots, int64_t dim) {
  check_sizes("blip2_image_scores", n_slots, dim);
  return max_over_slots(normalized_mean(query_features, n_slots, dim), candidates, n_candidates, n_slots, dim);
}

std::vector<float> blip2_sum_scores(const float* query_features, const float* text_feature, const float* candidates,
                                    int64_t n_candidates, int64_t n_slots, int64_t dim) {
  check_sizes("blip2_sum_scores", n_slots, dim);
  return max_over_slots(sum_query_double(query_features, text_feature, n_slots, dim), candidates, n_candidates, n_slots, dim);
}

std::vector<float> blip2_image_query(const float* query_features, int64_t n_slots, int64_t dim) {
  check_sizes("blip2_image_query", n_slots, dim);
  return to_floats(normalized_mean(query_features, n_slots, dim));
}

std::vector<float> blip2_sum_query(const float* query_features, const float* text_feature, int64_t n_slots, int64_t dim) {
  check_sizes("blip2_sum_query", n_slots, dim);
  return to_floats(sum_query_double(query_features, text_feature, n_slots, dim));
}

}  // namespace cir::compose::ziracle
