// Golden tests: cir's CLIP forward pass against the reference implementation's outputs
// (OpenAI clip/model.py, torch 1.13.1) for every checkpoint format in ../shared/fixtures/clip.
// Tolerances (fixtures README): fp32 max abs difference <= 1e-4 x the reference row's norm;
// bf16 cosine similarity >= 0.995 per row.
#include <cstdio>
#include <filesystem>

#include "model_test_util.h"

namespace cir::testing {
namespace {

using model::ClipModel;
using model::DType;

constexpr double kFp32Tolerance = 1e-4;
constexpr double kBf16MinCosine = 0.995;

struct GoldenCase {
  std::string label;
  std::string path;    // relative to the fixtures
  std::string family;  // vit | rn: where pixels, tokens and reference features are
  DType dtype;
};

std::string case_name(const ::testing::TestParamInfo<GoldenCase>& info) {
  std::string name = info.param.label + "_" + std::string(model::dtype_name(info.param.dtype));
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

class GoldenTest : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(GoldenTest, FeaturesMatchReference) {
  const GoldenCase& c = GetParam();
  CIR_REQUIRE_FIXTURE("fixtures/clip/" + c.path);
  const std::string dir = "fixtures/clip/" + c.family + "/";
  model::ModelOptions options;
  options.dtype = c.dtype;
  options.n_threads = 2;
  const auto m = ClipModel::load(fixture_path("fixtures/clip/" + c.path), options);

  const NpyArray pixels = read_npy(fixture_path(dir + "pixels.npy"));
  ASSERT_EQ(pixels.shape.size(), 4u);
  const std::vector<float> pixel_values = pixels.as_floats();
  const FloatMatrix images = m->encode_images(pixel_values.data(), pixels.shape[0]);
  const FloatMatrix texts = m->encode_texts(fixture_tokens(c.family));
  const FloatMatrix ref_images = npy_matrix(fixture_path(dir + "image_features.npy"));
  const FloatMatrix ref_texts = npy_matrix(fixture_path(dir + "text_features.npy"));
  ASSERT_EQ(images.rows, ref_images.rows);
  ASSERT_EQ(images.cols, ref_images.cols);
  ASSERT_EQ(texts.rows, ref_texts.rows);
  ASSERT_EQ(texts.cols, ref_texts.cols);

  const double image_diff = max_relative_diff(images, ref_images), text_diff = max_relative_diff(texts, ref_texts);
  const double image_cos = min_cosine(images, ref_images), text_cos = min_cosine(texts, ref_texts);
  std::printf("[golden] %-28s %s  images: max|d|/|ref| %.3g min cos %.6f   texts: max|d|/|ref| %.3g min cos %.6f\n",
              c.path.c_str(), std::string(model::dtype_name(c.dtype)).c_str(), image_diff, image_cos, text_diff, text_cos);
  if (c.dtype == DType::kFloat32) {
    EXPECT_LE(image_diff, kFp32Tolerance);
    EXPECT_LE(text_diff, kFp32Tolerance);
  } else {
    EXPECT_GE(image_cos, kBf16MinCosine);
    EXPECT_GE(text_cos, kBf16MinCosine);
  }
}

std::vector<GoldenCase> golden_cases() {
  std::vector<GoldenCase> cases;
  for (DType dtype : {DType::kFloat32, DType::kBFloat16}) {
    cases.push_back({"vit_hf", "vit/hf", "vit", dtype});
    cases.push_back({"vit_open_clip", "vit/openai", "vit", dtype});
    cases.push_back({"vit_torchscript", "vit/openai/model.pt", "vit", dtype});
    cases.push_back({"rn_open_clip", "rn/openai", "rn", dtype});
    cases.push_back({"rn_torchscript", "rn/openai/model.pt", "rn", dtype});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GoldenTest, ::testing::ValuesIn(golden_cases()), case_name);

TEST(ModelSpecTest, ReadsEveryFormat) {
  CIR_REQUIRE_FIXTURE("fixtures/clip/vit/hf");
  const auto hf = model::read_model_spec(fixture_path("fixtures/clip/vit/hf"));
  EXPECT_EQ(hf.format, "hf");
  EXPECT_EQ(hf.image_tower, "vit");
  EXPECT_EQ(hf.activation, "quick_gelu");
  EXPECT_EQ(hf.embed_dim, 32);
  EXPECT_EQ(hf.image_size, 64);
  EXPECT_EQ(hf.patch_size, 16);
  EXPECT_EQ(hf.vision_width, 128);
  EXPECT_EQ(hf.vision_layers, 2);
  EXPECT_EQ(hf.vision_heads, 2);
  EXPECT_EQ(hf.text_width, 64);
  EXPECT_EQ(hf.text_heads, 4);
  EXPECT_EQ(hf.text_layers, 2);
  EXPECT_EQ(hf.context_length, 77);
  EXPECT_EQ(hf.vocab_size, 49408);
  EXPECT_EQ(hf.preprocess.image_size, 64);
  EXPECT_EQ(hf.preprocess.resize_mode, ResizeMode::kShortestCenterCrop);
  EXPECT_FLOAT_EQ(hf.preprocess.std[2], 0.27577711f);

  const auto oc = model::read_model_spec(fixture_path("fixtures/clip/vit/openai"));
  EXPECT_EQ(oc.format, "open_clip");
  EXPECT_EQ(oc.vision_heads, 2);
  EXPECT_EQ(oc.text_heads, 4);

  const auto pt = model::read_model_spec(fixture_path("fixtures/clip/vit/openai/model.pt"));
  EXPECT_EQ(pt.format, "openai_torchscript");
  EXPECT_EQ(pt.image_tower, "vit");
  EXPECT_EQ(pt.image_size, 64);
  EXPECT_EQ(pt.patch_size, 16);
  EXPECT_EQ(pt.vision_width, 128);
  EXPECT_EQ(pt.vision_layers, 2);
  EXPECT_EQ(pt.vision_heads, 2);
  EXPECT_EQ(pt.text_width, 64);
  EXPECT_EQ(pt.text_heads, 4);  // read from the traced attention; width / 64 would say 1
  EXPECT_EQ(pt.text_layers, 2);
  EXPECT_EQ(pt.embed_dim, 32);

  const auto rn = model::read_model_spec(fixture_path("fixtures/clip/rn/openai/model.pt"));
  EXPECT_EQ(rn.image_tower, "resnet");
  EXPECT_EQ(rn.resnet_layers, (std::vector<int>{1, 1, 1, 1}));
  EXPECT_EQ(rn.vision_layers, 4);
  EXPECT_EQ(rn.vision_width, 16);
  EXPECT_EQ(rn.vision_heads, 8);
  EXPECT_EQ(rn.image_size, 64);
  const auto rn_oc = model::read_model_spec(fixture_path("fixtures/clip/rn/openai"));
  EXPECT_EQ(rn_oc.image_tower, "resnet");
  EXPECT_EQ(rn_oc.resnet_layers, rn.resnet_layers);
  EXPECT_EQ(rn_oc.vision_heads, 8);
}

TEST(ModelLoadTest, HashAndParameterCount) {
  CIR_REQUIRE_FIXTURE("fixtures/clip/vit/openai");
  model::ModelOptions options;
  options.n_threads = 2;
  const auto m = ClipModel::load(fixture_path("fixtures/clip/vit/openai"), options);
  EXPECT_EQ(m->spec().weights_file, fixture_path("fixtures/clip/vit/openai/open_clip_model.safetensors"));
  EXPECT_EQ(m->spec().weights_sha256, sha256_file(m->spec().weights_file));
  // Every tensor of that file is a parameter: the count is the file's element count.
  const std::vector<uint8_t> bytes = read_file_bytes(m->spec().weights_file);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  const auto header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<long>(header_len));
  int64_t elements = 0;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    int64_t n = 1;
    for (const auto& d : entry["shape"]) n *= d.get<int64_t>();
    elements += n;
  }
  EXPECT_EQ(m->spec().n_parameters, elements);

  options.hash_weights = false;
  EXPECT_TRUE(ClipModel::load(fixture_path("fixtures/clip/vit/openai"), options)->spec().weights_sha256.empty());
}

TEST(ModelLoadTest, DirectoryHoldingOnlyModelPt) {
  CIR_REQUIRE_FIXTURE("fixtures/clip/vit/openai/model.pt");
  TempDir tmp;
  std::filesystem::create_symlink(fixture_path("fixtures/clip/vit/openai/model.pt"), tmp.path / "model.pt");
  EXPECT_EQ(model::read_model_spec(tmp.str()).format, "openai_torchscript");
  const auto m = ClipModel::load(tmp.str());
  EXPECT_EQ(m->spec().format, "openai_torchscript");
  const FloatMatrix texts = m->encode_texts(fixture_tokens("vit"));
  expect_close(texts, npy_matrix(fixture_path("fixtures/clip/vit/text_features.npy")), kFp32Tolerance, "dir with model.pt");
}

// Trimming to the longest row is exact under the causal mask: encoding rows one at a time
// (each trimmed to its own length) equals encoding the batch (trimmed to the longest, 77),
// and no lengths (argmax end token) equals explicit lengths.
TEST(TextEncoderTest, TrimmingIsExact) {
  CIR_REQUIRE_FIXTURE("fixtures/clip/vit/openai");
  const auto m = ClipModel::load(fixture_path("fixtures/clip/vit/openai"));
  const TokenBatch tokens = fixture_tokens("vit");
  const FloatMatrix batch = m->encode_texts(tokens);
  FloatMatrix single(0, batch.cols);
  for (int64_t i = 0; i < tokens.n_texts; ++i) {
    const FloatMatrix row = m->encode_texts(slice_tokens(tokens, i, 1));
    single.data.insert(single.data.end(), row.data.begin(), row.data.end());
    single.rows += 1;
  }
  expect_close(single, batch, 1e-5, "one at a time vs batch");
  TokenBatch no_lengths = tokens;
  no_lengths.lengths.clear();
  expect_close(m->encode_texts(no_lengths), batch, 0.0, "argmax end vs lengths");
}

TEST(TextEncoderTest, InjectingOwnEmbeddingEqualsPlainEncoding) {
  CIR_REQUIRE_FIXTURE("fixtures/clip/vit/hf");
  for (DType dtype : {DType::kFloat32, DType::kBFloat16}) {
    model::ModelOptions options;
    options.dtype = dtype;
    const auto m = ClipModel::load(fixture_path("fixtures/clip/vit/hf"), options);
    const TokenBatch tokens = slice_tokens(fixture_tokens("vit"), 0, 4);  // "a photo of a cat", ...
    const int32_t placeholder = tokens.ids[2];  // "photo": present in row 0 only
    const FloatMatrix own = m->token_embeddings(std::vector<int32_t>(4, placeholder));
    ASSERT_EQ(own.cols, m->spec().text_width);
    const FloatMatrix plain = m->encode_texts(tokens);
    expect_close(m->encode_texts_injected(tokens, placeholder, own), plain, 0.0, "own embedding");

    // A different vector changes row 0 only: rows without the placeholder are untouched.
    FloatMatrix other = m->token_embeddings({tokens.ids[1], tokens.ids[1], tokens.ids[1], tokens.ids[1]});
    const FloatMatrix changed = m->encode_texts_injected(tokens, placeholder, other);
    EXPECT_GT(max_relative_diff(slice_rows(changed, 0, 1), slice_rows(plain, 0, 1)), 1e-3);
    expect_close(slice_rows(changed, 1, 3), slice_rows(plain, 1, 3), 0.0, "rows without placeholder");

    FloatMatrix wrong(3, m->spec().text_width);
    try {
      m->encode_texts_injected(tokens, placeholder, wrong);
      ADD_FAILURE() << "expected kInvalidArgument";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    }
  }
}

TEST(TextEncoderTest, RejectsBadTokenBatches) {
  CIR_REQUIRE_FIXTURE("fixtures/clip/vit/openai");
  const auto m = ClipModel::load(fixture_path("fixtures/clip/vit/openai"));
  TokenBatch tokens = slice_tokens(fixture_tokens("vit"), 0, 2);
  TokenBatch bad_id = tokens;
  bad_id.ids[1] = 49408;
  TokenBatch bad_size = tokens;
  bad_size.ids.pop_back();
  TokenBatch bad_length = tokens;
  bad_length.lengths[0] = 78;
  for (const TokenBatch* b : {&bad_id, &bad_size, &bad_length}) {
    try {
      m->encode_texts(*b);
      ADD_FAILURE() << "expected kInvalidArgument";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    }
  }
  TokenBatch empty;
  empty.context_length = 77;
  EXPECT_EQ(m->encode_texts(empty).rows, 0);
  EXPECT_EQ(m->encode_images(nullptr, 0).rows, 0);
}

TEST(DTypeTest, Names) {
  EXPECT_EQ(model::parse_dtype("bf16"), DType::kBFloat16);
  EXPECT_EQ(model::parse_dtype("bfloat16"), DType::kBFloat16);
  EXPECT_EQ(model::parse_dtype("float32"), DType::kFloat32);
  EXPECT_EQ(model::dtype_name(DType::kFloat32), "fp32");
  EXPECT_THROW(model::parse_dtype("fp8"), Error);
}

}  // namespace
}  // namespace cir::testing
