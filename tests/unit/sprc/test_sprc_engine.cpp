// SPRC through the engine on the fixture model, for both checkpoint layouts: `index build`
// detects the family and stores [n(vision_proj(q_k)) | n(q_k)] x 32 per image; `--method sprc`
// composes reference image + caption inside the family (blip_caption, WordPiece, two Q-Former
// passes) and Engine::query_batch's max-over-32 scores equal the fixture's scores.npy within
// 2e-5 (1e-5 model tolerance plus the stored rows' re-normalisation).
// The palette and RGBA fixture images are preprocessed by Pillow in their own mode, which cir's
// RGB pipeline does not reproduce (see test_sprc_inputs.cpp); queries and targets involving them
// are left out of the comparison.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "cir/engine.h"
#include "sprc_test_util.h"

namespace cir {
namespace {

namespace fs = std::filesystem;
using testing::sprc_fixture;
using testing::sprc_inputs;
using testing::TempDir;

constexpr int64_t kSlots = 32;
constexpr int64_t kFeature = 24;
constexpr int64_t kState = 48;
constexpr double kScoreTolerance = 2e-5;

std::string fixture_images() { return testing::fixture_path("fixtures/clip/vit/images"); }

bool mode_dependent(const std::string& name) {
  return name.find("palette") != std::string::npos || name.find("rgba") != std::string::npos;
}

class SprcEngine : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!fs::exists(testing::sprc_checkpoint(GetParam())) || !fs::exists(fixture_images()))
      GTEST_SKIP() << "shared fixture '" << testing::sprc_checkpoint(GetParam()) << "' or '" << fixture_images()
                   << "' is absent; place ../shared beside the checkout";
    model_ = testing::make_sprc_model_dir(model_dir_, GetParam());
    engine::IngestOptions o;
    o.images = fixture_images();
    o.model = model_;
    o.vector_dtype = index::VectorDType::kFp32;
    o.progress = false;
    o.encoder.n_threads = 2;
    const auto report = engine::build_index(index_dir_.str("idx"), o);
    EXPECT_EQ(report.n_added, 10);
    EXPECT_EQ(report.n_failed, 0);
    engine::EngineOptions eo;
    eo.encoder.n_threads = 2;
    engine_ = engine::Engine::open(index_dir_.str("idx"), eo);
  }
  std::string reference_file(const std::string& name) const {
    return GetParam() == "sprc" ? name : "spn4cir_blip24cir/" + name;
  }

  TempDir model_dir_, index_dir_;
  std::string model_;
  std::unique_ptr<engine::Engine> engine_;
};

TEST_P(SprcEngine, IndexHoldsThirtyTwoTargetRowsPerImage) {
  const auto& m = engine_->store().manifest();
  EXPECT_EQ(m.model.family, "sprc");
  EXPECT_EQ(m.model.format, GetParam() == "sprc" ? "sprc" : "spn4cir_blip24cir");
  EXPECT_EQ(m.vectors_per_item, kSlots);
  EXPECT_EQ(m.embed_dim, kFeature + kState);
  EXPECT_EQ(engine::model_family(model_), "sprc");
}

TEST_P(SprcEngine, QueryBatchScoresEqualTheFixture) {
  const auto inputs = sprc_inputs();
  const auto images = inputs["images"].get<std::vector<std::string>>();
  const auto targets = inputs["target_indices"].get<std::vector<int64_t>>();
  const FloatMatrix expected = testing::sprc_npy_rows(reference_file("scores.npy"));
  int compared = 0;
  for (size_t q = 0; q < inputs["reference_indices"].size(); ++q) {
    const std::string reference = images[static_cast<size_t>(inputs["reference_indices"][q].get<int64_t>())];
    if (mode_dependent(reference)) continue;
    engine::QueryRequest r;
    r.method = "sprc";
    r.reference.gallery_id = reference;
    r.texts = {inputs["raw_captions"][q].get<std::string>()};  // the family applies blip_caption
    r.k = 10;
    r.include_reference = true;
    r.exact = true;
    const auto results = engine_->query_batch({r});
    for (size_t t = 0; t < targets.size(); ++t) {
      const std::string& name = images[static_cast<size_t>(targets[t])];
      if (mode_dependent(name)) continue;
      const auto hit = std::find_if(results.at(0).hits.begin(), results.at(0).hits.end(),
                                    [&](const auto& h) { return h.external_id == name; });
      ASSERT_NE(hit, results.at(0).hits.end()) << name;
      EXPECT_NEAR(hit->score, expected.row(static_cast<int64_t>(q))[t], kScoreTolerance) << "query " << q << ", " << name;
      ++compared;
    }
  }
  EXPECT_EQ(compared, 4 * 6);
}

TEST_P(SprcEngine, RefusesMethodsTheFamilyCannotRun) {
  engine::QueryRequest r;
  r.method = "ziracle";
  r.reference.gallery_id = "a_97x61.png";
  r.texts = {"a red dress"};
  EXPECT_THROW(engine_->query_batch({r}), Error);
  r.method = "sprc";
  r.texts.clear();
  EXPECT_THROW(engine_->query_batch({r}), Error);
}

INSTANTIATE_TEST_SUITE_P(Layouts, SprcEngine, ::testing::Values("sprc", "blip24cir"));

}  // namespace
}  // namespace cir
