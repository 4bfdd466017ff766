// SPRC's inference path (Blip2QformerCirAlignPrompt.inference, and SPN4CIR's query_type 1):
// pass 1 over [query_tokens ; text] with the reference image, pass 2 over [pass-1 queries ;
// text] without it. Inference only: callers hold InferenceMode.
#include "model/sprc/sprc_net.h"

#include "cir/core.h"

namespace cir::model::detail {
namespace {

Blip2Spec checked_spec(const SprcSpec& spec) {
  validate_blip2_spec(spec.blip2);
  // SPRC reads pass2[:, 32] whatever the query count; with another count that row is not the
  // text [CLS], so such a model would not be SPRC. Every released checkpoint has 32 queries.
  if (spec.blip2.n_query_tokens != spec.query_position)
    throw Error(ErrorCode::kModel, "SPRC spec: n_query_tokens is " + std::to_string(spec.blip2.n_query_tokens) +
                                       " but SPRC projects pass-2 position " + std::to_string(spec.query_position) +
                                       " (the text [CLS] only with 32 query tokens)");
  if (spec.max_text_length < 2 || spec.max_text_length > spec.blip2.max_positions)
    throw Error(ErrorCode::kModel, "SPRC spec: max_text_length " + std::to_string(spec.max_text_length) +
                                       " must be within 2.." + std::to_string(spec.blip2.max_positions));
  return spec.blip2;
}

}  // namespace

SprcNet::SprcNet(const SprcSpec& spec) : spec_(spec), base_(checked_spec(spec)) {
  if (spec.layout == SprcLayout::kSpn4cirBlip24cir) query_qformer_ = std::make_unique<QFormer>(spec.blip2);
}

std::vector<Blip2WeightSlot> SprcNet::slots() {
  std::vector<Blip2WeightSlot> out = base_.slots();
  if (!query_qformer_) return out;
  query_qformer_->add_slots("Qformer_query.bert.", out);
  const int64_t width = spec_.blip2.qformer_width, dim = spec_.blip2.embed_dim;
  out.push_back({"text_proj_q.weight", {dim, width}, &text_proj_q_.weight});
  out.push_back({"text_proj_q.bias", {dim}, &text_proj_q_.bias});
  return out;
}

void SprcNet::finish_loading(at::ScalarType dtype) {
  base_.finish_loading(dtype);
  if (!query_qformer_) return;
  std::vector<Blip2WeightSlot> extra;
  query_qformer_->add_slots("", extra);
  for (const Blip2WeightSlot& slot : extra) *slot.tensor = slot.tensor->to(dtype).contiguous();
  text_proj_q_.weight = text_proj_q_.weight.to(dtype).contiguous();
  text_proj_q_.bias = text_proj_q_.bias.to(dtype).contiguous();
}

SprcPasses SprcNet::compose(const at::Tensor& reference_tokens, const at::Tensor& ids, const at::Tensor& mask) const {
  const int64_t batch = ids.size(0), nq = spec_.blip2.n_query_tokens;
  const at::Tensor full_mask = at::cat({at::ones({batch, nq}, mask.options().dtype(at::kFloat)), mask.to(at::kFloat)}, 1);
  const at::Tensor additive = additive_attention_mask(full_mask);
  const QFormer& first = base_.qformer();
  const QFormer& second = query_qformer_ ? *query_qformer_ : first;
  SprcPasses p;
  const at::Tensor queries = base_.query_tokens().expand({batch, nq, spec_.blip2.qformer_width});
  p.fusion_embeddings = first.embed(queries, ids);
  p.fusion_hidden = first.encode(p.fusion_embeddings, nq, additive, reference_tokens, QueryFfnRule::kWhenImage);
  p.pass2_embeddings = second.embed(p.fusion_hidden.narrow(1, 0, nq), ids);
  p.pass2_hidden = second.encode(p.pass2_embeddings, nq, additive, at::Tensor(), QueryFfnRule::kWhenImage);
  return p;
}

at::Tensor SprcNet::project_query(const at::Tensor& query_embeds) const {
  return query_qformer_ ? text_proj_q_(query_embeds) : base_.text_proj(query_embeds);
}

}  // namespace cir::model::detail
