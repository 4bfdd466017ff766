// Private to cir_model: SPRC's network (methods.md 12.1) as the BLIP-2 network plus, for
// SPN4CIR's blip24cir, the second Q-Former and projection its pass 2 uses. The two SPRC passes
// are built from QFormer::embed / encode with SPRC's feed-forward rule (QueryFfnRule::kWhenImage).
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <vector>

#include "cir/blip2.h"
#include "model/blip2_net.h"

namespace cir::model::detail {

/// The tensors of SPRC's composed-query path, all [B, n_query_tokens + L, qformer_width].
struct SprcPasses {
  at::Tensor fusion_embeddings;  ///< LayerNorm([query_tokens ; text embeddings])
  at::Tensor fusion_hidden;      ///< pass 1: queries cross-attend to the reference image
  at::Tensor pass2_embeddings;   ///< LayerNorm([fusion_hidden[:, :Q] ; text embeddings]) (pass-2 Q-Former)
  at::Tensor pass2_hidden;       ///< pass 2: no image, every position through the text FFN
};

class SprcNet {
 public:
  /// Sizes the slots; the blip24cir layout adds `Qformer_query.bert.*` and `text_proj_q.*`.
  /// Throws kModel for an inconsistent spec or a query count other than query_position.
  explicit SprcNet(const SprcSpec& spec);

  /// Every weight by SPRC state-dict name (no `blip_model.` prefix), with its expected shape.
  std::vector<Blip2WeightSlot> slots();
  /// Converts every weight to `dtype` (and derives the ViT qkv biases).
  void finish_loading(at::ScalarType dtype);

  /// ln_vision(ViT(pixels)) [B, T, Wv] and the gallery query outputs [B, Q, W].
  at::Tensor vision_tokens(const at::Tensor& pixels) const { return base_.vision_tokens(pixels); }
  at::Tensor target_query_embeds(const at::Tensor& image_tokens) const { return base_.query_embeds(image_tokens); }
  /// normalize(vision_proj(.)) per token is the gallery feature.
  const Blip2Linear& vision_proj() const { return base_.vision_proj; }

  /// Both passes of `inference`: reference_tokens [B, T, Wv], ids [B, L], mask [B, L] (1 real).
  SprcPasses compose(const at::Tensor& reference_tokens, const at::Tensor& ids, const at::Tensor& mask) const;
  /// pass2_hidden[:, query_position] -> the projection of pass 2 (text_proj, or text_proj_q
  /// for blip24cir), not yet normalised.
  at::Tensor project_query(const at::Tensor& query_embeds) const;

  const SprcSpec& spec() const { return spec_; }

 private:
  SprcSpec spec_;
  Blip2Net base_;
  std::unique_ptr<QFormer> query_qformer_;  ///< blip24cir `Qformer_query`; null for SPRC
  Blip2Linear text_proj_q_;
};

/// Fills every slot from spec.blip2.weights_file in spec.layout (sprc_load.cpp), casting to
/// fp32. Throws kModel naming the file, tensor, expected and found shape. Returns the number
/// of parameters loaded.
int64_t load_sprc_weights(SprcNet& net, const SprcSpec& spec);

}  // namespace cir::model::detail
