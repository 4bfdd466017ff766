// `cir eval` with generated-text methods: an interrupted generating run resumes without redoing
// stored edits, and a replay run makes zero editor calls and reproduces the metrics. The editor
// is the shapes-oracle behind a counting (and, on demand, failing) wrapper registered here.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cir/engine.h"
#include "cir/evaluate.h"
#include "cir/synth.h"
#include "test_support.h"

namespace cir::evaluate {
namespace {

namespace fs = std::filesystem;
using cir::testing::TempDir;

std::atomic<int64_t> g_edits{0};         // edits asked of the wrapper, over all runs
std::atomic<int64_t> g_fail_after{-1};   // throw once this many edits were made (-1 = never)

class CountingEditor : public gen::Editor {
 public:
  explicit CountingEditor(std::shared_ptr<const gen::Editor> inner) : inner_(std::move(inner)) {}
  std::string key() const override { return "counting-oracle"; }
  std::map<std::string, std::string> prompt_sha256() const override { return {{"user", "0123abcd"}}; }
  std::vector<gen::EditResult> edit_batch(const std::vector<gen::EditInput>& inputs) const override {
    if (g_fail_after >= 0 && g_edits + static_cast<int64_t>(inputs.size()) > g_fail_after)
      throw Error(ErrorCode::kIo, "test editor: the server went away");
    g_edits += static_cast<int64_t>(inputs.size());
    return inner_->edit_batch(inputs);
  }

 private:
  std::shared_ptr<const gen::Editor> inner_;
};

class EvalGenerations : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(cir::testing::source_path("models/shapes-clip/model.safetensors")))
      GTEST_SKIP() << "models/shapes-clip is absent";
    engine::register_builtin_generators();
    gen::register_editor("test-counting-oracle", [](std::shared_ptr<gen::Provider> p, const gen::SamplingOptions* s) {
      return std::make_shared<const CountingEditor>(gen::make_editor("shapes-oracle", p, s));
    });
    synth::SynthOptions so;
    so.seed = 3;
    so.n_scenes = 200;
    synth::write_world(synth::generate_world(so), tmp_.str("world"));
  }

  EvalOptions options(bool generate) const {
    EvalOptions o;
    o.benchmark = "shapes";
    o.root = tmp_.str("world");
    o.split = "test";
    o.model = cir::testing::source_path("models/shapes-clip");
    o.methods = {"seize"};
    o.index_dir = tmp_.str("index");
    o.n_threads = 2;
    o.progress = false;
    o.max_queries = 6;
    o.batch_size = 2;
    o.report = tmp_.str("report");
    if (generate) {
      o.generation.captioner = "shapes-oracle";
      o.generation.editor = "test-counting-oracle";
    }
    return o;
  }

  TempDir tmp_;
};

TEST_F(EvalGenerations, InterruptedRunResumesAndReplayMakesNoCalls) {
  g_edits = 0;
  // Two batches of two queries (15 edits each) get through; the third batch's editor call fails.
  g_fail_after = 60;
  EXPECT_THROW(run_eval(options(true)), Error);
  EXPECT_EQ(g_edits, 60);

  g_fail_after = -1;
  const EvalRun resumed = run_eval(options(true));
  EXPECT_EQ(g_edits, 90) << "the resumed run edits only the two queries the first run lost";
  ASSERT_EQ(resumed.results.size(), 1u);
  ASSERT_TRUE(resumed.results[0].generation);
  const GenerationSummary& gs = *resumed.results[0].generation;
  EXPECT_EQ(gs.mode, "generate");
  EXPECT_EQ(gs.edits_stored, 60);
  EXPECT_EQ(gs.edits_generated, 30);
  EXPECT_EQ(gs.prompt_sha256.at("test-counting-oracle:user"), "0123abcd");

  // Replay: nothing configured, every text comes from the index's store.
  const EvalRun replay = run_eval(options(false));
  EXPECT_EQ(g_edits, 90) << "replay called the editor";
  ASSERT_TRUE(replay.results[0].generation);
  EXPECT_EQ(replay.results[0].generation->mode, "replay");
  EXPECT_EQ(replay.results[0].generation->edits_generated, 0);
  EXPECT_EQ(replay.results[0].generation->edits_stored, 90);
  EXPECT_EQ(replay.results[0].report.metrics, resumed.results[0].report.metrics);

  // The texts used are beside the report, in SEIZE's layout, with the summary's sidecar.
  const auto used = nlohmann::json::parse(std::ifstream(tmp_.str("report.seize.generations.json")));
  ASSERT_EQ(used.size(), 6u);
  for (const auto& e : used) {
    EXPECT_EQ(e["multi_gpt-3.5_opt"].size(), 15u);
    EXPECT_EQ(e["multi_caption_opt"].size(), 15u);
  }
  const auto sidecar = nlohmann::json::parse(std::ifstream(tmp_.str("report.seize.generations.gen.json")));
  EXPECT_EQ(sidecar["mode"], "replay");
  const std::string md = read_file_text(tmp_.str("report.md"));
  EXPECT_NE(md.find("generations: mode replay"), std::string::npos) << md;
}

}  // namespace
}  // namespace cir::evaluate
