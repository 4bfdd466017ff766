// Private to cir (compose and train): the small trainable heads of the composition methods as
// torch modules whose parameter names ARE the reference checkpoints' state-dict names, so a
// released checkpoint loads without renaming and what we save loads in the reference code.
//   SEARLE phi      layers.{0,3,6}.{weight,bias}          Linear-GELU-Drop x2, Linear
//   Pic2Word        layers.{i}.0.{weight,bias}, fc_out.*  (Linear-Drop-ReLU) x n, Linear
//   CLIP4Cir        text_projection_layer, image_projection_layer, combiner_layer,
//                   output_layer, dynamic_scalar.{0,3}
#pragma once

#include <torch/nn.h>

#include <map>
#include <string>

namespace cir::compose::detail {

/// Which image-to-token mapping network a TokenMapper is.
enum class MapperKind { kSearlePhi, kPic2Word };

/// An image-feature -> pseudo-word-token network (SEARLE's phi or Pic2Word's IM2TEXT).
class TokenMapperImpl : public torch::nn::Module {
 public:
  /// in_dim: CLIP image embed dim; hidden: phi 4*in, Pic2Word 512; out_dim: token width.
  /// n_hidden_layers: Pic2Word's n_layer (phi always has 2). dropout: phi 0.5, Pic2Word 0.1.
  TokenMapperImpl(MapperKind kind, int64_t in_dim, int64_t hidden, int64_t out_dim, int64_t n_hidden_layers = 2,
                  double dropout = -1);
  /// x: [B, in_dim] raw (unnormalised) image features -> [B, out_dim] token embeddings.
  at::Tensor forward(const at::Tensor& x);

  MapperKind kind;
  int64_t in_dim, hidden, out_dim;
  torch::nn::Sequential layers{nullptr};        ///< phi: "layers" (indices 0..6)
  torch::nn::ModuleList blocks{nullptr};        ///< Pic2Word: "layers" (Linear-Drop-ReLU blocks)
  std::vector<torch::nn::Sequential> typed_blocks;  ///< the same blocks, typed
  torch::nn::Linear fc_out{nullptr};            ///< Pic2Word only
};
TORCH_MODULE(TokenMapper);

/// CLIP4Cir's Combiner (combiner.py): projections of text and image features, a gated mixture
/// and a residual MLP; dropout 0.5 everywhere (active in train mode only).
class CombinerImpl : public torch::nn::Module {
 public:
  /// feature_dim d, projection_dim p (CLIP4Cir: 4d), hidden_dim H (CLIP4Cir: 8d).
  CombinerImpl(int64_t feature_dim, int64_t projection_dim, int64_t hidden_dim);
  /// image, text: [B, d] raw features -> [B, d] normalised query.
  at::Tensor forward(const at::Tensor& image, const at::Tensor& text);

  int64_t feature_dim, projection_dim, hidden_dim;
  torch::nn::Linear text_projection_layer{nullptr}, image_projection_layer{nullptr}, combiner_layer{nullptr},
      output_layer{nullptr};
  torch::nn::Sequential dynamic_scalar{nullptr};
  torch::nn::Dropout dropout1{nullptr}, dropout2{nullptr}, dropout3{nullptr};
};
TORCH_MODULE(Combiner);

/// A module's parameters by state-dict name (detached copies), for write_state_dict.
std::map<std::string, at::Tensor> module_state(torch::nn::Module& module);

/// Copies every parameter of `module` from `state` (shapes checked; extra entries ignored).
/// Throws kModel naming `file` and the tensor.
void load_module_state(torch::nn::Module& module, const std::map<std::string, at::Tensor>& state,
                       const std::string& file);

/// Builds a TokenMapper of the size the state dict describes and loads it (eval mode).
TokenMapper mapper_from_state(MapperKind kind, const std::map<std::string, at::Tensor>& state, const std::string& file);

/// Builds a Combiner of the size the state dict describes and loads it (eval mode).
Combiner combiner_from_state(const std::map<std::string, at::Tensor>& state, const std::string& file);

}  // namespace cir::compose::detail
