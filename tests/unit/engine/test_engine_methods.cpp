// Methods that need more of the engine than one query row, through Engine::query_batch on an
// index of a small shapes world built with the shipped model: SEIZE's rank form (scores depend
// on every item's rank) and LDRE's adaptive weights (computed from gallery scans).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cir/engine.h"
#include "cir/synth.h"
#include "test_support.h"

namespace cir::engine {
namespace {

namespace fs = std::filesystem;
using cir::testing::TempDir;

class CaptionMethodsThroughEngine : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string model = cir::testing::source_path("models/shapes-clip");
    if (!fs::exists(model + "/model.safetensors")) return;
    tmp_ = new TempDir;
    synth::SynthOptions so;
    so.seed = 2;
    so.n_scenes = 200;
    const synth::World world = synth::generate_world(so);
    synth::write_world(world, tmp_->str("world"));
    IngestOptions ingest;
    ingest.images = tmp_->str("world/images/test");
    ingest.model = model;
    ingest.progress = false;
    build_index(tmp_->str("index"), ingest);
    // SEIZE's file layout: one dict per query; captions of the reference, "edited" captions.
    const auto& scenes = world.split("test").scenes;
    nlohmann::json entries = nlohmann::json::array();
    for (int i = 0; i < 3; ++i) {
      nlohmann::json e;
      e["reference"] = fs::path(scenes[i].file).filename().string();
      e["relative_caption"] = "make it red";
      e["multi_caption_opt"] = {scenes[i].captions[0], scenes[i].captions[1], scenes[i].captions[2]};
      e["multi_gpt-3.5_opt"] = {scenes[i + 3].captions[0], scenes[i + 4].captions[1], scenes[i + 5].captions[2]};
      entries.push_back(e);
      references_.push_back(e["reference"]);
    }
    std::ofstream(tmp_->str("captions.json")) << entries.dump();
    engine_ = Engine::open(tmp_->str("index")).release();
  }
  static void TearDownTestSuite() {
    delete engine_;
    delete tmp_;
  }
  void SetUp() override {
    if (!engine_) GTEST_SKIP() << "models/shapes-clip is absent";
  }

  static std::vector<QueryResult> run(const std::map<std::string, std::string>& options, const std::string& method) {
    std::vector<QueryRequest> batch;
    for (const auto& ref : references_) {
      QueryRequest r;
      r.reference.gallery_id = ref;
      r.texts = {"make it red"};
      r.method = method;
      r.method_options = options;
      r.method_options["captions"] = tmp_->str("captions.json");
      r.k = 15;
      batch.push_back(r);
    }
    return engine_->query_batch(batch);
  }

  static std::vector<int64_t> ids(const QueryResult& r) {
    std::vector<int64_t> out;
    for (const auto& h : r.hits) out.push_back(h.id);
    return out;
  }

  static TempDir* tmp_;
  static Engine* engine_;
  static std::vector<std::string> references_;
};
TempDir* CaptionMethodsThroughEngine::tmp_ = nullptr;
Engine* CaptionMethodsThroughEngine::engine_ = nullptr;
std::vector<std::string> CaptionMethodsThroughEngine::references_;

// With lambda = 0 the rank form is s_after alone, as is the similarity form with both alphas 0.
TEST_F(CaptionMethodsThroughEngine, SeizeRankFormWithZeroLambdaIsSAfter) {
  const auto rank = run({{"n_captions", "3"}, {"form", "rank"}, {"rank_lambda", "0"}}, "seize");
  const auto sim = run({{"n_captions", "3"}, {"alpha_pos", "0"}, {"alpha_neg", "0"}}, "seize");
  ASSERT_EQ(rank.size(), 3u);
  for (size_t q = 0; q < rank.size(); ++q) {
    ASSERT_EQ(rank[q].hits.size(), 15u);
    EXPECT_EQ(ids(rank[q]), ids(sim[q])) << "query " << q;
    for (size_t i = 0; i < rank[q].hits.size(); ++i) EXPECT_NEAR(rank[q].hits[i].score, sim[q].hits[i].score, 1e-6);
  }
}

// A large lambda makes the rank term decide: the ranking changes, scores stay sorted, and the
// reference is still excluded.
TEST_F(CaptionMethodsThroughEngine, SeizeRankFormsRun) {
  for (const char* form : {"rank", "rank_steps"}) {
    const auto res = run({{"n_captions", "3"}, {"form", form}, {"rank_lambda", "0.01"}}, "seize");
    for (size_t q = 0; q < res.size(); ++q) {
      ASSERT_EQ(res[q].hits.size(), 15u) << form;
      for (size_t i = 1; i < res[q].hits.size(); ++i) EXPECT_GE(res[q].hits[i - 1].score, res[q].hits[i].score) << form;
      for (const auto& h : res[q].hits) EXPECT_NE(h.external_id, references_[q]) << form;
    }
  }
}

// One caption slot: the adaptive weights are [1], so adaptive LDRE ranks as the plain ensemble
// (the adaptive query is not re-normalised, so scores differ by a positive factor only).
TEST_F(CaptionMethodsThroughEngine, LdreAdaptiveWithOneSlotRanksAsPlain) {
  const auto adaptive = run({{"n_captions", "1"}, {"adaptive", "1"}}, "ldre");
  const auto plain = run({{"n_captions", "1"}}, "ldre");
  for (size_t q = 0; q < adaptive.size(); ++q) {
    ASSERT_EQ(adaptive[q].hits.size(), 15u);
    EXPECT_EQ(ids(adaptive[q]), ids(plain[q])) << "query " << q;
  }
  const auto three = run({{"n_captions", "3"}, {"adaptive", "1"}}, "ldre");
  for (const auto& r : three) EXPECT_EQ(r.hits.size(), 15u);
}

}  // namespace
}  // namespace cir::engine
