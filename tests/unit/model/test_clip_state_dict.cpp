// CLIP weights in torch.save checkpoints (methods.md §12.2-12.3): CLIP4Cir's {'epoch', 'CLIP'},
// SPN4CIR clip4cir's {'epoch', 'state_dict': {'clip.*'}} and a bare OpenAI state dict. The files
// are written here (compose's torch.save writer, which torch.load reads) from the reference
// fixture's OpenAI-named tensors. The spec comes from the shapes as OpenAI's build_model derives
// it, heads = width / 64; the fixture's text tower has 4 heads of 16, so the reference is the same
// safetensors through the verified OpenCLIP loader with the text heads set to build_model's 1.
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "compose/checkpoint.h"
#include "fixture_state_dict.h"
#include "model_test_util.h"

namespace cir::testing {
namespace {

namespace fs = std::filesystem;
using model::ClipModel;
using model::DType;

// The OpenCLIP reference directory with build_model's head rule (text width 64 -> 1 head).
std::string reference_dir(const TempDir& tmp, const std::string& family) {
  const std::string src = fixture_path("fixtures/clip/" + family + "/openai");
  const std::string dir = tmp.str(family + "-ref");
  fs::create_directories(dir);
  std::ifstream in(src + "/open_clip_config.json");
  nlohmann::json config = nlohmann::json::parse(in);
  config["model_cfg"]["text_cfg"]["heads"] = 1;
  std::ofstream(dir + "/open_clip_config.json") << config.dump();
  for (const char* f : {"open_clip_model.safetensors", "vocab.json", "merges.txt", "tokenizer_config.json"})
    fs::create_symlink(src + "/" + f, dir + "/" + f);
  return dir;
}

// A checkpoint directory: the .pt plus the tokenizer files a user puts beside it.
std::string checkpoint_dir(const TempDir& tmp, const std::string& name, const std::string& family) {
  const std::string dir = tmp.str(name);
  fs::create_directories(dir);
  const std::string src = fixture_path("fixtures/clip/" + family + "/openai");
  for (const char* f : {"vocab.json", "merges.txt"}) fs::create_symlink(src + "/" + f, dir + "/" + f);
  return dir;
}

struct Features {
  FloatMatrix images, texts;
};

Features encode(const ClipModel& m, const std::string& family) {
  const NpyArray pixels = read_npy(fixture_path("fixtures/clip/" + family + "/pixels.npy"));
  const std::vector<float> values = pixels.as_floats();
  return {m.encode_images(values.data(), pixels.shape[0]), m.encode_texts(fixture_tokens(family))};
}

std::unique_ptr<ClipModel> load(const std::string& path, DType dtype) {
  model::ModelOptions o;
  o.dtype = dtype;
  o.n_threads = 2;
  o.hash_weights = false;
  return ClipModel::load(path, o);
}

class ClipStateDictTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ClipStateDictTest, Clip4CirAndSpn4CirCheckpointsEqualTheVerifiedLoader) {
  const std::string family = GetParam();
  CIR_REQUIRE_FIXTURE("fixtures/clip/" + family + "/openai");
  TempDir tmp;
  const auto state = fixture_openai_state(family);
  const std::string clip4cir = checkpoint_dir(tmp, "clip4cir", family) + "/tuned_clip_best.pt";
  compose::detail::write_state_dict(clip4cir, "CLIP", state, 3);
  std::map<std::string, at::Tensor> spn;
  for (const auto& [name, t] : state) spn["clip." + name] = t;
  spn["tau"] = torch::tensor(0.02);  // a CIRPlus scalar beside the CLIP: not CLIP's, ignored
  const std::string spn_file = checkpoint_dir(tmp, "spn", family) + "/best.pt";
  compose::detail::write_state_dict(spn_file, "state_dict", spn, 2);

  const auto reference = load(reference_dir(tmp, family), DType::kFloat32);
  const Features want = encode(*reference, family);
  for (const auto& [path, layout] : {std::pair{clip4cir, "clip4cir"}, std::pair{spn_file, "spn4cir_clip4cir"}}) {
    const auto m = load(path, DType::kFloat32);
    EXPECT_EQ(m->spec().format, layout);
    EXPECT_EQ(m->spec().preprocess.resize_mode, ResizeMode::kTargetPad);  // targetpad(1.25), as both evaluate
    EXPECT_EQ(m->spec().text_heads, 1);
    EXPECT_EQ(m->spec().image_size, 64);
    const Features got = encode(*m, family);
    const double image_diff = max_relative_diff(got.images, want.images), text_diff = max_relative_diff(got.texts, want.texts);
    std::printf("[golden] %s %s fp32 images max|d|/|ref| %.3g texts %.3g\n", family.c_str(), layout, image_diff, text_diff);
    EXPECT_LE(image_diff, 1e-6);
    EXPECT_LE(text_diff, 1e-6);
    const auto bf16 = load(path, DType::kBFloat16);
    const Features b = encode(*bf16, family);
    const double image_cos = min_cosine(b.images, want.images), text_cos = min_cosine(b.texts, want.texts);
    std::printf("[golden] %s %s bf16 images min cos %.6f texts %.6f\n", family.c_str(), layout, image_cos, text_cos);
    EXPECT_GE(image_cos, 0.995);
    EXPECT_GE(text_cos, 0.995);
  }
}

INSTANTIATE_TEST_SUITE_P(Towers, ClipStateDictTest, ::testing::Values("vit", "rn"));

Error error_loading(const std::string& path) {
  try {
    load(path, DType::kFloat32);
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << path << " loaded";
  return Error(ErrorCode::kInternal, "");
}

TEST(ClipStateDict, OtherCheckpointsAreRefusedSayingWhatTheyAre) {
  CIR_REQUIRE_FIXTURE("fixtures/clip/vit/openai");
  TempDir tmp;
  const auto state = fixture_openai_state("vit");
  std::map<std::string, at::Tensor> tgcir;
  for (const auto& [name, t] : state) tgcir["backbone.clip." + name] = t;
  tgcir["backbone.tokenlearn.0.conv.weight"] = torch::zeros({1, 512, 1});
  compose::detail::write_state_dict(tmp.str("tgcir.pt"), "state_dict", tgcir, 1);
  const Error t = error_loading(tmp.str("tgcir.pt"));
  EXPECT_EQ(t.code(), ErrorCode::kUnsupported);
  EXPECT_NE(std::string(t.what()).find("tgcir"), std::string::npos) << t.what();

  compose::detail::write_state_dict(tmp.str("combiner.pt"), "Combiner", {{"output_layer.weight", torch::zeros({4, 4})}}, 1);
  const Error c = error_loading(tmp.str("combiner.pt"));
  EXPECT_EQ(c.code(), ErrorCode::kModel);
  EXPECT_NE(std::string(c.what()).find("'Combiner'"), std::string::npos) << c.what();
  EXPECT_NE(std::string(c.what()).find("CLIP4Cir"), std::string::npos) << c.what();

  // A truncated download: the zip's central directory is gone.
  compose::detail::write_state_dict(tmp.str("whole.pt"), "CLIP", state, 1);
  const auto size = fs::file_size(tmp.str("whole.pt"));
  fs::copy_file(tmp.str("whole.pt"), tmp.str("cut.pt"));
  fs::resize_file(tmp.str("cut.pt"), size / 2);
  const Error cut = error_loading(tmp.str("cut.pt"));
  EXPECT_TRUE(cut.code() == ErrorCode::kCorrupt || cut.code() == ErrorCode::kModel) << cut.what();
  EXPECT_NE(std::string(cut.what()).find("cut.pt"), std::string::npos) << cut.what();
}

}  // namespace
}  // namespace cir::testing
