// Private to cir_compose: ZIRACLE's tempered slot weighting (vectorgrp/ziracle
// query_fusion_weighting_tempered.py; docs/methods.md section 1.2) and the plain BLIP-2 scores,
// as pure functions on row-major float buffers. A query image and a candidate are each
// n_slots x dim Q-Former query outputs (32 x 768, not projected); texts are n_tokens x dim
// ([CLS] only: 1 row). Nothing here needs the inputs normalised: the functions normalise rows
// themselves (zero rows stay zero), as the reference does.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "cir/core.h"

namespace cir::compose::ziracle {

/// ZIRACLE's temperature in the paper runs (scripts/run_experiments.sh --temperature 0.001).
constexpr float kDefaultTemperature = 0.001f;

/// w = softmax(a / tau) over slots, a_i = mean_j <n(q_i), n(t_j)> (for one [CLS] row this is
/// <n(q_i), n(t_cls)>; several rows give the "full"/mean-over-text-tokens variant).
/// query_slots: n_slots x dim; text_tokens: n_text_tokens x dim. Returns n_slots weights.
/// Throws kInvalidArgument for empty inputs or temperature <= 0.
std::vector<float> slot_weights(const float* query_slots, int64_t n_slots, int64_t dim, const float* text_tokens,
                                int64_t n_text_tokens, float temperature = kDefaultTemperature);

/// sum_i w_i n(slots_i) (dim values): the factor both sides of the score share.
std::vector<float> weighted_slot_sum(const float* slots, int64_t n_slots, int64_t dim, const std::vector<float>& weights);

/// ZIRACLE scores of candidates against a query:
/// score_c = (1 / n_slots^2) <sum_i w_i n(q_i), sum_j w_j n(d_cj)>, the same weights on both
/// sides at the same slot index. candidates: n_candidates x n_slots x dim. Returns n_candidates.
std::vector<float> score_candidates(const float* query_slots, const std::vector<float>& weights, const float* candidates,
                                    int64_t n_candidates, int64_t n_slots, int64_t dim);

/// ZIRACLE end to end for one query: slot_weights then score_candidates.
std::vector<float> ziracle_scores(const float* query_slots, const float* text_tokens, int64_t n_text_tokens,
                                  const float* candidates, int64_t n_candidates, int64_t n_slots, int64_t dim,
                                  float temperature = kDefaultTemperature);

/// The image-only baseline (ExpBlip2Base): uniform weights, score = mean_{i,j} <n(q_i), n(d_j)>.
std::vector<float> image_only_scores(const float* query_slots, const float* candidates, int64_t n_candidates,
                                     int64_t n_slots, int64_t dim);

/// Plain BLIP-2 retrieval on projected, normalised features (embed_dim wide): the text score
/// is max_j <t, d_j> over the candidate's slots (BLIP-2's image-text similarity).
/// text_feature: dim values; candidates: n_candidates x n_slots x dim.
std::vector<float> blip2_text_scores(const float* text_feature, const float* candidates, int64_t n_candidates,
                                     int64_t n_slots, int64_t dim);
/// Image query: q = n(mean_i f_i) of the query's projected features, score max_j <q, d_j>.
std::vector<float> blip2_image_scores(const float* query_features, const float* candidates, int64_t n_candidates,
                                      int64_t n_slots, int64_t dim);
/// Sum baseline: q = n(n(mean_i f_i) + n(t)), score max_j <q, d_j>.
std::vector<float> blip2_sum_scores(const float* query_features, const float* text_feature, const float* candidates,
                                    int64_t n_candidates, int64_t n_slots, int64_t dim);

/// The single query vectors behind the three BLIP-2 scores (one row of dim), so a store that
/// scores max-over-vectors can run them: image n(mean_i f_i), sum n(n(mean_i f_i) + n(t)).
std::vector<float> blip2_image_query(const float* query_features, int64_t n_slots, int64_t dim);
std::vector<float> blip2_sum_query(const float* query_features, const float* text_feature, int64_t n_slots, int64_t dim);

}  // namespace cir::compose::ziracle

namespace cir::compose {

class Method;
/// "ziracle": ZIRACLE's slot-weighted score on a multi-vector (BLIP-2) index (ziracle_method.cpp).
std::shared_ptr<const Method> make_ziracle();
/// "ziracle-image": ZIRACLE's image-only baseline (uniform slot weights, ExpBlip2Base).
std::shared_ptr<const Method> make_ziracle_image();

}  // namespace cir::compose
