// `cir train clip` on a 150-scene world with a two-layer CLIP: a few dozen steps must lower the
// contrastive loss, write a Hugging Face directory the runtime loads, and a run killed mid-way
// then resumed from its checkpoint must export exactly the model of an uninterrupted run.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include "cir/image.h"
#include "cir/model.h"
#include "cir/synth.h"
#include "cir/text.h"
#include "cir/train.h"
#include "train_test_util.h"

namespace cir::train {
namespace {

namespace fs = std::filesystem;

struct World {
  fs::path root, world, tokenizer;
};

bool g_world_built = false;

const World& tiny_world() {
  static const World w = [] {
    g_world_built = true;
    World w;
    w.root = fs::temp_directory_path() / ("cir_test_clip_trainer_" + std::to_string(::getpid()));
    w.world = w.root / "world";
    w.tokenizer = w.root / "tokenizer";
    // Vocabulary learned on captions and query texts, as `cir train tokenizer --world` does.
    testing::write_world_and_tokenizer(w.world, w.tokenizer, 150, 5, 600);
    return w;
  }();
  return w;
}

ClipTrainOptions tiny_options(const std::string& name) {
  ClipTrainOptions o;
  o.world_dir = tiny_world().world.string();
  o.tokenizer_dir = tiny_world().tokenizer.string();
  o.out_dir = (tiny_world().root / name).string();
  // Smaller than this (one layer, width 32) collapses to chance (loss ln(batch)) for the first
  // hundred steps, as big CLIPs can early on; two layers of width 64 learn within 50 steps.
  o.arch.embed_dim = 64;
  o.arch.patch_size = 8;
  o.arch.vision_width = 64;
  o.arch.vision_layers = 2;
  o.arch.vision_heads = 2;
  o.arch.text_width = 64;
  o.arch.text_layers = 2;
  o.arch.text_heads = 2;
  o.steps = 50;
  o.batch_size = 32;
  o.learning_rate = 5e-4;
  o.warmup_steps = 10;
  o.checkpoint_every = 10;
  o.eval_every = 0;
  o.n_threads = 2;
  o.seed = 1;
  return o;
}

// The one thing a kill leaves behind is the last checkpoint; an exception from the progress
// callback stops the loop the same way (nothing after the throw runs).
struct Killed {};

// Embeddings of a few of the world's images and captions through the runtime loader.
std::pair<FloatMatrix, FloatMatrix> runtime_embeddings(const std::string& model_dir) {
  const auto model = model::ClipModel::load(model_dir);
  const auto tokenizer = text::ClipTokenizer::from_directory(model_dir);
  const synth::World world = synth::load_world(tiny_world().world.string());
  const auto& scenes = world.split("test").scenes;
  std::vector<image::ImageU8> images;
  std::vector<std::string> captions;
  for (size_t i = 0; i < 4 && i < scenes.size(); ++i) {
    images.push_back(image::decode_image_file((tiny_world().world / scenes[i].file).string()));
    captions.push_back(scenes[i].captions.front());
  }
  const std::vector<float> pixels = image::preprocess_images(images, model->spec().preprocess);
  const auto tokens = tokenizer.tokenize(captions, model->spec().context_length);
  return {model->encode_images(pixels.data(), static_cast<int64_t>(captions.size())), model->encode_texts(tokens)};
}

TEST(ClipTrainer, LossDropsAndTheExportLoads) {
  const auto o = tiny_options("straight");
  std::vector<double> losses;
  const ClipTrainReport report = train_clip(o, [&](const ClipTrainProgress& p) { losses.push_back(p.loss); });
  ASSERT_EQ(losses.size(), 50u);
  double first = 0, last = 0;
  for (int i = 0; i < 5; ++i) first += losses[i] / 5, last += losses[losses.size() - 1 - i] / 5;
  EXPECT_LT(last, 0.85 * first) << "contrastive loss did not drop: " << first << " -> " << last;
  EXPECT_EQ(report.steps, 50);
  EXPECT_GT(report.n_parameters, 0);
  const auto [images, texts] = runtime_embeddings(o.out_dir);
  EXPECT_EQ(images.cols, 64);
  EXPECT_EQ(texts.cols, 64);
  EXPECT_FALSE(fs::exists(fs::path(o.out_dir) / "checkpoints")) << "default checkpoints are removed after export";
}

TEST(ClipTrainer, KilledThenResumedEqualsUninterrupted) {
  const auto straight = tiny_options("straight");
  if (!fs::exists(fs::path(straight.out_dir) / "config.json")) train_clip(straight);

  auto o = tiny_options("resumed");
  o.checkpoint_dir = (tiny_world().root / "resumed_checkpoints").string();
  EXPECT_THROW(train_clip(o, [](const ClipTrainProgress& p) {
                 if (p.step == 25) throw Killed{};  // checkpoint at 20; steps 21-25 are lost
               }),
               Killed);
  ASSERT_TRUE(fs::exists(o.checkpoint_dir));
  EXPECT_FALSE(fs::exists(fs::path(o.out_dir) / "config.json"));
  o.resume = true;
  int first_step = 0;
  train_clip(o, [&](const ClipTrainProgress& p) {
    if (first_step == 0) first_step = p.step;
  });
  EXPECT_EQ(first_step, 21);

  const auto [ia, ta] = runtime_embeddings(straight.out_dir);
  const auto [ib, tb] = runtime_embeddings(o.out_dir);
  ASSERT_EQ(ia.data.size(), ib.data.size());
  ASSERT_EQ(ta.data.size(), tb.data.size());
  for (size_t i = 0; i < ia.data.size(); ++i) ASSERT_EQ(ia.data[i], ib.data[i]) << "image value " << i;
  for (size_t i = 0; i < ta.data.size(); ++i) ASSERT_EQ(ta.data[i], tb.data[i]) << "text value " << i;
}

TEST(ClipTrainer, ACorruptCheckpointIsNamed) {
  auto o = tiny_options("corrupt");
  o.checkpoint_dir = (tiny_world().root / "corrupt_checkpoints").string();
  fs::create_directories(o.checkpoint_dir);
  std::FILE* f = std::fopen((fs::path(o.checkpoint_dir) / "checkpoint.pt").c_str(), "wb");
  std::fputs("not a checkpoint", f);
  std::fclose(f);
  o.resume = true;
  try {
    train_clip(o);
    FAIL() << "a garbled checkpoint was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
    EXPECT_NE(std::string(e.what()).find("checkpoint.pt"), std::string::npos) << e.what();
  }
}

class CleanupEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    if (g_world_built) fs::remove_all(tiny_world().root);
  }
};
const auto* const g_cleanup = ::testing::AddGlobalTestEnvironment(new CleanupEnvironment);

}  // namespace
}  // namespace cir::train
