// Private to cir_model: the BLIP-2 network (EVA ViT + ln_vision, Q-Former, projection heads)
// as plain tensors with inference-only forward functions. Unlike the CLIP modules this has no
// torch::nn modules: nothing trains it, and plain tensors make the two checkpoint layouts
// (LAVIS and Hugging Face) a pure name mapping over one list of weight slots.
// Activations are batch-first: [batch, tokens, width].
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cir/blip2.h"
#include "model/spec_check.h"  // validate_blip2_spec

namespace cir::model::detail {

/// y = x W^T + b.
struct Blip2Linear {
  at::Tensor weight, bias;
  at::Tensor operator()(const at::Tensor& x) const { return at::linear(x, weight, bias); }
};

/// LayerNorm over the last dimension with its own eps (the ViT, ln_vision and BERT differ).
struct Blip2Norm {
  at::Tensor weight, bias;
  double eps = 1e-5;
  at::Tensor operator()(const at::Tensor& x) const;
};

/// One EVA ViT block: x + attn(norm1(x)), then + mlp(norm2(x)). The fused qkv projection has
/// learned q and v biases only; `qkv_bias` is cat(q_bias, 0, v_bias), built after loading.
struct EvaBlock {
  Blip2Norm norm1, norm2;
  at::Tensor qkv_weight, q_bias, v_bias, qkv_bias;
  Blip2Linear proj, fc1, fc2;
};

/// BERT attention sub-layer: multi-head attention, then LayerNorm(dense(context) + input).
struct QFormerAttention {
  Blip2Linear query, key, value, dense;
  Blip2Norm norm;
};

/// One Q-Former layer: self-attention over queries and text together, cross-attention of the
/// query positions to the image (every cross_attention_frequency-th layer), and separate
/// feed-forward weights for query positions (`*_query`) and text positions.
struct QFormerLayer {
  QFormerAttention self_attention;
  bool has_cross_attention = false;
  QFormerAttention cross_attention;
  Blip2Linear intermediate, output, intermediate_query, output_query;
  Blip2Norm output_norm, output_query_norm;
};

/// A weight the loaders fill: its LAVIS name, the shape the spec implies, and where it goes.
struct Blip2WeightSlot {
  std::string name;
  std::vector<int64_t> shape;
  at::Tensor* tensor = nullptr;
  bool is_norm_weight = false;  ///< LayerNorm gain (random init uses 1)
};

/// Which feed-forward the query positions of a Q-Former pass use. Stock LAVIS (and HF) route
/// the first n_queries positions through `*_query` whenever there are queries; SPRC's modified
/// Qformer.py does so only when an image is given, so its image-free second pass sends every
/// position, the queries included, through the text FFN (methods.md 12.1).
enum class QueryFfnRule {
  kWhenQueries,  ///< BLIP-2 / LAVIS
  kWhenImage,    ///< SPRC / SPN4CIR blip24cir
};

/// The BERT Q-Former proper (LAVIS `Qformer.bert`): embeddings and layers, without the learned
/// query tokens, which belong to the model (`query_tokens`). SPN4CIR's blip24cir holds two.
class QFormer {
 public:
  /// Sizes the layers from the spec (weights undefined until filled).
  explicit QFormer(const Blip2Spec& spec);

  /// Appends every weight under `prefix` (e.g. "Qformer.bert.") with its expected shape.
  void add_slots(const std::string& prefix, std::vector<Blip2WeightSlot>& out);
  /// BertEmbeddings: LayerNorm([query_embeds ; word(ids) + position(0..L-1)]); the queries get
  /// no position embedding. query_embeds [B, Q, W] and/or ids [B, L] (either may be undefined).
  at::Tensor embed(const at::Tensor& query_embeds, const at::Tensor& ids) const;
  /// The layers over embedded input [B, Q + L, W]: the first n_queries positions are queries.
  /// additive_mask [B, Q + L] (0 or -10000) or undefined; image_tokens [B, T, Wv] or undefined
  /// (then no cross-attention is done).
  at::Tensor encode(at::Tensor hidden, int64_t n_queries, const at::Tensor& additive_mask,
                    const at::Tensor& image_tokens, QueryFfnRule rule = QueryFfnRule::kWhenQueries) const;

 private:
  at::Tensor run_layer(const QFormerLayer& layer, const at::Tensor& hidden, int64_t n_queries,
                       const at::Tensor& additive_mask, const at::Tensor& image_tokens, QueryFfnRule rule) const;

  Blip2Spec spec_;
  at::Tensor word_embeddings_, position_embeddings_;
  Blip2Norm embeddings_norm_;
  std::vector<QFormerLayer> layers_;
};

/// BERT's extended attention mask of a 0/1 mask [B, L]: (1 - mask) * -10000, float.
at::Tensor additive_attention_mask(const at::Tensor& mask);

/// The whole network of a Blip2Spec.
class Blip2Net {
 public:
  /// Sizes the slots from the spec (tensors stay undefined until filled). Throws kModel for an
  /// inconsistent spec, naming the field.
  explicit Blip2Net(const Blip2Spec& spec);

  /// Every weight, by LAVIS state-dict name, with its expected shape.
  std::vector<Blip2WeightSlot> slots();
  /// Derives qkv biases once the slots are filled; converts every weight to `dtype`.
  void finish_loading(at::ScalarType dtype);

  /// pixels [B, 3, S, S] -> ln_vision(ViT(pixels)) [B, T, vision_width], all tokens.
  at::Tensor vision_tokens(const at::Tensor& pixels) const;
  /// Image tokens [B, T, Wv] -> query outputs [B, n_query_tokens, qformer_width].
  at::Tensor query_embeds(const at::Tensor& image_tokens) const;
  /// Text-only pass: ids [B, L] int64, mask [B, L] (1 real, 0 pad) -> [B, L, qformer_width].
  at::Tensor text_hidden(const at::Tensor& ids, const at::Tensor& mask) const;
  /// Joint pass: queries then text, queries cross-attending to image_tokens; returns the query
  /// positions [B, n_query_tokens, qformer_width].
  at::Tensor multimodal_embeds(const at::Tensor& image_tokens, const at::Tensor& ids, const at::Tensor& mask) const;

  const Blip2Spec& spec() const { return spec_; }
  /// The Q-Former (LAVIS `Qformer.bert`) and the learned queries [1, n_query_tokens, W].
  const QFormer& qformer() const { return qformer_; }
  const at::Tensor& query_tokens() const { return query_tokens_; }

  Blip2Linear vision_proj, text_proj;

 private:
  at::Tensor run_vit_block(const EvaBlock& block, const at::Tensor& x) const;

  Blip2Spec spec_;
  // EVA ViT
  at::Tensor patch_weight_, patch_bias_, cls_token_, pos_embed_;
  std::vector<EvaBlock> blocks_;
  Blip2Norm ln_vision_;
  // Q-Former
  at::Tensor query_tokens_;
  QFormer qformer_;
};

/// Refuses (kModel, naming the config and the checkpoint) sizes a config.json claims that cannot
/// fit the checkpoint file: checked before a net is allocated from them. No-op for default sizes.
void check_parameter_budget(const Blip2Spec& spec);

/// The Hugging Face Blip2ForImageTextRetrieval name of a LAVIS state-dict name.
std::string blip2_hf_name(const std::string& lavis_name);

/// A torch.save dict: its top-level keys in order, integer entries (e.g. "epoch") and every
/// top-level dict's tensors by name, in the file's order and dtype.
struct TorchCheckpoint {
  std::string path;
  std::vector<std::string> top_keys;
  std::map<std::string, int64_t> integers;
  std::map<std::string, std::vector<std::pair<std::string, at::Tensor>>> state_dicts;
  /// A bare state dict (torch.save(model.state_dict())): the root's tensors.
  std::vector<std::pair<std::string, at::Tensor>> root_tensors;
};

/// Reads a torch.save zip checkpoint (blip2_pickle.cpp). With read_tensors false the tensors
/// are meta tensors: names, shapes and dtypes without reading the storages (cheap detection of
/// multi-GB files). Throws kNotFound (no file), kCorrupt (not a torch.save zip, damaged pickle
/// or storage), kUnsupported (storage dtype).
TorchCheckpoint read_torch_checkpoint(const std::string& path, bool read_tensors);

/// Loads a LAVIS checkpoint (`torch.save({"model": state_dict})`, zip format) as name -> tensor
/// in the checkpoint's dtype (blip2_pickle.cpp). Throws kNotFound (no file), kCorrupt (not a
/// torch.save zip, damaged pickle or storage, no "model" dict), kUnsupported (storage dtype).
std::vector<std::pair<std::string, at::Tensor>> read_lavis_state_dict(const std::string& path);

/// Fills every slot of `net` from spec.weights_file in spec.format ("hf" or "lavis"), checking
/// presence and shape. Throws kModel naming the file, tensor, expected and found shape.
/// Returns the number of parameters loaded.
int64_t load_blip2_weights(Blip2Net& net, const Blip2Spec& spec);

/// Fills every slot with seeded random values directly in `dtype` (normal(0, 0.02) matrices,
/// zero biases, unit LayerNorm gains). Returns the number of parameters.
int64_t fill_random_blip2(Blip2Net& net, at::ScalarType dtype, uint64_t seed);
/// The same for any slot list (SPRC's second Q-Former).
int64_t fill_random_slots(const std::vector<Blip2WeightSlot>& slots, at::ScalarType dtype, uint64_t seed);

}  // namespace cir::model::detail
