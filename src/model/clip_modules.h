// Private to cir (model, and the train/compose modules that build on it): the CLIP network as
// torch::nn modules, laid out exactly like OpenAI's clip/model.py so that the modules' own
// parameter names ARE the OpenAI/OpenCLIP state-dict names ("visual.conv1.weight",
// "transformer.resblocks.0.attn.in_proj_weight", ...). Hugging Face names are mapped onto
// these in weights.cpp.
//
// Everything here works with autograd: the forward functions may be called outside
// InferenceMode with gradients (in-place shortcuts are only taken when grad mode is off), so
// a trainer can build a fresh net with make_clip_net(), optimise net->parameters(), and save
// it with save_hf_directory() as a Hugging Face CLIP directory that ClipModel::load reads back.
// Activations are batch-first ([batch, tokens, width]) throughout; the maths is the same as
// the reference's sequence-first layout. With grad mode off, block-level forwards
// (ResidualAttentionBlock, Transformer) update their input in place; the ClipNet-level
// encode_* functions never touch their arguments.
#pragma once

#include <torch/nn.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cir/model.h"
#include "model/spec_check.h"  // Activation, validate_spec

namespace cir::model::detail {

/// torch.nn.MultiheadAttention's parameters as OpenAI's checkpoints hold them:
/// in_proj_weight [3W, W], in_proj_bias [3W], out_proj.{weight [W, W], bias [W]}.
class SelfAttentionImpl : public torch::nn::Module {
 public:
  SelfAttentionImpl(int64_t width, int64_t heads);
  /// x: [B, L, W]; `causal`: token i attends to tokens <= i only. Returns [B, L, W].
  at::Tensor forward(const at::Tensor& x, bool causal);

  at::Tensor in_proj_weight, in_proj_bias;
  torch::nn::Linear out_proj{nullptr};
  int64_t heads;
};
TORCH_MODULE(SelfAttention);

/// c_fc [4W, W] -> activation -> c_proj [W, 4W].
class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(int64_t width, int64_t hidden, Activation activation);
  at::Tensor forward(const at::Tensor& x);

  torch::nn::Linear c_fc{nullptr}, c_proj{nullptr};
  Activation activation;
};
TORCH_MODULE(Mlp);

/// Pre-LayerNorm residual block: x + attn(ln_1(x)), then + mlp(ln_2(x)).
class ResidualAttentionBlockImpl : public torch::nn::Module {
 public:
  ResidualAttentionBlockImpl(int64_t width, int64_t heads, Activation activation);
  at::Tensor forward(const at::Tensor& x, bool causal);

  torch::nn::LayerNorm ln_1{nullptr}, ln_2{nullptr};
  SelfAttention attn{nullptr};
  Mlp mlp{nullptr};
};
TORCH_MODULE(ResidualAttentionBlock);

/// A stack of residual attention blocks ("resblocks.N").
class TransformerImpl : public torch::nn::Module {
 public:
  TransformerImpl(int64_t width, int64_t layers, int64_t heads, Activation activation);
  /// x: [B, L, W]; `causal` as for SelfAttention (the text tower's mask).
  at::Tensor forward(at::Tensor x, bool causal);

  torch::nn::ModuleList resblocks{nullptr};
  std::vector<ResidualAttentionBlock> blocks;  ///< the same modules, typed
};
TORCH_MODULE(Transformer);

/// OpenAI's VisionTransformer: conv1 (no bias) patchify, class token, positional embedding,
/// ln_pre, transformer, ln_post on the class token, @ proj.
class VisionTransformerImpl : public torch::nn::Module {
 public:
  VisionTransformerImpl(int64_t image_size, int64_t patch_size, int64_t width, int64_t layers, int64_t heads,
                        int64_t output_dim, Activation activation);
  /// pixels: [B, 3, S, S] -> [B, output_dim].
  at::Tensor forward(const at::Tensor& pixels);

  torch::nn::Conv2d conv1{nullptr};
  at::Tensor class_embedding, positional_embedding, proj;
  torch::nn::LayerNorm ln_pre{nullptr}, ln_post{nullptr};
  Transformer transformer{nullptr};
};
TORCH_MODULE(VisionTransformer);

/// OpenAI's Bottleneck: 1x1, 3x3, avgpool(stride), 1x1 (x4) with BatchNorm; downsample is
/// AvgPool(stride) -> conv 1x1 ("downsample.0") -> BN ("downsample.1"). The parameter-free
/// AvgPool ("downsample.-1" in Python) is applied in forward, so the Sequential holds only
/// the conv and the BN under the checkpoint's indices.
class BottleneckImpl : public torch::nn::Module {
 public:
  BottleneckImpl(int64_t inplanes, int64_t planes, int64_t stride);
  at::Tensor forward(const at::Tensor& x);

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Sequential downsample{nullptr};  ///< conv + BN; null when not needed
  int64_t stride;
};
TORCH_MODULE(Bottleneck);

/// OpenAI's AttentionPool2d: mean token prepended, positional embedding, one multi-head
/// attention query (the mean token) with q/k/v_proj and c_proj.
class AttentionPool2dImpl : public torch::nn::Module {
 public:
  AttentionPool2dImpl(int64_t spatial_dim, int64_t embed_dim, int64_t heads, int64_t output_dim);
  /// x: [B, C, H, W] -> [B, output_dim].
  at::Tensor forward(const at::Tensor& x);

  at::Tensor positional_embedding;
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, c_proj{nullptr};
  int64_t heads;
};
TORCH_MODULE(AttentionPool2d);

/// OpenAI's ModifiedResNet (RN50 family): 3-conv stem, avgpool, four Bottleneck stages,
/// attention pooling.
class ModifiedResNetImpl : public torch::nn::Module {
 public:
  ModifiedResNetImpl(const std::vector<int>& layers, int64_t output_dim, int64_t heads, int64_t image_size,
                     int64_t width);
  at::Tensor forward(const at::Tensor& pixels);

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  std::vector<torch::nn::Sequential> stages;  ///< layer1..layer4
  AttentionPool2d attnpool{nullptr};
};
TORCH_MODULE(ModifiedResNet);

/// The whole CLIP: visual tower ("visual.*"), text tower (token_embedding,
/// positional_embedding, transformer, ln_final, text_projection) and logit_scale.
class ClipNetImpl : public torch::nn::Module {
 public:
  /// Builds the architecture described by `spec` (parameters default-initialised; see
  /// make_clip_net for OpenAI's initialisation). Throws kUnsupported / kModel on a bad spec.
  explicit ClipNetImpl(const ModelSpec& spec);

  /// pixels: [B, 3, S, S] in the parameters' dtype -> [B, embed_dim].
  at::Tensor encode_image(const at::Tensor& pixels);
  /// ids: [B, L] int64 -> token embeddings [B, L, text_width] (no positional embedding).
  at::Tensor embed_tokens(const at::Tensor& ids);
  /// Text tower from token embeddings: adds positional embeddings, runs the causal
  /// transformer, takes row i at position end_index[i], ln_final, @ text_projection.
  /// token_embeds: [B, L, text_width] with L <= context_length; end_index: [B] int64.
  at::Tensor encode_text_embeddings(const at::Tensor& token_embeds, const at::Tensor& end_index);
  /// encode_text_embeddings(embed_tokens(ids), end_index).
  at::Tensor encode_text(const at::Tensor& ids, const at::Tensor& end_index);

  const ModelSpec& spec() const { return spec_; }

  VisionTransformer visual_vit{nullptr};   ///< set for image_tower "vit"
  ModifiedResNet visual_resnet{nullptr};   ///< set for image_tower "resnet"
  torch::nn::Embedding token_embedding{nullptr};
  at::Tensor positional_embedding, text_projection, logit_scale;
  Transformer transformer{nullptr};
  torch::nn::LayerNorm ln_final{nullptr};

 private:
  ModelSpec spec_;
};
TORCH_MODULE(ClipNet);

/// A fresh ClipNet with OpenAI's initialisation (CLIP.initialize_parameters), seeded by `seed`,
/// float32, in training mode. Use it to train a small CLIP from scratch.
ClipNet make_clip_net(const ModelSpec& spec, uint64_t seed = 0);

/// Every tensor the loaders must fill, by OpenAI name: parameters and buffers, without
/// BatchNorm's num_batches_tracked and without logit_scale (optional in checkpoints).
std::vector<std::pair<std::string, at::Tensor>> named_weights(ClipNetImpl& net);

/// Writes `net` as a Hugging Face CLIPModel directory (created if needed): config.json,
/// preprocessor_config.json (from spec.preprocess) and model.safetensors (F32, HF tensor
/// names). When `tokenizer_dir` is given, its vocab.json, merges.txt and tokenizer_config.json
/// are copied beside them. Only ViT image towers have a Hugging Face form: a ResNet spec
/// throws kUnsupported. Throws kIo on write failures.
void save_hf_directory(ClipNetImpl& net, const ModelSpec& spec, const std::string& dir,
                       const std::string& tokenizer_dir = "");

}  // namespace cir::model::detail

// ---------------------------------------------------------------------------------------------
// Trainable copies (src/model/clip_access.cpp), for compose/train code that needs gradients
// through a loaded CLIP (OTI, SPN4CIR, phi / Pic2Word training). Additive section.
namespace cir::model::detail {

/// Loads the CLIP at `path` (Hugging Face / OpenCLIP directory or TorchScript .pt, as
/// ClipModel::load accepts) as a float32 ClipNet in eval mode whose parameters can take
/// gradients: a separate copy from any ClipModel, so optimising through it never races with
/// inference. Returns the net and fills `spec` (with weights_file; no hash). Throws as
/// ClipModel::load (kNotFound, kCorrupt, kModel, kUnsupported); c10::Error never escapes.
ClipNet load_clip_net(const std::string& path, ModelSpec* spec = nullptr);

}  // namespace cir::model::detail
