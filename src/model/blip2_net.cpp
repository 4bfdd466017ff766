// The BLIP-2 forward passes, following LAVIS eva_vit.py (VisionTransformer without its final
// norm, then ln_vision) and Qformer.py (BertEmbeddings, BertLayer with query_length), which the
// Hugging Face port reproduces. Inference only: callers hold InferenceMode.
#include "model/blip2_net.h"

#include <cmath>

#include "cir/core.h"
#include "model/cpu_kernels.h"

namespace cir::model::detail {
namespace {

// BERT's extended attention mask: (1 - mask) * -10000 added to the scores. exp(-10000) is 0
// in float, so padded keys get exactly no weight, as in the reference.
constexpr double kMaskedScore = -10000.0;

bool use_bf16_kernels(const at::Tensor& t) { return t.scalar_type() == at::kBFloat16 && bf16_kernels_available(); }

// Multi-head scaled dot-product attention. q [B, Lq, W], k/v [B, Lk, W];
// additive_mask [B, Lk] (0 or kMaskedScore) or undefined for none.
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t heads,
                     const at::Tensor& additive_mask) {
  const int64_t batch = q.size(0), lq = q.size(1), width = q.size(2), lk = k.size(1);
  const int64_t head_dim = width / heads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  // [B, L, W] -> [B*H, L, Dh] copies, so both products are plain batched GEMMs.
  auto split = [&](const at::Tensor& t, int64_t length) {
    return t.reshape({batch, length, heads, head_dim}).transpose(1, 2).reshape({batch * heads, length, head_dim});
  };
  at::Tensor scores = at::bmm(split(q, lq), split(k, lk).transpose(1, 2));  // [B*H, Lq, Lk]
  if (!additive_mask.defined() && use_bf16_kernels(scores)) {
    scaled_softmax_bf16_(scores, scale, /*causal=*/false);
  } else {
    scores.mul_(scale);
    if (additive_mask.defined()) {
      scores = scores.view({batch, heads, lq, lk});
      scores.add_(additive_mask.view({batch, 1, 1, lk}).to(scores.scalar_type()));
      scores = scores.view({batch * heads, lq, lk});
    }
    scores = at::softmax(scores, -1);
  }
  return at::bmm(scores, split(v, lk)).view({batch, heads, lq, head_dim}).transpose(1, 2).reshape({batch, lq, width});
}

// BertSelfOutput / BertOutput: LayerNorm(dense(h) + input).
at::Tensor add_and_norm(const Blip2Linear& dense, const Blip2Norm& norm, const at::Tensor& h, const at::Tensor& input) {
  at::Tensor y = dense(h);
  y.add_(input);
  return norm(y);
}

at::Tensor run_attention_block(const QFormerAttention& block, const at::Tensor& hidden, const at::Tensor& keys_from,
                               int64_t heads, const at::Tensor& additive_mask) {
  const at::Tensor context =
      attention(block.query(hidden), block.key(keys_from), block.value(keys_from), heads, additive_mask);
  return add_and_norm(block.dense, block.norm, context, hidden);
}

// BertIntermediate (dense + exact GELU) then BertOutput.
at::Tensor feed_forward(const Blip2Linear& intermediate, const Blip2Linear& output, const Blip2Norm& norm,
                        const at::Tensor& x) {
  return add_and_norm(output, norm, at::gelu(intermediate(x)), x);
}

}  // namespace

at::Tensor Blip2Norm::operator()(const at::Tensor& x) const {
  if (use_bf16_kernels(x)) return layer_norm_bf16(x.contiguous(), weight, bias, eps);
  return at::layer_norm(x, {x.size(-1)}, weight, bias, eps);
}

QFormer::QFormer(const Blip2Spec& spec) : spec_(spec) {
  embeddings_norm_.eps = spec.qformer_eps;
  layers_.resize(static_cast<size_t>(spec.qformer_layers));
  for (size_t l = 0; l < layers_.size(); ++l) {
    QFormerLayer& layer = layers_[l];
    layer.has_cross_attention = static_cast<int>(l) % spec.cross_attention_frequency == 0;
    layer.self_attention.norm.eps = layer.cross_attention.norm.eps = spec.qformer_eps;
    layer.output_norm.eps = layer.output_query_norm.eps = spec.qformer_eps;
  }
}

Blip2Net::Blip2Net(const Blip2Spec& spec) : spec_(spec), qformer_((validate_blip2_spec(spec), spec)) {
  blocks_.resize(static_cast<size_t>(spec.vision_layers));
  for (auto& block : blocks_) block.norm1.eps = block.norm2.eps = spec.vision_eps;
  ln_vision_.eps = spec.ln_vision_eps;
}

void QFormer::add_slots(const std::string& prefix, std::vector<Blip2WeightSlot>& out) {
  const Blip2Spec& s = spec_;
  const int64_t wv = s.vision_width, wq = s.qformer_width;
  auto add = [&](std::string name, std::vector<int64_t> shape, at::Tensor* t) { out.push_back({std::move(name), std::move(shape), t}); };
  auto add_linear = [&](const std::string& name, Blip2Linear& l, int64_t in, int64_t outd) {
    add(name + ".weight", {outd, in}, &l.weight);
    add(name + ".bias", {outd}, &l.bias);
  };
  auto add_norm = [&](const std::string& name, Blip2Norm& n, int64_t width) {
    out.push_back({name + ".weight", {width}, &n.weight, true});
    add(name + ".bias", {width}, &n.bias);
  };
  add(prefix + "embeddings.word_embeddings.weight", {s.vocab_size, wq}, &word_embeddings_);
  add(prefix + "embeddings.position_embeddings.weight", {s.max_positions, wq}, &position_embeddings_);
  add_norm(prefix + "embeddings.LayerNorm", embeddings_norm_, wq);
  auto add_attention = [&](const std::string& p, QFormerAttention& a, int64_t key_width) {
    add_linear(p + ".self.query", a.query, wq, wq);
    add_linear(p + ".self.key", a.key, key_width, wq);
    add_linear(p + ".self.value", a.value, key_width, wq);
    add_linear(p + ".output.dense", a.dense, wq, wq);
    add_norm(p + ".output.LayerNorm", a.norm, wq);
  };
  for (size_t l = 0; l < layers_.size(); ++l) {
    QFormerLayer& layer = layers_[l];
    const std::string p = prefix + "encoder.layer." + std::to_string(l) + ".";
    add_attention(p + "attention", layer.self_attention, wq);
    if (layer.has_cross_attention) add_attention(p + "crossattention", layer.cross_attention, wv);
    add_linear(p + "intermediate.dense", layer.intermediate, wq, s.qformer_intermediate);
    add_linear(p + "output.dense", layer.output, s.qformer_intermediate, wq);
    add_norm(p + "output.LayerNorm", layer.output_norm, wq);
    add_linear(p + "intermediate_query.dense", layer.intermediate_query, wq, s.qformer_intermediate);
    add_linear(p + "output_query.dense", layer.output_query, s.qformer_intermediate, wq);
    add_norm(p + "output_query.LayerNorm", layer.output_query_norm, wq);
  }
}

std::vector<Blip2WeightSlot> Blip2Net::slots() {
  const Blip2Spec& s = spec_;
  const int64_t wv = s.vision_width, wq = s.qformer_width, grid = s.image_size / s.patch_size;
  std::vector<Blip2WeightSlot> out;
  auto add = [&](std::string name, std::vector<int64_t> shape, at::Tensor* t) { out.push_back({std::move(name), std::move(shape), t}); };
  auto add_linear = [&](const std::string& name, Blip2Linear& l, int64_t in, int64_t outd) {
    add(name + ".weight", {outd, in}, &l.weight);
    add(name + ".bias", {outd}, &l.bias);
  };
  auto add_norm = [&](const std::string& name, Blip2Norm& n, int64_t width) {
    out.push_back({name + ".weight", {width}, &n.weight, true});
    add(name + ".bias", {width}, &n.bias);
  };
  add("visual_encoder.cls_token", {1, 1, wv}, &cls_token_);
  add("visual_encoder.pos_embed", {1, grid * grid + 1, wv}, &pos_embed_);
  add("visual_encoder.patch_embed.proj.weight", {wv, 3, s.patch_size, s.patch_size}, &patch_weight_);
  add("visual_encoder.patch_embed.proj.bias", {wv}, &patch_bias_);
  for (size_t i = 0; i < blocks_.size(); ++i) {
    EvaBlock& b = blocks_[i];
    const std::string p = "visual_encoder.blocks." + std::to_string(i) + ".";
    add_norm(p + "norm1", b.norm1, wv);
    add(p + "attn.q_bias", {wv}, &b.q_bias);
    add(p + "attn.v_bias", {wv}, &b.v_bias);
    add(p + "attn.qkv.weight", {3 * wv, wv}, &b.qkv_weight);
    add_linear(p + "attn.proj", b.proj, wv, wv);
    add_norm(p + "norm2", b.norm2, wv);
    add_linear(p + "mlp.fc1", b.fc1, wv, s.vision_mlp);
    add_linear(p + "mlp.fc2", b.fc2, s.vision_mlp, wv);
  }
  add_norm("ln_vision", ln_vision_, wv);
  add("query_tokens", {1, s.n_query_tokens, wq}, &query_tokens_);
  qformer_.add_slots("Qformer.bert.", out);
  add_linear("vision_proj", vision_proj, wq, s.embed_dim);
  add_linear("text_proj", text_proj, wq, s.embed_dim);
  return out;
}

void Blip2Net::finish_loading(at::ScalarType dtype) {
  for (EvaBlock& b : blocks_) b.qkv_bias = at::cat({b.q_bias, at::zeros_like(b.v_bias), b.v_bias});
  for (const Blip2WeightSlot& slot : slots()) *slot.tensor = slot.tensor->to(dtype).contiguous();
  for (EvaBlock& b : blocks_) b.qkv_bias = b.qkv_bias.to(dtype);
}

at::Tensor Blip2Net::run_vit_block(const EvaBlock& b, const at::Tensor& x) const {
  const int64_t width = x.size(2);
  const at::Tensor qkv = at::linear(b.norm1(x), b.qkv_weight, b.qkv_bias);  // [B, T, 3W]
  const at::Tensor context = attention(qkv.narrow(2, 0, width), qkv.narrow(2, width, width),
                                       qkv.narrow(2, 2 * width, width), spec_.vision_heads, at::Tensor());
  at::Tensor h = x + b.proj(context);
  h.add_(b.fc2(at::gelu(b.fc1(b.norm2(h)))));
  return h;
}

at::Tensor Blip2Net::vision_tokens(const at::Tensor& pixels) const {
  const int64_t batch = pixels.size(0);
  at::Tensor x = at::conv2d(pixels, patch_weight_, patch_bias_, {spec_.patch_size, spec_.patch_size});
  x = x.flatten(2).transpose(1, 2);  // [B, N, W]
  x = at::cat({cls_token_.expand({batch, 1, cls_token_.size(2)}), x}, 1);
  x.add_(pos_embed_);
  for (const EvaBlock& b : blocks_) x = run_vit_block(b, x);
  return ln_vision_(x);
}

at::Tensor additive_attention_mask(const at::Tensor& mask) { return (1.0 - mask.to(at::kFloat)) * kMaskedScore; }

at::Tensor QFormer::embed(const at::Tensor& query_embeds, const at::Tensor& ids) const {
  at::Tensor hidden = query_embeds;
  if (ids.defined()) {
    const at::Tensor text =
        at::embedding(word_embeddings_, ids) + position_embeddings_.narrow(0, 0, ids.size(1)).unsqueeze(0);
    hidden = hidden.defined() ? at::cat({hidden.to(text.scalar_type()), text}, 1) : text;
  }
  return embeddings_norm_(hidden);
}

at::Tensor QFormer::run_layer(const QFormerLayer& layer, const at::Tensor& hidden, int64_t n_queries,
                              const at::Tensor& additive_mask, const at::Tensor& image_tokens, QueryFfnRule rule) const {
  const int64_t heads = spec_.qformer_heads;
  const at::Tensor attended = run_attention_block(layer.self_attention, hidden, hidden, heads, additive_mask);
  const bool query_branch = n_queries > 0 && (rule == QueryFfnRule::kWhenQueries || image_tokens.defined());
  if (!query_branch) return feed_forward(layer.intermediate, layer.output, layer.output_norm, attended);
  at::Tensor queries = attended.narrow(1, 0, n_queries);
  if (layer.has_cross_attention && image_tokens.defined())
    queries = run_attention_block(layer.cross_attention, queries, image_tokens, heads, at::Tensor());
  at::Tensor out = feed_forward(layer.intermediate_query, layer.output_query, layer.output_query_norm, queries);
  const int64_t n_text = attended.size(1) - n_queries;
  if (n_text == 0) return out;
  const at::Tensor text = feed_forward(layer.intermediate, layer.output, layer.output_norm,
                                       attended.narrow(1, n_queries, n_text));
  return at::cat({out, text}, 1);
}

at::Tensor QFormer::encode(at::Tensor hidden, int64_t n_queries, const at::Tensor& additive_mask,
                           const at::Tensor& image_tokens, QueryFfnRule rule) const {
  for (const QFormerLayer& layer : layers_) hidden = run_layer(layer, hidden, n_queries, additive_mask, image_tokens, rule);
  return hidden;
}

at::Tensor Blip2Net::query_embeds(const at::Tensor& image_tokens) const {
  const int64_t batch = image_tokens.size(0);
  const at::Tensor queries = query_tokens_.expand({batch, spec_.n_query_tokens, spec_.qformer_width}).contiguous();
  return qformer_.encode(qformer_.embed(queries, at::Tensor()), spec_.n_query_tokens, at::Tensor(), image_tokens);
}

at::Tensor Blip2Net::text_hidden(const at::Tensor& ids, const at::Tensor& mask) const {
  return qformer_.encode(qformer_.embed(at::Tensor(), ids), 0, additive_attention_mask(mask), at::Tensor());
}

at::Tensor Blip2Net::multimodal_embeds(const at::Tensor& image_tokens, const at::Tensor& ids,
                                       const at::Tensor& mask) const {
  const int64_t batch = image_tokens.size(0), nq = spec_.n_query_tokens;
  const at::Tensor queries = query_tokens_.expand({batch, nq, spec_.qformer_width});
  const at::Tensor full_mask = at::cat({at::ones({batch, nq}, mask.options().dtype(at::kFloat)), mask.to(at::kFloat)}, 1);
  return qformer_.encode(qformer_.embed(queries, ids), nq, additive_attention_mask(full_mask), image_tokens).narrow(1, 0, nq);
}

}  // namespace cir::model::detail
