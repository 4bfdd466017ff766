// Each head trainer on a 200-scene world and a one-layer random CLIP: a handful of steps must
// lower the loss, write an output the runtime loads, and resume to the same state.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "cir/compose.h"
#include "cir/gen.h"
#include "cir/model.h"
#include "cir/synth.h"
#include "cir/text.h"
#include "cir/train.h"
#include "compose/checkpoint.h"
#include "model/clip_modules.h"
#include "train_test_util.h"

namespace cir::train {
namespace {

namespace fs = std::filesystem;

// A world + tokenizer + random CLIP, built once for the whole binary.
struct Setup {
  fs::path root, world, model;
};

bool g_setup_built = false;

const Setup& setup() {
  static const Setup s = [] {
    g_setup_built = true;
    Setup s;
    s.root = fs::temp_directory_path() / ("cir_test_heads_" + std::to_string(::getpid()));
    s.world = s.root / "world";
    s.model = s.root / "clip";
    const fs::path tok = s.root / "tokenizer";
    testing::write_world_and_tokenizer(s.world, tok, 200, 3, 700);
    const auto tokenizer = text::ClipTokenizer::from_directory(tok.string());
    model::ModelSpec spec;
    spec.family = "clip";
    spec.format = "hf";
    spec.image_tower = "vit";
    spec.activation = "quick_gelu";
    spec.embed_dim = 32;
    spec.image_size = 64;
    spec.patch_size = 16;
    spec.vision_width = 64;
    spec.vision_layers = 1;
    spec.vision_heads = 2;
    spec.text_width = 32;
    spec.text_heads = 2;
    spec.text_layers = 1;
    spec.context_length = 77;
    spec.vocab_size = static_cast<int>(tokenizer.vocab_size());
    spec.preprocess.image_size = 64;
    spec.preprocess.resize_mode = ResizeMode::kShortestCenterCrop;
    auto net = model::detail::make_clip_net(spec, 1);
    net->eval();
    model::detail::save_hf_directory(*net, spec, s.model.string(), tok.string());
    return s;
  }();
  return s;
}

HeadTrainOptions options(const std::string& out, int steps) {
  HeadTrainOptions o;
  o.world_dir = setup().world.string();
  o.model_dir = setup().model.string();
  o.out = (setup().root / out).string();
  o.steps = steps;
  o.batch_size = 16;
  o.checkpoint_every = 5;
  o.n_threads = 2;
  return o;
}

// Mean loss of the first and last `k` steps (single steps are noisy at batch 16).
std::pair<double, double> first_last(const std::vector<double>& losses, size_t k) {
  double a = 0, b = 0;
  for (size_t i = 0; i < k; ++i) {
    a += losses[i] / k;
    b += losses[losses.size() - 1 - i] / k;
  }
  return {a, b};
}

std::vector<double> run(HeadTrainReport (*fn)(const HeadTrainOptions&, const HeadProgressFn&), const HeadTrainOptions& o) {
  std::vector<double> losses;
  fn(o, [&](const HeadTrainProgress& p) {
    if (p.stage == "train") losses.push_back(p.loss);
  });
  return losses;
}

void expect_same_state(const std::string& a, const std::string& b, const std::string& key) {
  const auto sa = compose::detail::read_state_dict(a, key);
  const auto sb = compose::detail::read_state_dict(b, key);
  ASSERT_EQ(sa.size(), sb.size());
  for (const auto& [name, t] : sa) EXPECT_TRUE(torch::allclose(t, sb.at(name), 1e-6, 1e-6)) << name;
}

// Every parameter of two CLIP directories (SPN writes whole models) agrees.
void expect_same_net(const std::string& a, const std::string& b) {
  auto na = model::detail::load_clip_net(a), nb = model::detail::load_clip_net(b);
  const auto pb = nb->named_parameters();
  for (const auto& p : na->named_parameters())
    EXPECT_TRUE(torch::allclose(p.value(), pb[p.key()], 1e-6, 1e-6)) << p.key();
}

TEST(HeadTrainers, CombinerLearnsAndResumesExactly) {
  auto o = options("combiner.pt", 30);
  o.learning_rate = 1e-3;
  const auto losses = run(train_combiner, o);
  ASSERT_EQ(losses.size(), 30u);
  const auto [first, last] = first_last(losses, 5);
  EXPECT_LT(last, first);
  // Interrupted at step 10, resumed to 30: same weights as the straight run.
  auto part = options("combiner_resumed.pt", 10);
  part.learning_rate = 1e-3;
  part.checkpoint_dir = (setup().root / "combiner_ck").string();
  run(train_combiner, part);
  part.steps = 30;
  part.resume = true;
  const auto rest = run(train_combiner, part);
  EXPECT_EQ(rest.size(), 20u);
  expect_same_state(o.out, part.out, "Combiner");
  // The runtime method loads what the trainer wrote.
  compose::ComposeContext ctx;
  ctx.embed_dim = 32;
  ctx.encode_texts = [](const std::vector<std::string>& t) { return FloatMatrix(static_cast<int64_t>(t.size()), 32); };
  ctx.options["combiner"] = o.out;
  compose::ComposeInput in;
  in.reference = std::vector<float>(32, 0.5f);
  in.texts = {"make it red"};
  EXPECT_EQ(compose::find_method("combiner")->compose({in}, ctx).rows, 1);
}

TEST(HeadTrainers, SpnLearnsResumesExactlyAndWritesALoadableClip) {
  auto o = options("spn", 20);
  o.learning_rate = 1e-3;  // 2e-5 (the paper's) barely moves a random one-layer CLIP in 20 steps
  const auto losses = run(train_spn, o);
  const auto [first, last] = first_last(losses, 4);
  EXPECT_LT(last, first);
  // Interrupted at step 8, resumed to 20: the same text tower as the straight run.
  auto part = options("spn_resumed", 8);
  part.learning_rate = 1e-3;
  part.checkpoint_dir = (setup().root / "spn_ck").string();
  run(train_spn, part);
  part.steps = 20;
  part.resume = true;
  EXPECT_EQ(run(train_spn, part).size(), 12u);
  expect_same_net(o.out, part.out);
  model::ModelOptions mo;
  mo.hash_weights = false;
  const auto base = model::ClipModel::load(setup().model.string(), mo);
  const auto spn = model::ClipModel::load(o.out, mo);
  // The image tower is unchanged, so gallery vectors stay valid.
  std::vector<float> pixels(3 * 64 * 64, 0.25f);
  const FloatMatrix a = base->encode_images(pixels.data(), 1), b = spn->encode_images(pixels.data(), 1);
  for (int64_t c = 0; c < a.cols; ++c) EXPECT_FLOAT_EQ(a.row(0)[c], b.row(0)[c]);
}

// The random one-layer CLIP maps every 64 px scene to nearly the same direction (pairwise cosine
// of n(I(x)) 0.987..1.0), so Pic2Word's image-only InfoNCE between n(I(x)) and
// n(T("a photo of *")) at CLIP's initial logit scale (1/0.07) starts at log(16) with almost no
// signal: at lr 1e-3 the mapper cannot move the loss in a few dozen steps. lr 1e-2 for 40 steps
// does (2.774 -> ~2.73). The trainer is Pic2Word's objective unchanged: on a trained shapes-clip
// at its defaults (lr 1e-4, batch 64) the loss falls 12.6 -> 0.16 in 100 steps.
HeadTrainOptions pic2word_options(const std::string& out, int steps) {
  auto o = options(out, steps);
  o.learning_rate = 1e-2;
  o.hidden_dim = 32;
  return o;
}

TEST(HeadTrainers, Pic2WordLearnsAndResumesExactly) {
  const auto o = pic2word_options("p2w.pt", 40);
  const auto losses = run(train_pic2word, o);
  ASSERT_EQ(losses.size(), 40u);
  const auto [first, last] = first_last(losses, 4);
  EXPECT_LT(last, first);
  // Interrupted at step 20, resumed to 40: the same mapping network as the straight run.
  auto part = pic2word_options("p2w_resumed.pt", 20);
  part.checkpoint_dir = (setup().root / "p2w_ck").string();
  run(train_pic2word, part);
  part.steps = 40;
  part.resume = true;
  EXPECT_EQ(run(train_pic2word, part).size(), 20u);
  expect_same_state(o.out, part.out, "state_dict_img2text");
  EXPECT_EQ(compose::detail::read_state_dict(o.out, "state_dict_img2text").count("fc_out.weight"), 1u);
}

TEST(HeadTrainers, PhiDistilsOtiTokensAndResumesExactly) {
  const auto phi_options = [](const std::string& out, int steps) {
    auto o = options(out, steps);
    o.learning_rate = 1e-3;
    o.oti_steps = 5;
    o.max_images = 48;
    o.hidden_dim = 64;
    return o;
  };
  const auto o = phi_options("phi.pt", 20);
  const auto losses = run(train_phi, o);
  const auto [first, last] = first_last(losses, 4);
  EXPECT_LT(last, first);
  EXPECT_EQ(compose::detail::read_state_dict(o.out, "Phi").count("layers.6.weight"), 1u);
  // Interrupted at step 10 (the OTI targets stay cached beside the checkpoint), resumed to 20.
  auto part = phi_options("phi_resumed.pt", 10);
  part.checkpoint_dir = (setup().root / "phi_ck").string();
  run(train_phi, part);
  EXPECT_TRUE(fs::exists(fs::path(part.checkpoint_dir) / "oti_targets.pt"));
  part.steps = 20;
  part.resume = true;
  EXPECT_EQ(run(train_phi, part).size(), 10u);
  expect_same_state(o.out, part.out, "Phi");
}

// SEARLE's L_gpt in phi training: phrases about each image's nearest concepts join both the OTI
// targets and phi's loss; the table's source is recorded beside the output; resume stays exact.
TEST(HeadTrainers, PhiWithPhrasesAddsTheGptTermAndResumesExactly) {
  gen::PhraseTable table;
  table.source = "test-table@local";
  table.phrases = {{"circle", {"a photo of circle that is red", "a photo of circle that sits left"}},
                   {"square", {"a photo of square that is big", "a photo of square that is blue"}},
                   {"dropped", {"a photo of something else"}}};  // fails SEARLE's filter
  const std::string phrases = (setup().root / "phrases.json").string();
  gen::write_phrase_table(phrases, table);
  const auto phi_options = [&](const std::string& out, int steps, bool with_phrases) {
    auto o = options(out, steps);
    o.learning_rate = 1e-3;
    o.oti_steps = 5;
    o.max_images = 48;
    o.hidden_dim = 64;
    if (with_phrases) o.phrases = phrases;
    return o;
  };
  const auto plain = run(train_phi, phi_options("phi_plain.pt", 20, false));
  const auto o = phi_options("phi_gpt.pt", 20, true);
  HeadTrainReport report;
  std::vector<double> losses;
  report = train_phi(o, [&](const HeadTrainProgress& p) {
    if (p.stage == "train") losses.push_back(p.loss);
  });
  ASSERT_EQ(losses.size(), plain.size());
  EXPECT_NE(losses, plain);
  const auto [first, last] = first_last(losses, 4);
  EXPECT_LT(last, first);
  EXPECT_EQ(report.gpt_phrases_source, "test-table@local");
  std::ifstream sidecar_in(o.out + ".gen.json");
  const auto sidecar = nlohmann::json::parse(sidecar_in);
  EXPECT_EQ(sidecar["gpt_phrases_source"], "test-table@local");
  EXPECT_EQ(sidecar["concepts"], 2);
  EXPECT_EQ(sidecar["gpt_weight"], 0.75);
  EXPECT_EQ(sidecar["phrases_sha256"], sha256_file(phrases));
  auto part = phi_options("phi_gpt_resumed.pt", 10, true);
  part.checkpoint_dir = (setup().root / "phi_gpt_ck").string();
  run(train_phi, part);
  part.steps = 20;
  part.resume = true;
  EXPECT_EQ(run(train_phi, part).size(), 10u);
  expect_same_state(o.out, part.out, "Phi");
}

// A captioner standing in for a VLM: "caption <id>" per image; one scene gets a caption so long
// that every template exceeds CLIP's 77 tokens; one fails.
class FakeCaptioner : public gen::Captioner {
 public:
  std::string key() const override { return "fake"; }
  std::vector<gen::CaptionResult> caption_batch(const std::vector<gen::CaptionInput>& inputs) const override {
    std::vector<gen::CaptionResult> out(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      ++calls;
      if (inputs[i].item_id == fail_id) {
        out[i].n_failed = 1;
        out[i].error = "refused";
      } else if (inputs[i].item_id == long_id) {
        std::string text;
        for (int w = 0; w < 90; ++w) text += "word ";
        out[i].captions = {text};
      } else {
        out[i].captions = {"caption " + inputs[i].item_id};
      }
      EXPECT_FALSE(inputs[i].image_bytes.empty());
    }
    return out;
  }
  std::string fail_id, long_id;
  mutable int calls = 0;
};

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

SpnDataOptions spn_data_options(const std::string& out) {
  SpnDataOptions o;
  o.world_dir = setup().world.string();
  o.model_dir = setup().model.string();
  o.out = (setup().root / out).string();
  o.i2i_rank = 2;
  o.i2i_rank_max = 6;
  o.n_threads = 2;
  return o;
}

// SPN4CIR's scaled positives: the image universe of the train triplets, one caption each, targets
// from the rank window, the templates, the 77-token fallback, SPN4CIR's CIRR and FashionIQ
// layouts, and the same file again for the same seed.
TEST(HeadTrainers, SpnDataBuildsSpnShapedTripletsFromCaptionsAndPairs) {
  const synth::World world = synth::load_world(setup().world.string());
  const auto& split = world.split("train");
  FakeCaptioner captioner;
  captioner.fail_id = split.queries.at(0).reference_id;
  captioner.long_id = split.queries.at(1).reference_id;
  const auto o = spn_data_options("extend_clip.json");
  const SpnDataReport r = build_spn_data(o, captioner);
  EXPECT_EQ(r.n_failed, 1);
  EXPECT_EQ(r.n_captioned + r.n_failed, r.n_images);
  EXPECT_EQ(captioner.calls, r.n_images);
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_NE(r.failures[0].find("refused"), std::string::npos);
  const auto triplets = read_json(o.out);
  ASSERT_EQ(static_cast<int64_t>(triplets.size()), r.n_triplets);
  EXPECT_GT(r.n_triplets, r.n_images / 2);
  std::set<std::string> scenes;
  for (const auto& sc : split.scenes) scenes.insert(sc.id);
  bool saw_fallback = false;
  for (const auto& t : triplets) {
    const std::string ref = t["reference"], tgt = t["target_hard"];
    EXPECT_TRUE(scenes.count(ref) && scenes.count(tgt));
    EXPECT_NE(ref, tgt);
    EXPECT_NE(ref, captioner.fail_id);
    EXPECT_EQ(t["pairid"], 0);
    EXPECT_EQ(t["img_set"]["members"][0], "xxx");
    ASSERT_EQ(t["caption"].size(), 2u);
    const std::string c1 = t["caption1"], c2 = t["caption2"];
    if (ref == captioner.long_id || tgt == captioner.long_id) {
      EXPECT_EQ(t["caption"][0], c2);  // over 77 tokens: the bare target caption
      saw_fallback = true;
    } else {
      EXPECT_EQ(t["caption"][0], c2 + " instead of " + c1);
      EXPECT_EQ(t["caption"][1], "Unlike " + c1 + ", I want " + c2);
    }
  }
  EXPECT_TRUE(saw_fallback);
  EXPECT_GE(r.n_fallback_texts, 2);
  const auto captions = read_json(r.captions_file);
  EXPECT_EQ(static_cast<int64_t>(captions.size()), r.n_captioned);
  EXPECT_TRUE(captions[0].contains("image_id") && captions[0].contains("caption") && captions[0].contains("image_path"));
  const auto optimized = read_json(o.out + ".optimized_images.json");
  ASSERT_EQ(optimized.size(), 3u);
  EXPECT_EQ(static_cast<int64_t>(optimized[0].size()), r.n_images);
  // Deterministic for a seed; FashionIQ's layout on request; --refer keeps real references only.
  auto again = spn_data_options("extend_clip_again.json");
  build_spn_data(again, captioner);
  EXPECT_EQ(read_json(again.out), triplets);
  auto fiq = spn_data_options("extend_fiq.json");
  fiq.layout = "fiq";
  fiq.templates = {2};
  fiq.refer = true;
  fiq.max_triplets = 5;
  const SpnDataReport rf = build_spn_data(fiq, captioner);
  EXPECT_EQ(rf.n_triplets, 5);
  std::set<std::string> references;
  for (const auto& q : split.queries) references.insert(q.reference_id);
  for (const auto& t : read_json(fiq.out)) {
    EXPECT_TRUE(t.contains("candidate") && t.contains("target") && t.contains("captions"));
    EXPECT_TRUE(references.count(t["candidate"].get<std::string>()));
    ASSERT_EQ(t["captions"].size(), 1u);
    EXPECT_EQ(t["captions"][0], t["caption2"]);
  }
  auto bad = spn_data_options("bad.json");
  bad.templates = {3};
  EXPECT_THROW(build_spn_data(bad, captioner), Error);
}

// Two train images with identical pixels are one image of the universe (SPN4CIR's
// deduplicate_images.py): the second maps to the first's id in optimized_images.json.
TEST(HeadTrainers, SpnDataFoldsPixelIdenticalImages) {
  const fs::path world = setup().root / "world_dup";
  fs::copy(setup().world, world, fs::copy_options::recursive);
  const synth::World w = synth::load_world(world.string());
  const auto& q = w.split("train").queries.at(0);
  const std::string first = q.reference_id, second = q.target_ids.at(0);
  const auto file_of = [&](const std::string& id) {
    for (const auto& sc : w.split("train").scenes)
      if (sc.id == id) return (world / sc.file).string();
    return std::string();
  };
  fs::copy_file(file_of(first), file_of(second), fs::copy_options::overwrite_existing);
  FakeCaptioner captioner;
  auto o = spn_data_options("extend_dup.json");
  o.world_dir = world.string();
  const SpnDataReport r = build_spn_data(o, captioner);
  EXPECT_EQ(r.n_duplicates, 1);
  const auto optimized = read_json(o.out + ".optimized_images.json");
  EXPECT_EQ(optimized[2][first], optimized[2][second]);
  EXPECT_EQ(static_cast<int64_t>(optimized[0].size()), r.n_images);
}

// `train spn --extra`: the generated triplets are sampled beside the real ones (different
// training from the same seed), reported, and a name outside the world is refused by name.
TEST(HeadTrainers, SpnTrainsWithExtraTriplets) {
  FakeCaptioner captioner;
  const auto data = spn_data_options("extend_for_training.json");
  build_spn_data(data, captioner);
  auto o = options("spn_extra", 6);
  o.learning_rate = 1e-4;
  o.extra = data.out;
  std::vector<double> with;
  const HeadTrainReport r = train_spn(o, [&](const HeadTrainProgress& p) {
    if (p.stage == "train") with.push_back(p.loss);
  });
  EXPECT_GT(r.n_extra_triplets, 0);
  auto plain = options("spn_plain", 6);
  plain.learning_rate = 1e-4;
  EXPECT_NE(run(train_spn, plain), with);
  const std::string broken = (setup().root / "extra_unknown.json").string();
  std::ofstream(broken) << R"([{"reference": "no-such-scene", "target_hard": "x", "caption": ["a"]}])";
  auto bad = options("spn_bad", 2);
  bad.extra = broken;
  try {
    train_spn(bad);
    ADD_FAILURE() << "an extra triplet naming an unknown scene was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("no-such-scene"), std::string::npos) << e.what();
  }
}

TEST(HeadTrainers, MissingOptionsAreInvalidArgument) {
  HeadTrainOptions o;
  try {
    train_combiner(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  }
}

// Removes the temporary world and models once every test has run.
class CleanupEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    if (g_setup_built) fs::remove_all(setup().root);
  }
};
const auto* const g_cleanup = ::testing::AddGlobalTestEnvironment(new CleanupEnvironment);

}  // namespace
}  // namespace cir::train
