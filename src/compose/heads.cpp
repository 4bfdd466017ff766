// The heads' layouts follow the reference modules' construction order, which is what fixes
// their state-dict names (see heads.h).
#include "compose/heads.h"

#include <torch/torch.h>

#include "cir/core.h"
#include "compose/checkpoint.h"

namespace cir::compose::detail {
namespace nn = torch::nn;

TokenMapperImpl::TokenMapperImpl(MapperKind kind_, int64_t in, int64_t hidden_, int64_t out, int64_t n_hidden_layers,
                                 double dropout)
    : kind(kind_), in_dim(in), hidden(hidden_), out_dim(out) {
  if (kind == MapperKind::kSearlePhi) {
    const double p = dropout < 0 ? 0.5 : dropout;
    layers = register_module("layers", nn::Sequential(nn::Linear(in, hidden), nn::GELU(), nn::Dropout(p),
                                                      nn::Linear(hidden, hidden), nn::GELU(), nn::Dropout(p),
                                                      nn::Linear(hidden, out)));
    return;
  }
  const double p = dropout < 0 ? 0.1 : dropout;
  // A ModuleList of Sequentials: libtorch cannot nest Sequential in Sequential, and the
  // state-dict names ("layers.<i>.0.weight") are the same either way.
  fc_out = register_module("fc_out", nn::Linear(hidden, out));
  blocks = nn::ModuleList();
  int64_t dim = in;
  for (int64_t i = 0; i < n_hidden_layers; ++i) {
    typed_blocks.push_back(nn::Sequential(nn::Linear(dim, hidden), nn::Dropout(p), nn::ReLU()));
    blocks->push_back(typed_blocks.back());
    dim = hidden;
  }
  blocks = register_module("layers", blocks);
}

at::Tensor TokenMapperImpl::forward(const at::Tensor& x) {
  if (kind == MapperKind::kSearlePhi) return layers->forward(x);
  at::Tensor y = x;
  for (auto& block : typed_blocks) y = block->forward(y);
  return fc_out->forward(y);
}

CombinerImpl::CombinerImpl(int64_t d, int64_t p, int64_t h) : feature_dim(d), projection_dim(p), hidden_dim(h) {
  text_projection_layer = register_module("text_projection_layer", nn::Linear(d, p));
  image_projection_layer = register_module("image_projection_layer", nn::Linear(d, p));
  dropout1 = register_module("dropout1", nn::Dropout(0.5));
  dropout2 = register_module("dropout2", nn::Dropout(0.5));
  combiner_layer = register_module("combiner_layer", nn::Linear(2 * p, h));
  output_layer = register_module("output_layer", nn::Linear(h, d));
  dropout3 = register_module("dropout3", nn::Dropout(0.5));
  dynamic_scalar = register_module(
      "dynamic_scalar", nn::Sequential(nn::Linear(2 * p, h), nn::ReLU(), nn::Dropout(0.5), nn::Linear(h, 1), nn::Sigmoid()));
}

at::Tensor CombinerImpl::forward(const at::Tensor& image, const at::Tensor& text) {
  const at::Tensor t = dropout1->forward(torch::relu(text_projection_layer->forward(text)));
  const at::Tensor i = dropout2->forward(torch::relu(image_projection_layer->forward(image)));
  const at::Tensor raw = torch::cat({t, i}, -1);  // text first, as combiner.py
  const at::Tensor combined = dropout3->forward(torch::relu(combiner_layer->forward(raw)));
  const at::Tensor lambda = dynamic_scalar->forward(raw);
  const at::Tensor out = output_layer->forward(combined) + lambda * text + (1 - lambda) * image;
  return torch::nn::functional::normalize(out, torch::nn::functional::NormalizeFuncOptions().dim(-1));
}

std::map<std::string, at::Tensor> module_state(torch::nn::Module& module) {
  std::map<std::string, at::Tensor> out;
  for (const auto& p : module.named_parameters()) out[p.key()] = p.value().detach().clone();
  return out;
}

void load_module_state(torch::nn::Module& module, const std::map<std::string, at::Tensor>& state,
                       const std::string& file) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.named_parameters()) {
    const auto sizes = p.value().sizes();
    p.value().copy_(take_tensor(state, p.key(), std::vector<int64_t>(sizes.begin(), sizes.end()), file));
  }
}

namespace {

int64_t dim_of(const std::map<std::string, at::Tensor>& state, const std::string& name, int axis, const std::string& file) {
  return take_tensor(state, name, {-1, -1}, file).size(axis);
}

}  // namespace

TokenMapper mapper_from_state(MapperKind kind, const std::map<std::string, at::Tensor>& state, const std::string& file) {
  TokenMapper mapper{nullptr};
  if (kind == MapperKind::kSearlePhi) {
    mapper = TokenMapper(kind, dim_of(state, "layers.0.weight", 1, file), dim_of(state, "layers.0.weight", 0, file),
                         dim_of(state, "layers.6.weight", 0, file));
  } else {
    int64_t n_layers = 0;
    while (state.count("layers." + std::to_string(n_layers) + ".0.weight")) ++n_layers;
    if (n_layers == 0)
      throw Error(ErrorCode::kModel, "checkpoint '" + file + "': no Pic2Word layers (expected 'layers.0.0.weight')");
    mapper = TokenMapper(kind, dim_of(state, "layers.0.0.weight", 1, file), dim_of(state, "layers.0.0.weight", 0, file),
                         dim_of(state, "fc_out.weight", 0, file), n_layers);
  }
  load_module_state(*mapper, state, file);
  mapper->eval();
  return mapper;
}

Combiner combiner_from_state(const std::map<std::string, at::Tensor>& state, const std::string& file) {
  const int64_t d = dim_of(state, "text_projection_layer.weight", 1, file);
  const int64_t p = dim_of(state, "text_projection_layer.weight", 0, file);
  const int64_t h = dim_of(state, "combiner_layer.weight", 0, file);
  Combiner combiner(d, p, h);
  load_module_state(*combiner, state, file);
  combiner->eval();
  return combiner;
}

}  // namespace cir::compose::detail
