// The CLIP network as torch::nn modules, mirroring OpenAI's clip/model.py layer for layer.
// Inference takes in-place shortcuts (residual adds, activations, score scaling) only when
// grad mode is off, so the same forward code trains with autograd.
#include "model/clip_modules.h"

#include <c10/core/InferenceMode.h>

#include <cmath>
#include <limits>

#include "cir/core.h"
#include "model/cpu_kernels.h"

namespace cir::model::detail {
namespace {

bool inplace_ok() { return c10::InferenceMode::is_enabled() || !at::GradMode::is_enabled(); }

// The fused bf16 kernels have no autograd: inference only.
bool use_bf16_kernels(const at::Tensor& t) {
  return t.scalar_type() == at::kBFloat16 && inplace_ok() && bf16_kernels_available();
}

at::Tensor layer_norm(const at::Tensor& x, const torch::nn::LayerNorm& ln) {
  if (use_bf16_kernels(x)) return layer_norm_bf16(x.contiguous(), ln->weight, ln->bias, 1e-5);
  return at::layer_norm(x, {x.size(-1)}, ln->weight, ln->bias, 1e-5);
}

at::Tensor causal_mask(int64_t length, at::ScalarType dtype) {
  return at::full({length, length}, -std::numeric_limits<float>::infinity(), at::TensorOptions().dtype(dtype)).triu_(1);
}

// Multi-head scaled dot-product attention on batch-first tensors, the computation of
// torch.nn.functional.multi_head_attention_forward after its projections.
// q: [B, Lq, W], k, v: [B, Lk, W] (views are fine). `causal` needs Lq == Lk.
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t heads, bool causal) {
  const int64_t batch = q.size(0), lq = q.size(1), width = q.size(2), lk = k.size(1);
  const int64_t head_dim = width / heads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  if (use_bf16_kernels(q)) {
    // [B, L, W] -> [B*H, L, Dh] copies, so both products are plain batched GEMMs for oneDNN.
    auto split = [&](const at::Tensor& t, int64_t length) {
      return t.reshape({batch, length, heads, head_dim}).transpose(1, 2).reshape({batch * heads, length, head_dim});
    };
    at::Tensor scores = at::bmm(split(q, lq), split(k, lk).transpose(1, 2));  // [B*H, Lq, Lk]
    scaled_softmax_bf16_(scores, scale, causal);
    return at::bmm(scores, split(v, lk)).view({batch, heads, lq, head_dim}).transpose(1, 2).reshape({batch, lq, width});
  }
  const at::Tensor qh = q.reshape({batch, lq, heads, head_dim}).transpose(1, 2);       // [B, H, Lq, Dh]
  const at::Tensor kt = k.reshape({batch, lk, heads, head_dim}).permute({0, 2, 3, 1});  // [B, H, Dh, Lk]
  const at::Tensor vh = v.reshape({batch, lk, heads, head_dim}).transpose(1, 2);       // [B, H, Lk, Dh]
  at::Tensor scores = at::matmul(qh, kt);                                              // [B, H, Lq, Lk]
  const at::Tensor mask = causal ? causal_mask(lq, scores.scalar_type()) : at::Tensor();
  if (inplace_ok()) {
    scores.mul_(scale);
    if (causal) scores.add_(mask);
  } else {
    scores = scores * scale;
    if (causal) scores = scores + mask;
  }
  const at::Tensor probs = at::softmax(scores, -1);
  return at::matmul(probs, vh).transpose(1, 2).reshape({batch, lq, width});
}

at::Tensor add_residual(at::Tensor x, const at::Tensor& y) {
  if (inplace_ok()) return x.add_(y);
  return x + y;
}

torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = 0) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Transformer pieces

SelfAttentionImpl::SelfAttentionImpl(int64_t width, int64_t heads_) : heads(heads_) {
  in_proj_weight = register_parameter("in_proj_weight", torch::empty({3 * width, width}));
  in_proj_bias = register_parameter("in_proj_bias", torch::zeros({3 * width}));
  out_proj = register_module("out_proj", torch::nn::Linear(width, width));
}

at::Tensor SelfAttentionImpl::forward(const at::Tensor& x, bool causal) {
  const int64_t width = x.size(2);
  const at::Tensor qkv = at::linear(x, in_proj_weight, in_proj_bias);  // [B, L, 3W]
  const at::Tensor out = attention(qkv.narrow(2, 0, width), qkv.narrow(2, width, width),
                                   qkv.narrow(2, 2 * width, width), heads, causal);
  return at::linear(out, out_proj->weight, out_proj->bias);
}

MlpImpl::MlpImpl(int64_t width, int64_t hidden, Activation activation_) : activation(activation_) {
  c_fc = register_module("c_fc", torch::nn::Linear(width, hidden));
  c_proj = register_module("c_proj", torch::nn::Linear(hidden, width));
}

at::Tensor MlpImpl::forward(const at::Tensor& x) {
  at::Tensor h = at::linear(x, c_fc->weight, c_fc->bias);
  if (activation == Activation::kQuickGelu) {
    if (use_bf16_kernels(h) && h.is_contiguous()) {
      quick_gelu_bf16_(h);
    } else if (inplace_ok()) {
      at::Tensor gate = h.mul(1.702);
      gate.sigmoid_();
      h.mul_(gate);
    } else {
      h = h * at::sigmoid(h * 1.702);
    }
  } else {
    h = at::gelu(h);
  }
  return at::linear(h, c_proj->weight, c_proj->bias);
}

ResidualAttentionBlockImpl::ResidualAttentionBlockImpl(int64_t width, int64_t heads, Activation activation) {
  ln_1 = register_module("ln_1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width}).eps(1e-5)));
  attn = register_module("attn", SelfAttention(width, heads));
  ln_2 = register_module("ln_2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width}).eps(1e-5)));
  mlp = register_module("mlp", Mlp(width, 4 * width, activation));
}

at::Tensor ResidualAttentionBlockImpl::forward(const at::Tensor& x, bool causal) {
  at::Tensor h = add_residual(x, attn->forward(layer_norm(x, ln_1), causal));
  return add_residual(h, mlp->forward(layer_norm(h, ln_2)));
}

TransformerImpl::TransformerImpl(int64_t width, int64_t layers, int64_t heads, Activation activation) {
  resblocks = register_module("resblocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < layers; ++i) {
    blocks.emplace_back(width, heads, activation);
    resblocks->push_back(blocks.back());
  }
}

at::Tensor TransformerImpl::forward(at::Tensor x, bool causal) {
  for (auto& block : blocks) x = block->forward(x, causal);
  return x;
}

// ---------------------------------------------------------------------------------------------
// Image towers

VisionTransformerImpl::VisionTransformerImpl(int64_t image_size, int64_t patch_size, int64_t width, int64_t layers,
                                             int64_t heads, int64_t output_dim, Activation activation) {
  const int64_t grid = image_size / patch_size;
  conv1 = register_module("conv1", conv(3, width, patch_size, patch_size));
  class_embedding = register_parameter("class_embedding", torch::zeros({width}));
  positional_embedding = register_parameter("positional_embedding", torch::zeros({grid * grid + 1, width}));
  ln_pre = register_module("ln_pre", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width}).eps(1e-5)));
  transformer = register_module("transformer", Transformer(width, layers, heads, activation));
  ln_post = register_module("ln_post", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width}).eps(1e-5)));
  proj = register_parameter("proj", torch::zeros({width, output_dim}));
}

at::Tensor VisionTransformerImpl::forward(const at::Tensor& pixels) {
  // conv1 has kernel = stride = patch and no padding: it is one linear map per patch, and as
  // a GEMM over gathered patches it runs faster (oneDNN/BLAS) than the convolution kernels.
  const int64_t batch = pixels.size(0), width = conv1->weight.size(0), patch = conv1->weight.size(2);
  const int64_t grid = pixels.size(2) / patch;
  const at::Tensor patches = pixels.reshape({batch, 3, grid, patch, grid, patch})
                                 .permute({0, 2, 4, 1, 3, 5})
                                 .reshape({batch, grid * grid, 3 * patch * patch});
  const at::Tensor tokens = at::linear(patches, conv1->weight.view({width, 3 * patch * patch}));  // [B, g*g, W]
  const at::Tensor cls = class_embedding.view({1, 1, width}).expand({batch, 1, width});
  at::Tensor x = at::cat({cls, tokens}, 1);
  x = add_residual(x, positional_embedding);
  x = layer_norm(x, ln_pre);
  x = transformer->forward(x, /*causal=*/false);
  return at::matmul(layer_norm(x.select(1, 0), ln_post), proj);
}

BottleneckImpl::BottleneckImpl(int64_t inplanes, int64_t planes, int64_t stride_) : stride(stride_) {
  conv1 = register_module("conv1", conv(inplanes, planes, 1));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(planes));
  conv2 = register_module("conv2", conv(planes, planes, 3, 1, 1));
  bn2 = register_module("bn2", torch::nn::BatchNorm2d(planes));
  conv3 = register_module("conv3", conv(planes, planes * 4, 1));
  bn3 = register_module("bn3", torch::nn::BatchNorm2d(planes * 4));
  if (stride > 1 || inplanes != planes * 4) {
    downsample = register_module("downsample",
                                 torch::nn::Sequential(conv(inplanes, planes * 4, 1), torch::nn::BatchNorm2d(planes * 4)));
  }
}

at::Tensor BottleneckImpl::forward(const at::Tensor& x) {
  at::Tensor out = at::relu(bn1->forward(conv1->forward(x)));
  out = at::relu(bn2->forward(conv2->forward(out)));
  if (stride > 1) out = at::avg_pool2d(out, {stride, stride});
  out = bn3->forward(conv3->forward(out));
  at::Tensor identity = x;
  if (downsample) identity = downsample->forward(stride > 1 ? at::avg_pool2d(x, {stride, stride}) : x);
  out = add_residual(out, identity);
  return inplace_ok() ? out.relu_() : at::relu(out);
}

AttentionPool2dImpl::AttentionPool2dImpl(int64_t spatial_dim, int64_t embed_dim, int64_t heads_, int64_t output_dim)
    : heads(heads_) {
  positional_embedding = register_parameter("positional_embedding", torch::zeros({spatial_dim * spatial_dim + 1, embed_dim}));
  k_proj = register_module("k_proj", torch::nn::Linear(embed_dim, embed_dim));
  q_proj = register_module("q_proj", torch::nn::Linear(embed_dim, embed_dim));
  v_proj = register_module("v_proj", torch::nn::Linear(embed_dim, embed_dim));
  c_proj = register_module("c_proj", torch::nn::Linear(embed_dim, output_dim));
}

at::Tensor AttentionPool2dImpl::forward(const at::Tensor& x) {
  const at::Tensor tokens = x.flatten(2).transpose(1, 2);  // [B, HW, C]
  at::Tensor seq = at::cat({tokens.mean(1, /*keepdim=*/true), tokens}, 1);  // [B, HW+1, C]
  seq = add_residual(seq, positional_embedding);
  const at::Tensor q = at::linear(seq.narrow(1, 0, 1), q_proj->weight, q_proj->bias);
  const at::Tensor k = at::linear(seq, k_proj->weight, k_proj->bias);
  const at::Tensor v = at::linear(seq, v_proj->weight, v_proj->bias);
  const at::Tensor out = attention(q, k, v, heads, /*causal=*/false);  // [B, 1, C]
  return at::linear(out.squeeze(1), c_proj->weight, c_proj->bias);
}

ModifiedResNetImpl::ModifiedResNetImpl(const std::vector<int>& layers, int64_t output_dim, int64_t heads,
                                       int64_t image_size, int64_t width) {
  conv1 = register_module("conv1", conv(3, width / 2, 3, 2, 1));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(width / 2));
  conv2 = register_module("conv2", conv(width / 2, width / 2, 3, 1, 1));
  bn2 = register_module("bn2", torch::nn::BatchNorm2d(width / 2));
  conv3 = register_module("conv3", conv(width / 2, width, 3, 1, 1));
  bn3 = register_module("bn3", torch::nn::BatchNorm2d(width));
  int64_t inplanes = width;
  for (size_t s = 0; s < 4; ++s) {
    const int64_t planes = width << s;
    torch::nn::Sequential stage;
    for (int b = 0; b < layers[s]; ++b) {
      stage->push_back(Bottleneck(inplanes, planes, b == 0 && s > 0 ? 2 : 1));
      inplanes = planes * 4;
    }
    stages.push_back(register_module("layer" + std::to_string(s + 1), stage));
  }
  attnpool = register_module("attnpool", AttentionPool2d(image_size / 32, width * 32, heads, output_dim));
}

at::Tensor ModifiedResNetImpl::forward(const at::Tensor& pixels) {
  at::Tensor x = at::relu(bn1->forward(conv1->forward(pixels)));
  x = at::relu(bn2->forward(conv2->forward(x)));
  x = at::relu(bn3->forward(conv3->forward(x)));
  x = at::avg_pool2d(x, {2, 2});
  for (auto& stage : stages) x = stage->forward(x);
  return attnpool->forward(x);
}

// ---------------------------------------------------------------------------------------------
// The whole model

ClipNetImpl::ClipNetImpl(const ModelSpec& spec) : spec_(spec) {
  validate_spec(spec);
  const Activation act = parse_activation(spec.activation);
  if (spec.image_tower == "vit") {
    visual_vit = register_module("visual", VisionTransformer(spec.image_size, spec.patch_size, spec.vision_width,
                                                             spec.vision_layers, spec.vision_heads, spec.embed_dim, act));
  } else {
    visual_resnet = register_module("visual", ModifiedResNet(spec.resnet_layers, spec.embed_dim, spec.vision_heads,
                                                             spec.image_size, spec.vision_width));
  }
  transformer = register_module("transformer", Transformer(spec.text_width, spec.text_layers, spec.text_heads, act));
  token_embedding = register_module("token_embedding", torch::nn::Embedding(spec.vocab_size, spec.text_width));
  positional_embedding = register_parameter("positional_embedding", torch::zeros({spec.context_length, spec.text_width}));
  ln_final = register_module("ln_final", torch::nn::LayerNorm(torch::nn::LayerNormOptions({spec.text_width}).eps(1e-5)));
  text_projection = register_parameter("text_projection", torch::zeros({spec.text_width, spec.embed_dim}));
  logit_scale = register_parameter("logit_scale", torch::full({}, std::log(1.0 / 0.07)));
}

at::Tensor ClipNetImpl::encode_image(const at::Tensor& pixels) {
  return visual_vit ? visual_vit->forward(pixels) : visual_resnet->forward(pixels);
}

at::Tensor ClipNetImpl::embed_tokens(const at::Tensor& ids) { return at::embedding(token_embedding->weight, ids); }

at::Tensor ClipNetImpl::encode_text_embeddings(const at::Tensor& token_embeds, const at::Tensor& end_index) {
  const int64_t batch = token_embeds.size(0), length = token_embeds.size(1), width = token_embeds.size(2);
  at::Tensor x = token_embeds + positional_embedding.narrow(0, 0, length);
  x = transformer->forward(x, /*causal=*/true);
  // ln_final is per token, so normalising only the end tokens gives the reference's values.
  const at::Tensor ends = x.gather(1, end_index.view({batch, 1, 1}).expand({batch, 1, width})).squeeze(1);
  return at::matmul(layer_norm(ends, ln_final), text_projection);
}

at::Tensor ClipNetImpl::encode_text(const at::Tensor& ids, const at::Tensor& end_index) {
  return encode_text_embeddings(embed_tokens(ids), end_index);
}

std::vector<std::pair<std::string, at::Tensor>> named_weights(ClipNetImpl& net) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& item : net.named_parameters(true))
    if (item.key() != "logit_scale") out.emplace_back(item.key(), item.value());
  for (const auto& item : net.named_buffers(true)) {
    const std::string& name = item.key();
    const std::string suffix = "num_batches_tracked";
    if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) continue;
    out.emplace_back(name, item.value());
  }
  return out;
}

ClipNet make_clip_net(const ModelSpec& spec, uint64_t seed) {
  ClipNet net(spec);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  torch::NoGradGuard no_grad;
  auto normal = [&](at::Tensor t, double stddev) { t.normal_(0.0, stddev, gen); };
  auto uniform_linear = [&](const torch::nn::Linear& l) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(l->weight.size(1)));
    l->weight.uniform_(-bound, bound, gen);
    l->bias.uniform_(-bound, bound, gen);
  };
  auto init_transformer = [&](Transformer& tr, int64_t width, int64_t layers) {
    const double attn_std = std::pow(static_cast<double>(width), -0.5);
    const double proj_std = attn_std * std::pow(2.0 * static_cast<double>(layers), -0.5);
    const double fc_std = std::pow(2.0 * static_cast<double>(width), -0.5);
    for (auto& block : tr->blocks) {
      uniform_linear(block->mlp->c_fc);
      uniform_linear(block->mlp->c_proj);
      normal(block->attn->in_proj_weight, attn_std);
      block->attn->in_proj_bias.zero_();
      normal(block->attn->out_proj->weight, proj_std);
      block->attn->out_proj->bias.zero_();
      normal(block->mlp->c_fc->weight, fc_std);
      normal(block->mlp->c_proj->weight, proj_std);
    }
  };
  normal(net->token_embedding->weight, 0.02);
  normal(net->positional_embedding, 0.01);
  init_transformer(net->transformer, spec.text_width, spec.text_layers);
  normal(net->text_projection, std::pow(static_cast<double>(spec.text_width), -0.5));
  if (net->visual_vit) {
    auto& v = net->visual_vit;
    const double scale = std::pow(static_cast<double>(spec.vision_width), -0.5);
    const double fan_in = 3.0 * spec.patch_size * spec.patch_size;
    v->conv1->weight.uniform_(-1.0 / std::sqrt(fan_in), 1.0 / std::sqrt(fan_in), gen);
    normal(v->class_embedding, scale);
    normal(v->positional_embedding, scale);
    normal(v->proj, scale);
    init_transformer(v->transformer, spec.vision_width, spec.vision_layers);
  } else {
    auto& r = net->visual_resnet;
    for (auto& p : r->named_parameters(true)) {
      const std::string& name = p.key();
      at::Tensor t = p.value();
      if (t.dim() == 4) {
        const double fan_in = static_cast<double>(t.size(1) * t.size(2) * t.size(3));
        t.uniform_(-1.0 / std::sqrt(fan_in), 1.0 / std::sqrt(fan_in), gen);
      } else if (name.rfind("attnpool", 0) != 0) {
        // BatchNorm affine: weight 1, bias 0; OpenAI zero-inits each block's last BN weight.
        const bool last_bn_weight = name.find(".bn3.weight") != std::string::npos && name.rfind("layer", 0) == 0;
        if (name.size() > 6 && name.compare(name.size() - 6, 6, "weight") == 0) t.fill_(last_bn_weight ? 0.0 : 1.0);
        else t.zero_();
      }
    }
    auto& pool = r->attnpool;
    const double pool_std = std::pow(static_cast<double>(pool->c_proj->weight.size(1)), -0.5);
    normal(pool->positional_embedding, std::pow(static_cast<double>(pool->positional_embedding.size(1)), -0.5));
    for (auto* l : {&pool->q_proj, &pool->k_proj, &pool->v_proj, &pool->c_proj}) {
      uniform_linear(*l);
      normal((*l)->weight, pool_std);
    }
  }
  net->logit_scale.fill_(std::log(1.0 / 0.07));
  net->train();
  return net;
}

}  // namespace cir::model::detail
