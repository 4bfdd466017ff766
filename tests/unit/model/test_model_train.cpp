// The model module's training-facing side: a fresh ClipNet trains with autograd, saves as a
// Hugging Face CLIP directory, and ClipModel::load reads it back to the same features. Also the
// safetensors writer/reader pair and a TorchScript archive that is not a CLIP.
#include <torch/script.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>

#include "model/clip_modules.h"
#include "model/cpu_kernels.h"
#include "model/safetensors.h"
#include "model_test_util.h"

namespace cir::testing {
namespace {

namespace fs = std::filesystem;
using model::ClipModel;
using model::ModelSpec;
using namespace cir::model::detail;

ModelSpec tiny_vit_spec() {
  ModelSpec spec;
  spec.image_tower = "vit";
  spec.activation = "gelu";
  spec.embed_dim = 16;
  spec.image_size = 32;
  spec.patch_size = 8;
  spec.vision_width = 32;
  spec.vision_layers = 2;
  spec.vision_heads = 2;
  spec.text_width = 32;
  spec.text_heads = 2;
  spec.text_layers = 2;
  spec.context_length = 77;
  spec.vocab_size = 4096;
  spec.preprocess.image_size = 32;
  return spec;
}

FloatMatrix to_matrix(const at::Tensor& t) {
  const at::Tensor c = t.detach().to(at::kFloat).contiguous();
  FloatMatrix m(c.size(0), c.size(1));
  std::memcpy(m.data.data(), c.data_ptr<float>(), sizeof(float) * static_cast<size_t>(c.numel()));
  return m;
}

// Symmetric InfoNCE over a batch, as CLIP trains.
at::Tensor clip_loss(ClipNetImpl& net, const at::Tensor& pixels, const at::Tensor& ids, const at::Tensor& ends) {
  const at::Tensor img = torch::nn::functional::normalize(net.encode_image(pixels), torch::nn::functional::NormalizeFuncOptions().dim(1));
  const at::Tensor txt = torch::nn::functional::normalize(net.encode_text(ids, ends), torch::nn::functional::NormalizeFuncOptions().dim(1));
  const at::Tensor logits = net.logit_scale.exp() * img.matmul(txt.t());
  const at::Tensor labels = torch::arange(pixels.size(0), torch::kLong);
  return (torch::nn::functional::cross_entropy(logits, labels) + torch::nn::functional::cross_entropy(logits.t(), labels)) / 2;
}

TEST(TrainSaveLoadTest, TrainedNetRoundTripsThroughHfDirectory) {
  const ModelSpec spec = tiny_vit_spec();
  ClipNet net = make_clip_net(spec, 7);
  EXPECT_TRUE(net->is_training());

  // A few optimiser steps on a fixed random batch: gradients flow and the loss drops.
  torch::manual_seed(3);
  const int64_t batch = 6, length = 9;
  const at::Tensor pixels = torch::randn({batch, 3, 32, 32});
  at::Tensor ids = torch::randint(1, 4000, {batch, length}, torch::kLong);
  ids.select(1, 0).fill_(4094);
  const at::Tensor ends = torch::tensor({8, 5, 8, 3, 7, 8}, torch::kLong);
  for (int64_t i = 0; i < batch; ++i) ids[i][ends[i].item<int64_t>()] = 4095;  // end = highest id
  torch::optim::Adam optimizer(net->parameters(), torch::optim::AdamOptions(1e-3));
  double first_loss = 0, last_loss = 0;
  for (int step = 0; step < 8; ++step) {
    optimizer.zero_grad();
    const at::Tensor loss = clip_loss(*net, pixels, ids, ends);
    loss.backward();
    if (step == 0) {
      first_loss = loss.item<double>();
      EXPECT_TRUE(net->visual_vit->conv1->weight.grad().defined());
      EXPECT_GT(net->transformer->blocks[0]->attn->in_proj_weight.grad().abs().sum().item<double>(), 0.0);
      EXPECT_GT(net->token_embedding->weight.grad().abs().sum().item<double>(), 0.0);
    }
    last_loss = loss.item<double>();
    optimizer.step();
  }
  EXPECT_TRUE(std::isfinite(last_loss));
  EXPECT_LT(last_loss, first_loss);

  // Save as a Hugging Face directory and read it back through the public API.
  net->eval();
  ModelSpec save_spec = spec;
  save_spec.preprocess.resize_mode = ResizeMode::kTargetPad;
  save_spec.preprocess.target_pad_ratio = 1.25;
  TempDir tmp;
  const std::string dir = tmp.str("saved");
  const std::string tokenizer_dir = fixture_path("fixtures/clip/vit/hf");
  save_hf_directory(*net, save_spec, dir, fs::exists(tokenizer_dir) ? tokenizer_dir : "");
  for (const char* name : {"config.json", "preprocessor_config.json", "model.safetensors"})
    EXPECT_TRUE(fs::exists(fs::path(dir) / name)) << name;
  if (fs::exists(tokenizer_dir)) {
    EXPECT_TRUE(fs::exists(fs::path(dir) / "vocab.json"));
  }

  const ModelSpec loaded_spec = model::read_model_spec(dir);
  EXPECT_EQ(loaded_spec.format, "hf");
  EXPECT_EQ(loaded_spec.activation, "gelu");
  EXPECT_EQ(loaded_spec.vision_width, spec.vision_width);
  EXPECT_EQ(loaded_spec.vision_heads, spec.vision_heads);
  EXPECT_EQ(loaded_spec.text_heads, spec.text_heads);
  EXPECT_EQ(loaded_spec.patch_size, spec.patch_size);
  EXPECT_EQ(loaded_spec.embed_dim, spec.embed_dim);
  EXPECT_EQ(loaded_spec.vocab_size, spec.vocab_size);
  EXPECT_EQ(loaded_spec.preprocess.resize_mode, ResizeMode::kTargetPad);
  EXPECT_DOUBLE_EQ(loaded_spec.preprocess.target_pad_ratio, 1.25);

  const auto m = ClipModel::load(dir);
  int64_t n_parameters = 0;
  for (const auto& p : net->parameters()) n_parameters += p.numel();
  EXPECT_EQ(m->spec().n_parameters, n_parameters);

  torch::NoGradGuard no_grad;
  const at::Tensor test_pixels = torch::randn({3, 3, 32, 32});
  const FloatMatrix ref_images = to_matrix(net->encode_image(test_pixels));
  expect_close(m->encode_images(test_pixels.data_ptr<float>(), 3), ref_images, 1e-6, "images after round trip");

  TokenBatch tokens;
  tokens.n_texts = batch;
  tokens.context_length = 77;
  tokens.ids.assign(static_cast<size_t>(batch * 77), 0);
  for (int64_t i = 0; i < batch; ++i) {
    const int64_t end = ends[i].item<int64_t>();
    for (int64_t j = 0; j <= end; ++j) tokens.ids[static_cast<size_t>(i * 77 + j)] = static_cast<int32_t>(ids[i][j].item<int64_t>());
    tokens.lengths.push_back(static_cast<int32_t>(end + 1));
  }
  const FloatMatrix ref_texts = to_matrix(net->encode_text(ids, ends));
  expect_close(m->encode_texts(tokens), ref_texts, 1e-6, "texts after round trip");
  EXPECT_FLOAT_EQ(m->token_embeddings({5}).data[0], net->token_embedding->weight[5][0].item<float>());
}

TEST(TrainSaveLoadTest, ResNetTrainsButHasNoHfForm) {
  ModelSpec spec = tiny_vit_spec();
  spec.image_tower = "resnet";
  spec.activation = "quick_gelu";
  spec.patch_size = 0;
  spec.resnet_layers = {1, 2, 1, 1};
  spec.vision_layers = 5;
  spec.vision_width = 8;
  spec.vision_heads = 4;
  spec.image_size = 64;
  ClipNet net = make_clip_net(spec, 1);
  const at::Tensor pixels = torch::randn({2, 3, 64, 64});
  const at::Tensor out = net->encode_image(pixels);
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, 16}));
  out.sum().backward();
  EXPECT_TRUE(net->visual_resnet->attnpool->q_proj->weight.grad().defined());
  // The checkpoint names include BatchNorm running stats and downsample.0/.1.
  bool has_running_mean = false, has_downsample = false;
  for (const auto& [name, t] : named_weights(*net)) {
    has_running_mean |= name == "visual.layer2.0.downsample.1.running_mean";
    has_downsample |= name == "visual.layer2.0.downsample.0.weight";
    EXPECT_EQ(name.find("num_batches_tracked"), std::string::npos) << name;
  }
  EXPECT_TRUE(has_running_mean);
  EXPECT_TRUE(has_downsample);
  TempDir tmp;
  try {
    save_hf_directory(*net, spec, tmp.str("rn"));
    ADD_FAILURE() << "expected kUnsupported";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
  }
}

TEST(SafetensorsTest, WriterAndReaderAgree) {
  TempDir tmp;
  const at::Tensor a = torch::randn({3, 4});
  const at::Tensor b = torch::arange(5, torch::kFloat);
  const at::Tensor scalar = torch::full({}, 2.5f);
  write_safetensors(tmp.str("t.safetensors"), {{"b", b}, {"a", a}, {"s", scalar}}, {{"format", "pt"}});
  const SafetensorsFile file(tmp.str("t.safetensors"));
  EXPECT_EQ(file.entries().size(), 3u);
  EXPECT_EQ(file.metadata().at("format"), "pt");
  EXPECT_TRUE(torch::equal(file.load_float("a"), a));
  EXPECT_TRUE(torch::equal(file.load_float("b"), b));
  EXPECT_EQ(file.load_float("s").dim(), 0);
  EXPECT_FLOAT_EQ(file.load_float("s").item<float>(), 2.5f);
  EXPECT_THROW(file.load_float("missing"), Error);

  write_safetensors(tmp.str("h.safetensors"), {{"a", a}}, {}, /*as_bfloat16=*/true);
  const SafetensorsFile half(tmp.str("h.safetensors"));
  EXPECT_EQ(half.entries().at("a").dtype, "BF16");
  EXPECT_TRUE(torch::allclose(half.load_float("a"), a, 1e-2, 1e-2));
  EXPECT_THROW(write_safetensors(tmp.str("d.safetensors"), {{"a", a}, {"a", b}}), Error);
}

// load_float converts F16 / BF16 / F64 in cir's own std-only code (safetensors_header.cpp, so the
// fuzz build reaches it); it must give libtorch's .to(kFloat) bit for bit: every F16 and BF16
// pattern (NaNs, infinities, subnormals included) and a spread of doubles.
TEST(SafetensorsTest, FloatConversionMatchesLibtorch) {
  TempDir tmp;
  const at::Tensor halves = torch::arange(65536, torch::kInt32).to(torch::kInt16);  // every bit pattern
  at::Tensor doubles = torch::randn({4096}, torch::kDouble) * 1e3;
  doubles.index_put_({0}, 1e300);
  doubles.index_put_({1}, 1e-310);  // subnormal double -> 0 in float
  doubles.index_put_({2}, std::nan(""));
  std::string header = R"({"h":{"dtype":"F16","shape":[65536],"data_offsets":[0,131072]},)"
                       R"("b":{"dtype":"BF16","shape":[256,256],"data_offsets":[131072,262144]},)"
                       R"("d":{"dtype":"F64","shape":[4096],"data_offsets":[262144,294912]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[static_cast<size_t>(i)] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  bytes += header;
  bytes.append(static_cast<const char*>(halves.data_ptr()), 131072);
  bytes.append(static_cast<const char*>(halves.data_ptr()), 131072);
  bytes.append(static_cast<const char*>(doubles.data_ptr()), 32768);
  write_file_atomic(tmp.str("c.safetensors"), bytes);
  const SafetensorsFile file(tmp.str("c.safetensors"));
  auto same_bits = [](const at::Tensor& a, const at::Tensor& b) {
    return torch::equal(a.contiguous().view(torch::kInt32), b.contiguous().view(torch::kInt32));
  };
  EXPECT_TRUE(same_bits(file.load_float("h"), halves.view(torch::kHalf).to(torch::kFloat)));
  EXPECT_TRUE(same_bits(file.load_float("b"), halves.view(torch::kBFloat16).to(torch::kFloat).reshape({256, 256})));
  EXPECT_TRUE(same_bits(file.load_float("d"), doubles.to(torch::kFloat)));
}

// The fused bf16 kernels against libtorch's own ops computed in fp32 (tolerance: a few bf16
// ulps, 2^-8 relative, since both sides round to bf16 once or twice).
TEST(Bf16KernelsTest, MatchLibtorch) {
  if (!bf16_kernels_available()) GTEST_SKIP() << "CPU lacks AVX-512";
  torch::NoGradGuard no_grad;
  torch::manual_seed(11);
  const at::Tensor x32 = torch::randn({37, 5, 83}) * 3 + 1;  // odd sizes exercise the tails
  const at::Tensor x = x32.to(at::kBFloat16);
  const at::Tensor w = (torch::randn({83}) + 1).to(at::kBFloat16), b = torch::randn({83}).to(at::kBFloat16);

  const at::Tensor ln = layer_norm_bf16(x, w, b, 1e-5).to(at::kFloat);
  const at::Tensor ln_ref = at::layer_norm(x.to(at::kFloat), {83}, w.to(at::kFloat), b.to(at::kFloat), 1e-5);
  EXPECT_LE((ln - ln_ref).abs().max().item<float>(), 0.02f * ln_ref.abs().max().item<float>());

  at::Tensor g = x.clone();
  quick_gelu_bf16_(g);
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor g_ref = xf * torch::sigmoid(1.702 * xf);
  EXPECT_TRUE(torch::allclose(g.to(at::kFloat), g_ref, 1e-2, 1e-2));

  for (const bool causal : {false, true}) {
    at::Tensor scores = torch::randn({6, 19, 19}).to(at::kBFloat16);
    at::Tensor ref = scores.to(at::kFloat) * 0.25;
    if (causal) ref = ref + torch::full({19, 19}, -INFINITY).triu(1);
    ref = torch::softmax(ref, -1);
    scaled_softmax_bf16_(scores, 0.25, causal);
    EXPECT_TRUE(torch::allclose(scores.to(at::kFloat), ref, 1e-2, 4e-3)) << "causal " << causal;
  }

  const at::Tensor big = torch::randn({1001}) * 1000;
  big[3] = NAN;
  big[4] = INFINITY;
  const at::Tensor converted = float_to_bf16(big);
  const at::Tensor expected = big.to(at::kBFloat16);
  EXPECT_TRUE(torch::equal(converted.view(at::kShort).narrow(0, 4, 997), expected.view(at::kShort).narrow(0, 4, 997)));
  EXPECT_TRUE(std::isnan(converted[3].item<float>()));
}

TEST(TorchScriptTest, ArchiveThatIsNotClip) {
  TempDir tmp;
  torch::jit::Module module("NotClip");
  module.register_parameter("weight", torch::ones({3}), /*is_buffer=*/false);
  module.define("def forward(self, x):\n  return x * self.weight\n");
  module.save(tmp.str("not_clip.pt"));
  try {
    ClipModel::load(tmp.str("not_clip.pt"));
    ADD_FAILURE() << "expected kUnsupported";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported) << e.what();
    EXPECT_NE(std::string(e.what()).find("not a CLIP"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cir::testing
