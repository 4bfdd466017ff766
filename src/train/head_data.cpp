// Shared machinery of the head trainers (see head_data.h). Frozen features are computed once
// per run: the shapes world's train split is a few thousand 64 px scenes, seconds of encoding.
#include "train/head_data.h"

#include <chrono>

#include "cir/image.h"
#include "cir/synth.h"

namespace cir::train::detail {
namespace fs = std::filesystem;

uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t sample_key(uint64_t seed, int step, int slot, uint64_t salt) {
  return mix(mix(mix(seed ^ salt) + static_cast<uint64_t>(step)) + static_cast<uint64_t>(slot));
}

namespace {

at::Tensor to_tensor(const FloatMatrix& m) {
  return torch::from_blob(const_cast<float*>(m.data.data()), {m.rows, m.cols}, at::kFloat).clone();
}

}  // namespace

EncodedWorld encode_train_split(const std::string& world_dir, const model::ClipModel& model, int n_threads) {
  const synth::World world = synth::load_world(world_dir);
  const auto& split = world.split("train");
  if (split.scenes.empty() || split.queries.empty())
    throw Error(ErrorCode::kInvalidArgument, "world '" + world_dir + "' has no train scenes or queries");
  const auto& spec = model.spec();
  const int64_t n = static_cast<int64_t>(split.scenes.size());
  const int64_t size = spec.image_size;
  std::vector<float> pixels(static_cast<size_t>(n * 3 * size * size));
  parallel_for(n, n_threads, [&](int64_t i) {
    image::preprocess_into(synth::render_scene(split.scenes[static_cast<size_t>(i)], world.options.image_size),
                           spec.preprocess, pixels.data() + i * 3 * size * size);
  });
  EncodedWorld out;
  out.images = to_tensor(model.encode_images(pixels.data(), n));
  std::map<std::string, int64_t> index;
  for (int64_t i = 0; i < n; ++i) {
    index[split.scenes[static_cast<size_t>(i)].id] = i;
    out.scene_ids.push_back(split.scenes[static_cast<size_t>(i)].id);
  }
  std::vector<std::string> texts;
  for (const auto& q : split.queries) {
    Triplet t;
    t.reference = index.at(q.reference_id);
    t.text = q.text;
    for (const auto& id : q.target_ids) t.targets.push_back(index.at(id));
    if (t.targets.empty()) continue;
    texts.push_back(q.text);
    out.triplets.push_back(std::move(t));
  }
  const auto tokenizer = text::ClipTokenizer::from_directory(spec.path);
  FloatMatrix feats(0, spec.embed_dim);
  for (size_t first = 0; first < texts.size(); first += 512) {
    const std::vector<std::string> chunk(texts.begin() + static_cast<std::ptrdiff_t>(first),
                                         texts.begin() + static_cast<std::ptrdiff_t>(std::min(texts.size(), first + 512)));
    const FloatMatrix f = model.encode_texts(tokenizer.tokenize(chunk, spec.context_length));
    feats.data.insert(feats.data.end(), f.data.begin(), f.data.end());
    feats.rows += f.rows;
  }
  out.texts = to_tensor(feats);
  return out;
}

void validate_head_options(const HeadTrainOptions& o, const std::string& command, bool needs_model) {
  auto need = [&](bool ok, const std::string& what) {
    if (!ok) throw Error(ErrorCode::kInvalidArgument, "train " + command + ": " + what);
  };
  need(!o.world_dir.empty(), "--world is required");
  need(!needs_model || !o.model_dir.empty(), "--model is required");
  need(!o.out.empty(), "--out is required");
  need(o.steps > 0, "--steps must be positive");
  need(o.batch_size >= 2, "--batch-size must be at least 2 (contrastive loss)");
  need(o.learning_rate >= 0, "--lr must be positive");
  need(o.checkpoint_every > 0, "--checkpoint-every must be positive");
}

fs::path checkpoint_dir_of(const HeadTrainOptions& o) {
  return o.checkpoint_dir.empty() ? fs::path(o.out + ".checkpoints") : fs::path(o.checkpoint_dir);
}

void save_checkpoint(torch::nn::Module& module, torch::optim::Optimizer& optimizer, int step, const fs::path& dir) {
  fs::create_directories(dir);
  torch::serialize::OutputArchive archive;
  module.save(archive);
  torch::serialize::OutputArchive opt_archive;
  optimizer.save(opt_archive);
  archive.write("optimizer", opt_archive);
  archive.write("step", torch::tensor(static_cast<int64_t>(step)));
  const fs::path tmp = dir / "checkpoint.pt.tmp";
  archive.save_to(tmp.string());
  fs::rename(tmp, dir / "checkpoint.pt");  // atomic: a kill leaves the previous checkpoint
}

int load_checkpoint(torch::nn::Module& module, torch::optim::Optimizer& optimizer, const fs::path& dir) {
  const fs::path path = dir / "checkpoint.pt";
  if (!fs::exists(path)) return 0;
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path.string());
    module.load(archive);
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

HeadTrainReport run_steps(const HeadTrainOptions& o, torch::nn::Module& module, torch::optim::Optimizer& optimizer,
                          const std::function<at::Tensor(int step)>& loss_at, const HeadProgressFn& on_progress) {
  const fs::path dir = checkpoint_dir_of(o);
  const int start = o.resume ? load_checkpoint(module, optimizer, dir) : 0;
  HeadTrainReport report;
  report.steps = start;
  report.resumed_from = start;
  const auto t0 = std::chrono::steady_clock::now();
  auto last = t0;
  module.train();
  for (int step = start; step < o.steps; ++step) {
    torch::manual_seed(mix(o.seed + static_cast<uint64_t>(step)));
    optimizer.zero_grad();
    const at::Tensor loss = loss_at(step);
    loss.backward();
    optimizer.step();
    const double value = loss.item<double>();
    if (step == start) report.first_loss = value;
    report.final_loss = value;
    if ((step + 1) % o.checkpoint_every == 0 || step + 1 == o.steps) save_checkpoint(module, optimizer, step + 1, dir);
    const auto now = std::chrono::steady_clock::now();
    if (on_progress) {
      HeadTrainProgress p;
      p.stage = "train";
      p.step = step + 1;
      p.total_steps = o.steps;
      p.loss = value;
      p.samples_per_s = o.batch_size / std::max(1e-9, std::chrono::duration<double>(now - last).count());
      on_progress(p);
    }
    last = now;
    report.steps = step + 1;
  }
  module.eval();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  report.out = o.out;
  return report;
}

void finish_checkpoints(const HeadTrainOptions& o) {
  if (!o.keep_checkpoints && o.checkpoint_dir.empty()) fs::remove_all(checkpoint_dir_of(o));
}

}  // namespace cir::train::detail
