// BLIP-2 through the engine on the fixture model, for both checkpoint layouts (HF directory and
// LAVIS .pth): index build stores [n(vision_proj(q_i)) | n(q_i)] x 8 per image, and the scores
// that come back from Engine::query_batch equal a direct computation of each formula
// (src/compose/ziracle.h, itself checked against literal loops in test_ziracle.cpp):
//  - on the fixture's own embeddings (../shared/fixtures/blip2/*.npy): ZIRACLE at tau 0.1 (at the
//    paper's 0.001 the logits are 1000 x the cosines, so the 1e-4 model tolerance would move the
//    softmax), the image-only baseline and plain BLIP-2 text / image / sum, within 2e-5;
//  - on the index's own stored vectors: ZIRACLE at the default tau 0.001 and the mean-over-text-
//    tokens variant, within 1e-6 (only float accumulation differs).
// Then Focus-CoIR end to end through `cir eval`'s harness on a small fake BDD100K root: each
// query re-ranks exactly its labelled candidates, and the metrics equal those of rankings
// computed here from the direct formula.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "blip2_test_util.h"
#include "cir/engine.h"
#include "cir/eval.h"
#include "cir/evaluate.h"
#include "compose/ziracle.h"

namespace cir {
namespace {

namespace fs = std::filesystem;
using testing::blip2_fixture;
using testing::blip2_inputs;
using testing::blip2_npy_rows;
using testing::TempDir;

constexpr int64_t kSlots = 8;     // fixture num_query_tokens
constexpr int64_t kState = 64;    // fixture Q-Former width
constexpr int64_t kFeature = 24;  // fixture image_text_hidden_size

std::string fixture_images() { return testing::fixture_path("fixtures/clip/vit/images"); }

std::vector<std::string> fixture_image_names() {
  return blip2_inputs()["images"].get<std::vector<std::string>>();
}
std::vector<std::string> fixture_texts() { return blip2_inputs()["texts"].get<std::vector<std::string>>(); }

// Builds an index of the 10 fixture images with the given checkpoint.
std::unique_ptr<engine::Engine> build_and_open(const std::string& model, const TempDir& tmp, index::VectorDType dtype,
                                               const std::string& index_key = "Flat") {
  engine::IngestOptions o;
  o.images = fixture_images();
  o.model = model;
  o.vector_dtype = dtype;
  o.index_key = index_key;
  o.progress = false;
  o.encoder.n_threads = 2;
  const auto report = engine::build_index(tmp.str("idx"), o);
  EXPECT_EQ(report.n_added, 10);
  EXPECT_EQ(report.n_failed, 0);
  engine::EngineOptions eo;
  eo.encoder.n_threads = 2;
  return engine::Engine::open(tmp.str("idx"), eo);
}

// Scores of every gallery image for one query, by fixture image index.
std::vector<float> engine_scores(const engine::Engine& engine, engine::QueryRequest r) {
  r.k = 10;
  r.include_reference = true;
  r.exact = true;
  const auto results = engine.query_batch({r});
  const auto names = fixture_image_names();
  std::vector<float> scores(names.size(), std::nanf(""));
  for (const auto& hit : results.at(0).hits) {
    const auto it = std::find(names.begin(), names.end(), hit.external_id);
    EXPECT_NE(it, names.end()) << hit.external_id;
    if (it != names.end()) scores[static_cast<size_t>(it - names.begin())] = hit.score;
  }
  return scores;
}

engine::QueryRequest request(const std::string& method, int ref, const std::string& text) {
  engine::QueryRequest r;
  r.method = method;
  if (ref >= 0) r.reference.gallery_id = fixture_image_names()[static_cast<size_t>(ref)];
  if (!text.empty()) r.texts = {text};
  return r;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, double tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << what << ", candidate " << i;
}

class Blip2Engine : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!fs::exists(blip2_fixture(GetParam())) || !fs::exists(fixture_images()))
      GTEST_SKIP() << "shared BLIP-2 fixtures are absent; place ../shared beside the checkout";
  }
  std::string model() const { return blip2_fixture(GetParam()); }
};

TEST_P(Blip2Engine, IndexHoldsFeatureAndQueryEmbeddingRows) {
  TempDir tmp;
  const auto engine = build_and_open(model(), tmp, index::VectorDType::kFp32);
  const auto& m = engine->store().manifest();
  EXPECT_EQ(m.model.family, "blip2");
  EXPECT_EQ(m.vectors_per_item, kSlots);
  EXPECT_EQ(m.embed_dim, kFeature + kState);
  ASSERT_EQ(m.row_parts.size(), 2u);
  EXPECT_EQ(m.row_parts[0].name, "features");
  EXPECT_EQ(m.row_parts[1].dim, kState);
  // Stored rows against the fixture: projected features and normalised query embeddings.
  const FloatMatrix features = blip2_npy_rows("image_features.npy");
  const FloatMatrix embeds = blip2_npy_rows("image_query_embeds.npy");
  const auto names = fixture_image_names();
  for (size_t i = 0; i < names.size(); ++i) {
    const auto rec = engine->store().find_by_external_id(names[i]);
    ASSERT_TRUE(rec) << names[i];
    const FloatMatrix rows = engine->store().get_vectors({rec->id});
    ASSERT_EQ(rows.rows, kSlots);
    for (int64_t s = 0; s < kSlots; ++s) {
      const int64_t ref_row = static_cast<int64_t>(i) * kSlots + s;
      const double norm = testing::row_norm(embeds.row(ref_row), kState);
      for (int64_t k = 0; k < kFeature; ++k) EXPECT_NEAR(rows.row(s)[k], features.row(ref_row)[k], 2e-4);
      for (int64_t k = 0; k < kState; ++k) EXPECT_NEAR(rows.row(s)[kFeature + k], embeds.row(ref_row)[k] / norm, 2e-4);
    }
  }
}

TEST_P(Blip2Engine, ScoresEqualTheDirectFormulaOnFixtureEmbeddings) {
  TempDir tmp;
  const auto engine = build_and_open(model(), tmp, index::VectorDType::kFp32);
  const FloatMatrix embeds = blip2_npy_rows("image_query_embeds.npy");
  const FloatMatrix cls = blip2_npy_rows("text_cls_embeds.npy");
  const FloatMatrix features = blip2_npy_rows("image_features.npy");
  const FloatMatrix text_features = blip2_npy_rows("text_features.npy");
  const auto texts = fixture_texts();
  for (int q : {0, 1, 5}) {
    const float* query = embeds.row(q * kSlots);
    const std::string label = "query " + std::to_string(q);
    auto zr = request("ziracle", q, texts[static_cast<size_t>(q)]);
    zr.method_options["temperature"] = "0.1";
    expect_close(engine_scores(*engine, zr),
                 compose::ziracle::ziracle_scores(query, cls.row(q), 1, embeds.data.data(), 10, kSlots, kState, 0.1f),
                 2e-5, "ziracle tau 0.1, " + label);
    expect_close(engine_scores(*engine, request("ziracle-image", q, "")),
                 compose::ziracle::image_only_scores(query, embeds.data.data(), 10, kSlots, kState), 2e-5,
                 "ziracle-image, " + label);
    expect_close(engine_scores(*engine, request("text", -1, texts[static_cast<size_t>(q)])),
                 compose::ziracle::blip2_text_scores(text_features.row(q), features.data.data(), 10, kSlots, kFeature),
                 2e-5, "text, " + label);
    expect_close(engine_scores(*engine, request("image", q, "")),
                 compose::ziracle::blip2_image_scores(features.row(q * kSlots), features.data.data(), 10, kSlots, kFeature),
                 2e-5, "image, " + label);
    expect_close(engine_scores(*engine, request("sum", q, texts[static_cast<size_t>(q)])),
                 compose::ziracle::blip2_sum_scores(features.row(q * kSlots), text_features.row(q), features.data.data(),
                                                    10, kSlots, kFeature),
                 2e-5, "sum, " + label);
  }
}

// The stored candidates' query-embedding columns (10 x kSlots x kState) and one reference's.
std::vector<float> stored_states(const engine::Engine& engine) {
  std::vector<float> out;
  for (const auto& name : fixture_image_names()) {
    const FloatMatrix rows = engine.store().get_vectors({engine.store().find_by_external_id(name)->id});
    for (int64_t s = 0; s < rows.rows; ++s) out.insert(out.end(), rows.row(s) + kFeature, rows.row(s) + kFeature + kState);
  }
  return out;
}

TEST_P(Blip2Engine, DefaultTemperatureAndTokenMeanEqualTheFormulaOnStoredVectors) {
  TempDir tmp;
  const auto engine = build_and_open(model(), tmp, index::VectorDType::kFp32);
  const std::vector<float> states = stored_states(*engine);
  const auto texts = fixture_texts();
  for (int q : {0, 3}) {
    const std::string& text = texts[static_cast<size_t>(q)];
    const float* query = states.data() + q * kSlots * kState;
    const auto cls = engine->encoder().encode_text_states({text}, false).at(0);
    expect_close(engine_scores(*engine, request("ziracle", q, text)),
                 compose::ziracle::ziracle_scores(query, cls.data.data(), 1, states.data(), 10, kSlots, kState), 1e-6,
                 "ziracle tau 0.001");
    const auto tokens = engine->encoder().encode_text_states({text}, true).at(0);
    EXPECT_GE(tokens.rows, 2);  // [CLS] ... [SEP]
    auto mean = request("ziracle", q, text);
    mean.method_options["text_tokens"] = "mean";
    expect_close(engine_scores(*engine, mean),
                 compose::ziracle::ziracle_scores(query, tokens.data.data(), tokens.rows, states.data(), 10, kSlots, kState),
                 1e-6, "ziracle text_tokens=mean");
  }
}

TEST_P(Blip2Engine, Fp16StoreStaysCloseAndBadRequestsRefuseClearly) {
  TempDir tmp;
  const auto engine = build_and_open(model(), tmp, index::VectorDType::kFp16);
  EXPECT_EQ(engine->store().manifest().dtype, index::VectorDType::kFp16);
  const FloatMatrix embeds = blip2_npy_rows("image_query_embeds.npy");
  expect_close(engine_scores(*engine, request("ziracle-image", 2, "")),
               compose::ziracle::image_only_scores(embeds.row(2 * kSlots), embeds.data.data(), 10, kSlots, kState), 2e-4,
               "ziracle-image on fp16 rows");
  // A file reference is encoded on the fly and gives the stored reference's scores.
  auto by_file = request("ziracle-image", -1, "");
  by_file.reference.path = fixture_images() + "/" + fixture_image_names()[2];
  expect_close(engine_scores(*engine, by_file), engine_scores(*engine, request("ziracle-image", 2, "")), 2e-4,
               "file reference");
  // CLIP-only methods and missing inputs are errors naming what is wrong, not crashes.
  EXPECT_THROW(engine->query_batch({request("searle", 0, "a dog")}), Error);
  EXPECT_THROW(engine->query_batch({request("ziracle", 0, "")}), Error);
  auto raw = request("ziracle", -1, "a dog");
  raw.reference.embedding.assign(static_cast<size_t>(kFeature + kState), 0.1f);
  EXPECT_THROW(engine->query_batch({raw}), Error);
  auto bad_tau = request("ziracle", 0, "a dog");
  bad_tau.method_options["temperature"] = "-1";
  EXPECT_THROW(engine->query_batch({bad_tau}), Error);
  // A candidate list restricts the ranking to those items.
  auto restricted = request("ziracle", 0, "a dog");
  restricted.candidate_ids = {fixture_image_names()[4], fixture_image_names()[7], "not-indexed.jpg"};
  restricted.k = 10;
  const auto hits = engine->query_batch({restricted}).at(0).hits;
  ASSERT_EQ(hits.size(), 2u);
  for (const auto& h : hits) EXPECT_TRUE(h.external_id == fixture_image_names()[4] || h.external_id == fixture_image_names()[7]);
}

// An HNSW index: with 10 items (fewer than the first stage's 256 candidates) ZIRACLE scores every
// item exactly, so the default request equals --exact. The first stage itself is exercised on a
// 700-image gallery by tests/integration/test_blip2_cli.sh.
TEST_P(Blip2Engine, HnswIndexOnASmallGalleryGivesTheExactRanking) {
  TempDir tmp;
  const auto engine = build_and_open(model(), tmp, index::VectorDType::kFp16, "HNSW32");
  auto r = request("ziracle", 1, fixture_texts()[1]);
  r.k = 5;
  const auto approx = engine->query_batch({r}).at(0).hits;
  r.exact = true;
  const auto exact = engine->query_batch({r}).at(0).hits;
  ASSERT_EQ(approx.size(), exact.size());
  for (size_t i = 0; i < exact.size(); ++i) {
    EXPECT_EQ(approx[i].external_id, exact[i].external_id);
    EXPECT_FLOAT_EQ(approx[i].score, exact[i].score);
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, Blip2Engine, ::testing::Values("hf", "lavis/blip2_pretrained.pth"),
                         [](const auto& info) { return info.param == "hf" ? std::string("hf") : std::string("lavis"); });

// --- Focus-CoIR through the evaluation harness.

// A fake Focus-CoIR root: the fixture images under bdd100k/images/100k/{train,val}, and three
// queries over them with hand-set labels.
void write_fake_focus_root(const std::string& root) {
  const auto names = fixture_image_names();
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string subset = i % 2 == 0 ? "train" : "val";
    const fs::path dir = fs::path(root) / "bdd100k/images/100k" / subset;
    fs::create_directories(dir);
    fs::copy_file(fixture_images() + "/" + names[i], dir / names[i], fs::copy_options::overwrite_existing);
  }
  std::ofstream out(root + "/queries.jsonl");
  const char* texts[] = {"White truck in front of the car in urban area", "a red dress with long sleeves", "a dog"};
  for (int q = 0; q < 3; ++q) {
    out << "{\"id\": " << 91234893486600 + q << ", \"query_img\": \"" << names[static_cast<size_t>(q)]
        << "\", \"name_text\": \"" << texts[q] << "\", \"desc_text\": \"" << texts[q] << "\", \"labels\": [";
    bool first = true;
    for (size_t c = 0; c < names.size(); ++c) {
      if (static_cast<int>(c) == q || (q == 2 && c == 9)) continue;  // query 2 has 8 candidates
      out << (first ? "" : ", ") << "[\"" << names[c] << "\", " << ((c + static_cast<size_t>(q)) % 3 == 0 ? 1 : 0) << "]";
      first = false;
    }
    out << "]}\n";
  }
}

TEST(Blip2FocusCoir, EvalReRanksEachQuerysCandidatesWithTheDirectFormula) {
  if (!fs::exists(blip2_fixture("hf")) || !fs::exists(fixture_images()))
    GTEST_SKIP() << "shared BLIP-2 fixtures are absent";
  TempDir tmp;
  write_fake_focus_root(tmp.str("focus"));
  evaluate::EvalOptions o;
  o.benchmark = "focus-coir";
  o.root = tmp.str("focus");
  o.model = blip2_fixture("hf");
  o.methods = {"ziracle", "ziracle-image", "image", "text"};
  o.index_dir = tmp.str("index");
  o.report = tmp.str("report");
  o.n_threads = 2;
  o.progress = false;
  const evaluate::EvalRun run = evaluate::run_eval(o);
  EXPECT_EQ(run.n_queries, 3);
  ASSERT_EQ(run.results.size(), 4u);
  for (const auto& r : run.results) {
    for (const char* metric : {"ap", "ap@20", "ap@20_standard", "p@20", "p@50"})
      EXPECT_TRUE(r.report.find(metric)) << r.method << " lacks " << metric;
  }
  EXPECT_TRUE(fs::exists(o.report + ".md"));

  // The same metrics from scores computed here on the index's stored rows.
  const eval::BenchmarkSplit split = eval::read_benchmark("focus-coir", o.root, "test");
  engine::EngineOptions eo;
  eo.encoder.n_threads = 2;
  const auto engine = engine::Engine::open(o.index_dir, eo);
  auto rows_of = [&](const std::string& image) {
    const std::string& path = split.image_paths.at(image);
    return engine->store().get_vectors({engine->store().find_by_external_id(path)->id});
  };
  auto states_of = [&](const FloatMatrix& rows) {
    std::vector<float> s;
    for (int64_t r = 0; r < rows.rows; ++r) s.insert(s.end(), rows.row(r) + kFeature, rows.row(r) + kFeature + kState);
    return s;
  };
  std::vector<std::vector<float>> ziracle_scores, image_only_scores;
  for (const auto& q : split.queries) {
    const std::vector<float> query = states_of(rows_of(q.reference));
    const auto cls = engine->encoder().encode_text_states(q.texts, false).at(0);
    std::vector<float> candidates;
    for (const auto& [name, label] : q.candidates) {
      const auto s = states_of(rows_of(name));
      candidates.insert(candidates.end(), s.begin(), s.end());
    }
    const int64_t n = static_cast<int64_t>(q.candidates.size());
    ziracle_scores.push_back(
        compose::ziracle::ziracle_scores(query.data(), cls.data.data(), 1, candidates.data(), n, kSlots, kState));
    image_only_scores.push_back(compose::ziracle::image_only_scores(query.data(), candidates.data(), n, kSlots, kState));
  }
  const eval::MetricReport want_ziracle = eval::score_focus_coir_scores(split, ziracle_scores);
  const eval::MetricReport want_image = eval::score_focus_coir_scores(split, image_only_scores);
  for (const auto& [name, value] : want_ziracle.metrics) EXPECT_NEAR(run.results[0].report.value(name), value, 1e-9) << name;
  for (const auto& [name, value] : want_image.metrics) EXPECT_NEAR(run.results[1].report.value(name), value, 1e-9) << name;
}

}  // namespace
}  // namespace cir
