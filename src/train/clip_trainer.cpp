// Contrastive pre-training of the shapes world's small CLIP (see include/cir/train.h).
//
// Why re-render instead of reading the world's PNGs: the scene graph is the ground truth and
// rendering a 64 px scene costs well under a millisecond, so every draw of a scene gets fresh
// jitter (position, colour noise, background) for free — augmentation that never breaks the
// caption. Sampling depends only on (seed, step, slot), which makes --resume exact.
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <filesystem>

#include "cir/image.h"
#include "cir/model.h"
#include "cir/synth.h"
#include "cir/text.h"
#include "cir/train.h"
#include "model/clip_modules.h"
#include "train/head_data.h"

namespace cir::train {
namespace {

namespace fs = std::filesystem;
using model::detail::ClipNet;

constexpr const char* kCheckpointName = "checkpoint.pt";

// Sampling and token tensors are shared with the head trainers (train/head_data.h).
using detail::mix;
using detail::sample_key;

void validate(const ClipTrainOptions& o) {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) throw Error(ErrorCode::kInvalidArgument, "train clip: " + what);
  };
  need(!o.world_dir.empty(), "--world is required");
  need(!o.tokenizer_dir.empty(), "--tokenizer is required");
  need(!o.out_dir.empty(), "--out is required");
  need(o.steps > 0, "--steps must be positive");
  need(o.batch_size >= 2, "--batch-size must be at least 2 (contrastive loss)");
  need(o.learning_rate > 0, "--lr must be positive");
  need(o.warmup_steps >= 0 && o.checkpoint_every > 0, "--warmup and --checkpoint-every must be >= 0 / > 0");
}

model::ModelSpec make_spec(const ClipArchitecture& a, int64_t vocab_size) {
  model::ModelSpec s;
  s.family = "clip";
  s.format = "hf";
  s.image_tower = "vit";
  s.activation = "quick_gelu";
  s.embed_dim = a.embed_dim;
  s.image_size = a.image_size;
  s.patch_size = a.patch_size;
  s.vision_width = a.vision_width;
  s.vision_layers = a.vision_layers;
  s.vision_heads = a.vision_heads;
  s.text_width = a.text_width;
  s.text_heads = a.text_heads;
  s.text_layers = a.text_layers;
  s.context_length = a.context_length;
  s.vocab_size = static_cast<int>(vocab_size);
  s.preprocess.image_size = a.image_size;
  s.preprocess.resize_mode = ResizeMode::kShortestCenterCrop;
  return s;
}

// Linear warm-up, then cosine decay to 10% of the peak (a floor keeps late steps useful).
double learning_rate_at(const ClipTrainOptions& o, int step) {
  if (step < o.warmup_steps) return o.learning_rate * (step + 1) / double(o.warmup_steps);
  const double progress = double(step - o.warmup_steps) / std::max(1, o.steps - o.warmup_steps);
  return o.learning_rate * (0.1 + 0.9 * 0.5 * (1.0 + std::cos(M_PI * std::min(1.0, progress))));
}

// CLIP's recipe: weight decay on matrices only, not on gains, biases, embeddings or the scale.
std::vector<torch::optim::OptimizerParamGroup> param_groups(ClipNet& net, double weight_decay) {
  std::vector<at::Tensor> decay, no_decay;
  for (const auto& p : net->named_parameters()) {
    const std::string& name = p.key();
    const bool is_matrix = p.value().dim() >= 2 && name.find("embedding") == std::string::npos;
    (is_matrix ? decay : no_decay).push_back(p.value());
  }
  std::vector<torch::optim::OptimizerParamGroup> groups;
  auto with_decay = std::make_unique<torch::optim::AdamWOptions>();
  with_decay->weight_decay(weight_decay);
  auto without = std::make_unique<torch::optim::AdamWOptions>();
  without->weight_decay(0.0);
  groups.emplace_back(decay, std::move(with_decay));
  groups.emplace_back(no_decay, std::move(without));
  return groups;
}

struct Batch {
  at::Tensor pixels;     // [B, 3, S, S]
  at::Tensor ids;        // [B, L] int64, trimmed to the longest row
  at::Tensor end_index;  // [B] int64
};

Batch tokens_to_batch(const TokenBatch& tokens) {
  Batch b;
  std::tie(b.ids, b.end_index) = detail::token_tensors(tokens);
  return b;
}

Batch sample_batch(const std::vector<synth::Scene>& scenes, const text::ClipTokenizer& tokenizer,
                   const ClipTrainOptions& o, const model::ModelSpec& spec, int step) {
  const int n = o.batch_size;
  const int64_t size = spec.image_size;
  std::vector<float> pixels(static_cast<size_t>(n * 3 * size * size));
  std::vector<std::string> captions(static_cast<size_t>(n));
  parallel_for(n, o.n_threads, [&](int64_t i) {
    const uint64_t key = sample_key(o.seed, step, static_cast<int>(i), 0x5eed);
    synth::Scene scene = scenes[key % scenes.size()];
    synth::jitter_scene(scene, static_cast<int>(size), mix(key));
    const image::ImageU8 img = synth::render_scene(scene, static_cast<int>(size));
    image::preprocess_into(img, spec.preprocess, pixels.data() + i * 3 * size * size);
    captions[i] = scene.captions[mix(key ^ 0xc0ffee) % scene.captions.size()];
  });
  Batch b = tokens_to_batch(tokenizer.tokenize(captions, spec.context_length));
  b.pixels = torch::from_blob(pixels.data(), {n, 3, size, size}, at::kFloat).clone();
  return b;
}

at::Tensor contrastive_loss(ClipNet& net, const Batch& b) {
  auto img = net->encode_image(b.pixels);
  auto txt = net->encode_text(b.ids, b.end_index);
  img = img / img.norm(2, -1, true);
  txt = txt / txt.norm(2, -1, true);
  auto logits = net->logit_scale.exp() * img.matmul(txt.t());
  auto labels = torch::arange(logits.size(0), at::kLong);
  return 0.5 * (torch::nn::functional::cross_entropy(logits, labels) +
                torch::nn::functional::cross_entropy(logits.t(), labels));
}

// Caption -> image R@1 over the val scenes (first caption, the scenes' stored jitter).
double caption_to_image_r1(ClipNet& net, const std::vector<synth::Scene>& scenes, const text::ClipTokenizer& tokenizer,
                           const model::ModelSpec& spec, int n_threads) {
  if (scenes.empty()) return -1;
  torch::NoGradGuard no_grad;
  net->eval();
  const int64_t n = std::min<int64_t>(static_cast<int64_t>(scenes.size()), 1000);
  const int64_t size = spec.image_size;
  std::vector<float> pixels(static_cast<size_t>(n * 3 * size * size));
  std::vector<std::string> captions(static_cast<size_t>(n));
  parallel_for(n, n_threads, [&](int64_t i) {
    image::preprocess_into(synth::render_scene(scenes[i], static_cast<int>(size)), spec.preprocess,
                           pixels.data() + i * 3 * size * size);
    captions[i] = scenes[i].captions[0];
  });
  Batch b = tokens_to_batch(tokenizer.tokenize(captions, spec.context_length));
  auto img = net->encode_image(torch::from_blob(pixels.data(), {n, 3, size, size}, at::kFloat));
  auto txt = net->encode_text(b.ids, b.end_index);
  img = img / img.norm(2, -1, true);
  txt = txt / txt.norm(2, -1, true);
  auto best = txt.matmul(img.t()).argmax(1);
  // Twins (same graph, other jitter) count as hits: the caption cannot tell them apart.
  int64_t hits = 0;
  auto best_a = best.accessor<int64_t, 1>();
  for (int64_t i = 0; i < n; ++i) hits += scenes[best_a[i]].captions[0] == scenes[i].captions[0];
  net->train();
  return double(hits) / double(n);
}

void save_checkpoint(ClipNet& net, torch::optim::AdamW& optimizer, int step, const fs::path& dir) {
  fs::create_directories(dir);
  torch::serialize::OutputArchive archive;
  net->save(archive);
  torch::serialize::OutputArchive opt_archive;
  optimizer.save(opt_archive);
  archive.write("optimizer", opt_archive);
  archive.write("step", torch::tensor(static_cast<int64_t>(step)));
  const fs::path tmp = dir / (std::string(kCheckpointName) + ".tmp");
  archive.save_to(tmp.string());
  fs::rename(tmp, dir / kCheckpointName);  // atomic: a kill leaves the previous checkpoint
}

int load_checkpoint(ClipNet& net, torch::optim::AdamW& optimizer, const fs::path& dir) {
  const fs::path path = dir / kCheckpointName;
  if (!fs::exists(path)) return 0;
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path.string());
    net->load(archive);
    torch::serialize::InputArchive opt_archive;
    archive.read("optimizer", opt_archive);
    optimizer.load(opt_archive);
    at::Tensor step;
    archive.read("step", step);
    return static_cast<int>(step.item<int64_t>());
  } catch (const c10::Error& e) {
    throw Error(ErrorCode::kCorrupt, "checkpoint '" + path.string() + "' cannot be read: " + e.what_without_backtrace());
  }
}

}  // namespace

ClipTrainReport train_clip(const ClipTrainOptions& options, const std::function<void(const ClipTrainProgress&)>& on_progress) {
  validate(options);
  ClipTrainOptions o = options;
  if (o.n_threads <= 0) o.n_threads = default_thread_count();
  model::set_torch_threads(o.n_threads);
  const synth::World world = synth::load_world(o.world_dir);
  const auto& train_scenes = world.split("train").scenes;
  const auto& val_scenes = world.split("val").scenes;
  if (train_scenes.empty()) throw Error(ErrorCode::kInvalidArgument, "world '" + o.world_dir + "' has no train scenes");
  if (o.arch.image_size != world.options.image_size)
    throw Error(ErrorCode::kInvalidArgument, "image size " + std::to_string(o.arch.image_size) + " differs from the world's " +
                                                 std::to_string(world.options.image_size));
  const auto tokenizer = text::ClipTokenizer::from_directory(o.tokenizer_dir);
  const model::ModelSpec spec = make_spec(o.arch, tokenizer.vocab_size());

  torch::manual_seed(o.seed);
  ClipNet net = model::detail::make_clip_net(spec, o.seed);
  net->train();
  torch::optim::AdamW optimizer(param_groups(net, o.weight_decay), torch::optim::AdamWOptions(o.learning_rate));
  const fs::path checkpoint_dir = o.checkpoint_dir.empty() ? fs::path(o.out_dir) / "checkpoints" : fs::path(o.checkpoint_dir);
  int start_step = o.resume ? load_checkpoint(net, optimizer, checkpoint_dir) : 0;

  ClipTrainReport report;
  report.resumed_from = start_step;
  report.steps = start_step;
  int64_t n_params = 0;
  for (const auto& p : net->parameters()) n_params += p.numel();
  report.n_parameters = n_params;
  const auto t0 = std::chrono::steady_clock::now();
  auto last = t0;
  for (int step = start_step; step < o.steps; ++step) {
    const double lr = learning_rate_at(o, step);
    for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    const Batch batch = sample_batch(train_scenes, tokenizer, o, spec, step);
    optimizer.zero_grad();
    auto loss = contrastive_loss(net, batch);
    loss.backward();
    optimizer.step();
    {
      torch::NoGradGuard no_grad;
      net->logit_scale.clamp_(0.0, std::log(100.0));  // CLIP caps the scale at 100
    }
    const double loss_value = loss.item<double>();
    if (step == start_step) report.first_loss = loss_value;
    report.final_loss = loss_value;
    const bool last_step = step + 1 == o.steps;
    if ((step + 1) % o.checkpoint_every == 0 || last_step) save_checkpoint(net, optimizer, step + 1, checkpoint_dir);
    ClipTrainProgress p;
    p.step = step + 1;
    p.total_steps = o.steps;
    p.loss = loss_value;
    p.learning_rate = lr;
    p.logit_scale = net->logit_scale.exp().item<double>();
    const auto now = std::chrono::steady_clock::now();
    p.samples_per_s = o.batch_size / std::max(1e-9, std::chrono::duration<double>(now - last).count());
    last = now;
    if (o.eval_every > 0 && ((step + 1) % o.eval_every == 0 || last_step)) {
      p.val_r1 = caption_to_image_r1(net, val_scenes, tokenizer, spec, o.n_threads);
      report.val_r1 = p.val_r1;
    }
    if (on_progress) on_progress(p);
    report.steps = step + 1;
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  net->eval();
  model::detail::save_hf_directory(*net, spec, o.out_dir, o.tokenizer_dir);
  if (!o.keep_checkpoints && o.checkpoint_dir.empty()) fs::remove_all(checkpoint_dir);
  report.out_dir = o.out_dir;
  return report;
}

}  // namespace cir::train
