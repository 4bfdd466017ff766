// A CLIP4Cir fine-tuned checkpoint ({'epoch', 'CLIP'}) with CLIP4Cir's Combiner, end to end
// through the engine: `index build --model tuned_clip_best.pt` and `--method combiner`. The
// reference is the same weights as a Hugging Face directory (heads per OpenAI's build_model,
// targetpad preprocessing as CLIP4Cir evaluates): the same gallery vectors and the same scores.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cir/engine.h"
#include "compose/checkpoint.h"
#include "model/model_internal.h"
#include "unit/model/fixture_state_dict.h"
#include "test_support.h"

namespace cir::engine {
namespace {

namespace fs = std::filesystem;
using cir::testing::TempDir;

constexpr const char* kHf = "fixtures/clip/vit/hf";

std::string hf_reference(const TempDir& tmp) {
  const std::string src = cir::testing::fixture_path(kHf), dir = tmp.str("hf-ref");
  fs::create_directories(dir);
  nlohmann::json config = nlohmann::json::parse(std::ifstream(src + "/config.json"));
  config["text_config"]["num_attention_heads"] = 1;  // build_model: width 64 / 64
  std::ofstream(dir + "/config.json") << config.dump();
  nlohmann::json pre = nlohmann::json::parse(std::ifstream(src + "/preprocessor_config.json"));
  pre["cir_resize_mode"] = "targetpad";
  std::ofstream(dir + "/preprocessor_config.json") << pre.dump();
  for (const char* f : {"model.safetensors", "vocab.json", "merges.txt", "tokenizer_config.json"})
    fs::create_symlink(src + "/" + f, dir + "/" + f);
  return dir;
}

// CLIP4Cir's Combiner(feature_dim 32, projection 64, hidden 128) with random weights, saved as
// its utils.save_model writes it: {'epoch', 'Combiner': state_dict}.
std::string write_combiner(const TempDir& tmp) {
  torch::manual_seed(7);
  const int64_t d = 32, p = 64, h = 128;
  std::map<std::string, at::Tensor> sd;
  auto linear = [&](const std::string& name, int64_t out, int64_t in) {
    sd[name + ".weight"] = torch::randn({out, in}) / std::sqrt(static_cast<double>(in));
    sd[name + ".bias"] = torch::randn({out}) * 0.1;
  };
  linear("text_projection_layer", p, d);
  linear("image_projection_layer", p, d);
  linear("combiner_layer", h, 2 * p);
  linear("output_layer", d, h);
  linear("dynamic_scalar.0", h, 2 * p);
  linear("dynamic_scalar.3", 1, h);
  const std::string path = tmp.str("combiner.pt");
  compose::detail::write_state_dict(path, "Combiner", sd, 5);
  return path;
}

std::string g_combiner;

std::vector<QueryHit> search(const std::string& index, const std::string& reference, const std::string& method) {
  const auto engine = Engine::open(index);
  QueryRequest q;
  q.reference.gallery_id = reference;
  q.texts = {"make it red"};
  q.method = method;
  if (method == "combiner") q.method_options["combiner"] = g_combiner;
  q.k = 5;
  return engine->query_batch({q}).at(0).hits;
}

TEST(Clip4CirEngine, TunedClipAndCombinerRankAsTheReference) {
  CIR_REQUIRE_FIXTURE(kHf);
  TempDir tmp;
  const std::string model_dir = tmp.str("clip4cir");
  fs::create_directories(model_dir);
  for (const char* f : {"vocab.json", "merges.txt"})
    fs::create_symlink(cir::testing::fixture_path(kHf) + "/" + f, model_dir + "/" + f);
  const std::string checkpoint = model_dir + "/tuned_clip_best.pt";
  compose::detail::write_state_dict(checkpoint, "CLIP", cir::testing::fixture_openai_state("vit"), 3);
  EXPECT_EQ(model_family(checkpoint), "clip");
  g_combiner = write_combiner(tmp);

  IngestOptions ingest;
  ingest.images = cir::testing::fixture_path("fixtures/clip/vit/images");
  ingest.progress = false;
  ingest.model = checkpoint;
  build_index(tmp.str("index"), ingest);
  ingest.model = hf_reference(tmp);
  build_index(tmp.str("reference"), ingest);
  EXPECT_EQ(Engine::open(tmp.str("index"))->encoder().spec().format, "clip4cir");

  for (const std::string method : {"combiner", "sum", "image"}) {
    const auto got = search(tmp.str("index"), "b_300x200.jpg", method);
    const auto want = search(tmp.str("reference"), "b_300x200.jpg", method);
    ASSERT_EQ(got.size(), want.size()) << method;
    ASSERT_FALSE(got.empty()) << method;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].external_id, want[i].external_id) << method << " rank " << i;
      EXPECT_NEAR(got[i].score, want[i].score, 1e-5) << method << " rank " << i;
    }
  }
}

// SPN4CIR's clip4cir best.pt ({'epoch', 'state_dict': {'clip.*'}}: stage 2 trains the text tower)
// queried through `spn` on an index of its stage-1 CLIP4Cir checkpoint: the image towers agree.
TEST(Clip4CirEngine, Spn4CirClip4CirBestPtServesTheSpnMethod) {
  CIR_REQUIRE_FIXTURE(kHf);
  TempDir tmp;
  const std::string dir = tmp.str("ckpt");
  fs::create_directories(dir);
  for (const char* f : {"vocab.json", "merges.txt"})
    fs::create_symlink(cir::testing::fixture_path(kHf) + "/" + f, dir + "/" + f);
  auto tensors = cir::testing::fixture_openai_state("vit");
  compose::detail::write_state_dict(dir + "/tuned_clip_best.pt", "CLIP", tensors, 3);
  std::map<std::string, at::Tensor> stage2;
  for (const auto& [name, t] : tensors)
    stage2["clip." + name] = name.rfind("visual.", 0) == 0 ? t : t + 0.01 * torch::randn_like(t);  // a trained text tower
  compose::detail::write_state_dict(dir + "/best.pt", "state_dict", stage2, 2);
  IngestOptions ingest;
  ingest.images = cir::testing::fixture_path("fixtures/clip/vit/images");
  ingest.progress = false;
  ingest.model = dir + "/tuned_clip_best.pt";
  build_index(tmp.str("index"), ingest);
  const auto engine = Engine::open(tmp.str("index"));
  QueryRequest q;
  q.reference.gallery_id = "b_300x200.jpg";
  q.texts = {"make it red"};
  q.method = "spn";
  q.method_options["model"] = dir + "/best.pt";
  q.k = 5;
  const auto hits = engine->query_batch({q}).at(0).hits;
  EXPECT_EQ(hits.size(), 5u);
}

// A BGE-VL-CLIP directory (MegaPairs' MMRet_CLIP: Hugging Face CLIP names, trust_remote_code
// config) loads as a CLIP; its composed query encode_multimodal = n(I(ref) + T(text)) on the raw
// projected features is `raw-sum`; candidates n(I(x)); score = dot product.
TEST(Clip4CirEngine, BgeVlDirectoryWithRawSumIsEncodeMultimodal) {
  CIR_REQUIRE_FIXTURE(kHf);
  TempDir tmp;
  const std::string src = cir::testing::fixture_path(kHf), dir = tmp.str("bge-vl");
  fs::create_directories(dir);
  nlohmann::json config = nlohmann::json::parse(std::ifstream(src + "/config.json"));
  config["architectures"] = {"MMRet_CLIP"};
  config["auto_map"] = {{"AutoModel", "modeling_MMRet_CLIP.MMRet_CLIP"}};
  std::ofstream(dir + "/config.json") << config.dump();
  for (const char* f : {"model.safetensors", "preprocessor_config.json", "vocab.json", "merges.txt", "tokenizer_config.json"})
    fs::create_symlink(src + "/" + f, dir + "/" + f);
  std::ofstream(dir + "/modeling_MMRet_CLIP.py") << "# remote code is never run by cir\n";
  IngestOptions ingest;
  ingest.images = cir::testing::fixture_path("fixtures/clip/vit/images");
  ingest.progress = false;
  ingest.model = dir;
  build_index(tmp.str("index"), ingest);
  const auto engine = Engine::open(tmp.str("index"));
  QueryRequest q;
  q.reference.gallery_id = "b_300x200.jpg";
  q.texts = {"a red one"};
  q.method = "raw-sum";
  q.k = 3;
  const auto hits = engine->query_batch({q}).at(0).hits;
  ASSERT_EQ(hits.size(), 3u);
  // By hand: encode_multimodal and encode_image of the hits' files.
  const std::string images = cir::testing::fixture_path("fixtures/clip/vit/images") + "/";
  const FloatMatrix ref = engine->encoder().encode_image_files({images + "b_300x200.jpg"});
  const FloatMatrix text = engine->encoder().encode_texts({"a red one"});
  std::vector<float> query(static_cast<size_t>(ref.cols));
  for (int64_t c = 0; c < ref.cols; ++c) query[static_cast<size_t>(c)] = ref.row(0)[c] + text.row(0)[c];
  normalize_in_place(query);
  for (const auto& h : hits) {
    std::vector<float> g(engine->encoder().encode_image_files({images + h.external_id}).data);
    normalize_in_place(g);
    double dot = 0;
    for (size_t c = 0; c < g.size(); ++c) dot += double(query[c]) * g[c];
    EXPECT_NEAR(h.score, dot, 2e-3) << h.external_id;  // the index stores fp16 vectors
  }
}

}  // namespace
}  // namespace cir::engine
