// Bad checkpoints get clear cir::Errors, never crashes: damaged safetensors files, broken or
// mistyped configs, missing files, tensors missing or of the wrong shape, non-TorchScript
// archives. Also sharded Hugging Face checkpoints (model.safetensors.index.json).
#include <filesystem>
#include <fstream>

#include "model_test_util.h"

namespace cir::testing {
namespace {

namespace fs = std::filesystem;
using model::ClipModel;
using nlohmann::json;

// A safetensors file split into its header JSON and data section, so tests can damage it.
struct Safetensors {
  json header;
  std::vector<uint8_t> data;
};

Safetensors read_safetensors(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
  Safetensors st;
  st.header = json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<long>(n));
  st.data.assign(bytes.begin() + 8 + static_cast<long>(n), bytes.end());
  return st;
}

std::string encode(const std::string& header_text, const std::vector<uint8_t>& data) {
  std::string out(8, '\0');
  const uint64_t n = header_text.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  out += header_text;
  out.append(data.begin(), data.end());
  return out;
}

void write_safetensors(const std::string& path, const Safetensors& st) {
  write_file_atomic(path, encode(st.header.dump(), st.data));
}

void copy_file(const std::string& from, const std::string& to) { write_file_atomic(to, read_file_text(from)); }

// Expects `fn` to throw cir::Error with `code` and a message containing `needle`.
template <typename Fn>
void expect_error(Fn&& fn, ErrorCode code, const std::string& needle, const std::string& what) {
  try {
    fn();
    ADD_FAILURE() << what << ": expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << what << ": " << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << what << ": message '" << e.what()
                                                                     << "' does not mention '" << needle << "'";
  }
}

// An OpenCLIP directory (the ViT fixture's config) around a given safetensors file content.
class DamagedSafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(fixture_path("fixtures/clip/vit/openai/open_clip_model.safetensors")))
      GTEST_SKIP() << "shared fixture clip/vit/openai is absent";
    copy_file(fixture_path("fixtures/clip/vit/openai/open_clip_config.json"), tmp.str("open_clip_config.json"));
    original = read_safetensors(fixture_path("fixtures/clip/vit/openai/open_clip_model.safetensors"));
  }
  std::string weights() const { return tmp.str("open_clip_model.safetensors"); }
  void expect_load_error(ErrorCode code, const std::string& needle, const std::string& what) {
    expect_error([&] { ClipModel::load(tmp.str()); }, code, needle, what);
  }
  TempDir tmp;
  Safetensors original;
};

TEST_F(DamagedSafetensorsTest, TruncatedFile) {
  const std::string full = encode(original.header.dump(), original.data);
  write_file_atomic(weights(), full.substr(0, full.size() / 2));
  expect_load_error(ErrorCode::kCorrupt, "truncated", "cut in half");
  write_file_atomic(weights(), full.substr(0, 5));
  expect_load_error(ErrorCode::kCorrupt, "shorter than", "5 bytes");
  write_file_atomic(weights(), "");
  expect_load_error(ErrorCode::kCorrupt, "open_clip_model.safetensors", "empty file");
}

TEST_F(DamagedSafetensorsTest, GarbledHeader) {
  std::string header = original.header.dump();
  header[header.size() / 2] = '{';
  write_file_atomic(weights(), encode(header, original.data));
  expect_load_error(ErrorCode::kCorrupt, "not valid JSON", "garbled JSON");
  write_file_atomic(weights(), encode("[1, 2, 3]", original.data));
  expect_load_error(ErrorCode::kCorrupt, "must be a JSON object", "array header");
}

TEST_F(DamagedSafetensorsTest, HeaderLengthBeyondFile) {
  std::string bytes = encode(original.header.dump(), original.data);
  const uint64_t n = bytes.size();  // longer than what follows the 8 length bytes
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  write_file_atomic(weights(), bytes);
  expect_load_error(ErrorCode::kCorrupt, "header length", "length past the end");
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(0xff);
  write_file_atomic(weights(), bytes);
  expect_load_error(ErrorCode::kCorrupt, "header length", "huge length");
}

TEST_F(DamagedSafetensorsTest, OffsetsOutOfRange) {
  Safetensors st = original;
  const uint64_t size = st.data.size();
  st.header["ln_final.bias"]["data_offsets"] = {size + 16, size + 16 + 64 * 4};
  write_safetensors(weights(), st);
  expect_load_error(ErrorCode::kCorrupt, "ln_final.bias", "offsets past the data");

  st = original;
  st.header["ln_final.bias"]["data_offsets"] = {8, 4};
  write_safetensors(weights(), st);
  expect_load_error(ErrorCode::kCorrupt, "ln_final.bias", "begin after end");

  st = original;
  st.header["ln_final.bias"]["data_offsets"] = {0, 12};
  write_safetensors(weights(), st);
  expect_load_error(ErrorCode::kCorrupt, "expected 256", "span does not match the shape");

  st = original;
  st.header["ln_final.bias"]["data_offsets"] = st.header["ln_final.weight"]["data_offsets"];
  write_safetensors(weights(), st);
  expect_load_error(ErrorCode::kCorrupt, "overlap", "overlapping tensors");

  st = original;
  st.header["ln_final.bias"]["shape"] = {-64};
  write_safetensors(weights(), st);
  expect_load_error(ErrorCode::kCorrupt, "non-negative", "negative dimension");
}

TEST_F(DamagedSafetensorsTest, WrongDtype) {
  Safetensors st = original;
  st.header["ln_final.bias"]["dtype"] = "F33";
  write_safetensors(weights(), st);
  expect_load_error(ErrorCode::kCorrupt, "unknown dtype 'F33'", "made-up dtype");

  st = original;
  st.header["ln_final.bias"]["dtype"] = "I32";  // same size, a real dtype, but not a float
  write_safetensors(weights(), st);
  expect_load_error(ErrorCode::kUnsupported, "I32", "integer weights");

  st = original;
  st.header["ln_final.bias"]["dtype"] = 7;
  write_safetensors(weights(), st);
  expect_load_error(ErrorCode::kCorrupt, "dtype", "dtype not a string");
}

TEST_F(DamagedSafetensorsTest, MissingTensorAndWrongShape) {
  Safetensors st = original;
  st.header.erase("transformer.resblocks.1.mlp.c_fc.weight");
  write_safetensors(weights(), st);
  expect_load_error(ErrorCode::kModel, "transformer.resblocks.1.mlp.c_fc.weight", "missing tensor");

  // A config that disagrees with the weights: every mismatch names tensor, expected, found.
  write_safetensors(weights(), original);
  json config = json::parse(read_file_text(tmp.str("open_clip_config.json")));
  config["model_cfg"]["text_cfg"]["width"] = 128;
  write_file_atomic(tmp.str("open_clip_config.json"), config.dump());
  expect_load_error(ErrorCode::kModel, "expected [49408, 128]", "text width 128 vs 64 in the file");

  // Extra tensors the architecture does not use are ignored.
  copy_file(fixture_path("fixtures/clip/vit/openai/open_clip_config.json"), tmp.str("open_clip_config.json"));
  st = original;
  st.header["unused.extra"] = {{"dtype", "I64"}, {"shape", {0}}, {"data_offsets", {0, 0}}};
  write_safetensors(weights(), st);
  EXPECT_NO_THROW(ClipModel::load(tmp.str()));
}

TEST(ModelErrorsTest, MissingPathsAndFiles) {
  expect_error([] { ClipModel::load("/nonexistent/cir/model"); }, ErrorCode::kNotFound, "/nonexistent/cir/model",
               "no such path");
  TempDir tmp;
  expect_error([&] { model::read_model_spec(tmp.str()); }, ErrorCode::kNotFound, "config.json", "empty directory");
  if (!fs::exists(fixture_path("fixtures/clip/vit/openai"))) GTEST_SKIP() << "shared fixture clip/vit/openai is absent";
  copy_file(fixture_path("fixtures/clip/vit/openai/open_clip_config.json"), tmp.str("open_clip_config.json"));
  expect_error([&] { ClipModel::load(tmp.str()); }, ErrorCode::kNotFound, "open_clip_model.safetensors", "no weights");
}

TEST(ModelErrorsTest, GarbageTorchScript) {
  TempDir tmp;
  write_file_atomic(tmp.str("model.pt"), std::string(4096, '\x42'));
  expect_error([&] { ClipModel::load(tmp.str("model.pt")); }, ErrorCode::kCorrupt, "TorchScript", "garbage .pt");
  expect_error([&] { ClipModel::load(tmp.str()); }, ErrorCode::kCorrupt, "TorchScript", "dir with garbage model.pt");
  write_file_atomic(tmp.str("empty.pt"), "");
  expect_error([&] { ClipModel::load(tmp.str("empty.pt")); }, ErrorCode::kCorrupt, "empty.pt", "empty .pt");
}

// A Hugging Face directory around the ViT fixture's weights with an edited config.json.
class HfConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(fixture_path("fixtures/clip/vit/hf/model.safetensors"))) GTEST_SKIP() << "shared fixture clip/vit/hf is absent";
    fs::create_symlink(fixture_path("fixtures/clip/vit/hf/model.safetensors"), tmp.path / "model.safetensors");
    config = json::parse(read_file_text(fixture_path("fixtures/clip/vit/hf/config.json")));
  }
  void expect_config_error(const json& doc, ErrorCode code, const std::string& needle, const std::string& what) {
    write_file_atomic(tmp.str("config.json"), doc.dump());
    expect_error([&] { model::read_model_spec(tmp.str()); }, code, needle, what);
  }
  TempDir tmp;
  json config;
};

TEST_F(HfConfigTest, MissingSectionsAndWrongTypes) {
  json doc = config;
  doc.erase("vision_config");
  expect_config_error(doc, ErrorCode::kModel, "vision_config", "no vision_config");
  doc = config;
  doc["vision_config"]["hidden_size"] = "128";
  expect_config_error(doc, ErrorCode::kModel, "vision_config.hidden_size", "hidden_size as a string");
  doc = config;
  doc["text_config"]["num_hidden_layers"] = -2;
  expect_config_error(doc, ErrorCode::kModel, "text_config.num_hidden_layers", "negative layers");
  doc = config;
  doc["text_config"] = 5;
  expect_config_error(doc, ErrorCode::kModel, "text_config", "text_config not an object");
  doc = config;
  doc["model_type"] = "siglip";
  expect_config_error(doc, ErrorCode::kUnsupported, "siglip", "other model type");
  doc = config;
  doc["vision_config"]["hidden_act"] = "relu";
  expect_config_error(doc, ErrorCode::kUnsupported, "hidden_act", "unknown activation");
  doc = config;
  doc["vision_config"]["intermediate_size"] = 500;
  expect_config_error(doc, ErrorCode::kUnsupported, "intermediate_size", "MLP not 4x");
  doc = config;
  doc["vision_config"]["num_attention_heads"] = 3;
  expect_config_error(doc, ErrorCode::kModel, "vision_heads", "width not divisible by heads");
  write_file_atomic(tmp.str("config.json"), "{\"model_type\": \"clip\", ");
  expect_error([&] { model::read_model_spec(tmp.str()); }, ErrorCode::kCorrupt, "config.json", "truncated JSON");

  // Missing tower fields take Hugging Face's defaults; here that disagrees with the weights.
  doc = config;
  doc["vision_config"].erase("hidden_size");
  doc["vision_config"].erase("intermediate_size");
  write_file_atomic(tmp.str("config.json"), doc.dump());
  EXPECT_EQ(model::read_model_spec(tmp.str()).vision_width, 768);
  expect_error([&] { ClipModel::load(tmp.str()); }, ErrorCode::kModel, "expected [768", "default width vs weights");
}

// The audit's case: a config claiming huge towers reached 5.6 GB before failing. Sizes are now
// checked against the checkpoint's tensor headers before the net is allocated.
TEST_F(HfConfigTest, HugeTowersAreRefusedBeforeAllocating) {
  json doc = config;
  doc["text_config"]["num_hidden_layers"] = 1000000;
  write_file_atomic(tmp.str("config.json"), doc.dump());
  expect_error([&] { ClipModel::load(tmp.str()); }, ErrorCode::kModel, "text layers = 1000000", "a million text layers");
  doc = config;
  doc["vision_config"]["num_hidden_layers"] = 1000000;
  write_file_atomic(tmp.str("config.json"), doc.dump());
  expect_error([&] { ClipModel::load(tmp.str()); }, ErrorCode::kModel, "vision layers = 1000000", "a million vision layers");
  doc = config;
  doc["text_config"]["hidden_size"] = 1 << 16;
  doc["text_config"]["intermediate_size"] = 1 << 18;
  doc["text_config"]["num_attention_heads"] = 1 << 10;
  write_file_atomic(tmp.str("config.json"), doc.dump());
  expect_error([&] { ClipModel::load(tmp.str()); }, ErrorCode::kModel, "token_embedding", "a 65536-wide text tower");
  doc = config;
  doc["text_config"]["vocab_size"] = 1 << 24;
  write_file_atomic(tmp.str("config.json"), doc.dump());
  expect_error([&] { ClipModel::load(tmp.str()); }, ErrorCode::kModel, "vocab_size", "a 16M-token vocabulary");
}

// Config errors found when the model is built name the checkpoint, not just the field.
TEST_F(HfConfigTest, SpecErrorsNameTheModel) {
  json doc = config;
  doc["text_config"]["num_attention_heads"] = 7;
  write_file_atomic(tmp.str("config.json"), doc.dump());
  expect_error([&] { ClipModel::load(tmp.str()); }, ErrorCode::kModel, tmp.str(), "text width not divisible by heads");
}

// Nesting far beyond any real config is refused before a recursive reader sees it.
TEST_F(HfConfigTest, DeeplyNestedConfigIsRefused) {
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  write_file_atomic(tmp.str("config.json"), "{\"model_type\": \"clip\", \"text_config\": " + deep + "}");
  expect_error([&] { model::read_model_spec(tmp.str()); }, ErrorCode::kInvalidArgument, "nested deeper than",
               "200,000 nested arrays");
}

TEST_F(HfConfigTest, PreprocessorConfig) {
  write_file_atomic(tmp.str("config.json"), config.dump());
  json pre = json::parse(read_file_text(fixture_path("fixtures/clip/vit/hf/preprocessor_config.json")));
  pre["size"] = {{"height", 64}, {"width", 64}};
  pre["do_center_crop"] = false;
  write_file_atomic(tmp.str("preprocessor_config.json"), pre.dump());
  EXPECT_EQ(model::read_model_spec(tmp.str()).preprocess.resize_mode, ResizeMode::kSquash);
  pre["image_mean"] = {0.5, 0.5};
  write_file_atomic(tmp.str("preprocessor_config.json"), pre.dump());
  expect_error([&] { model::read_model_spec(tmp.str()); }, ErrorCode::kModel, "image_mean", "mean of 2 values");
}

TEST(OpenClipConfigTest, MissingSectionsAndWrongTypes) {
  if (!fs::exists(fixture_path("fixtures/clip/rn/openai"))) GTEST_SKIP() << "shared fixture clip/rn/openai is absent";
  TempDir tmp;
  fs::create_symlink(fixture_path("fixtures/clip/rn/openai/open_clip_model.safetensors"), tmp.path / "open_clip_model.safetensors");
  const json config = json::parse(read_file_text(fixture_path("fixtures/clip/rn/openai/open_clip_config.json")));
  auto expect_config_error = [&](const json& doc, ErrorCode code, const std::string& needle, const std::string& what) {
    write_file_atomic(tmp.str("open_clip_config.json"), doc.dump());
    expect_error([&] { model::read_model_spec(tmp.str()); }, code, needle, what);
  };
  json doc = config;
  doc.erase("model_cfg");
  expect_config_error(doc, ErrorCode::kModel, "model_cfg", "no model_cfg");
  doc = config;
  doc["model_cfg"]["vision_cfg"]["layers"] = {1, 1, "x", 1};
  expect_config_error(doc, ErrorCode::kModel, "vision_cfg.layers", "bad layer list");
  doc = config;
  doc["model_cfg"]["embed_dim"] = 3.5;
  expect_config_error(doc, ErrorCode::kModel, "model_cfg.embed_dim", "fractional embed_dim");
  doc = config;
  doc["preprocess_cfg"]["resize_mode"] = "longest";
  expect_config_error(doc, ErrorCode::kUnsupported, "resize_mode", "unsupported resize mode");
  doc = config;
  doc["preprocess_cfg"]["resize_mode"] = "squash";
  write_file_atomic(tmp.str("open_clip_config.json"), doc.dump());
  EXPECT_EQ(model::read_model_spec(tmp.str()).preprocess.resize_mode, ResizeMode::kSquash);
  doc = config;
  doc["model_cfg"]["text_cfg"]["ls_init_value"] = 1e-5;
  expect_config_error(doc, ErrorCode::kUnsupported, "text_cfg.ls_init_value", "layer scale");
  doc = config;
  doc["model_cfg"]["vision_cfg"]["timm_model_name"] = "convnext_base";
  expect_config_error(doc, ErrorCode::kUnsupported, "timm_model_name", "timm tower");
}

// A sharded Hugging Face checkpoint: two shard files and model.safetensors.index.json.
TEST(ShardedCheckpointTest, LoadsAndMatchesGolden) {
  if (!fs::exists(fixture_path("fixtures/clip/vit/hf"))) GTEST_SKIP() << "shared fixture clip/vit/hf is absent";
  TempDir tmp;
  for (const char* name : {"config.json", "preprocessor_config.json"})
    copy_file(fixture_path(std::string("fixtures/clip/vit/hf/") + name), tmp.str(name));
  const Safetensors full = read_safetensors(fixture_path("fixtures/clip/vit/hf/model.safetensors"));
  Safetensors shards[2];
  json weight_map = json::object();
  for (const auto& [name, entry] : full.header.items()) {
    if (name == "__metadata__") continue;
    const int s = name.rfind("text_model", 0) == 0 ? 0 : 1;
    const uint64_t begin = entry["data_offsets"][0], end = entry["data_offsets"][1];
    json e = entry;
    e["data_offsets"] = {shards[s].data.size(), shards[s].data.size() + (end - begin)};
    shards[s].header[name] = e;
    shards[s].data.insert(shards[s].data.end(), full.data.begin() + static_cast<long>(begin),
                          full.data.begin() + static_cast<long>(end));
    weight_map[name] = "model-0000" + std::to_string(s + 1) + "-of-00002.safetensors";
  }
  write_safetensors(tmp.str("model-00001-of-00002.safetensors"), shards[0]);
  write_safetensors(tmp.str("model-00002-of-00002.safetensors"), shards[1]);
  write_file_atomic(tmp.str("model.safetensors.index.json"), json{{"metadata", json::object()}, {"weight_map", weight_map}}.dump());

  const auto m = ClipModel::load(tmp.str());
  EXPECT_EQ(m->spec().weights_file, tmp.str("model.safetensors.index.json"));
  EXPECT_EQ(m->spec().weights_sha256, sha256_file(tmp.str("model.safetensors.index.json")));
  expect_close(m->encode_texts(fixture_tokens("vit")), npy_matrix(fixture_path("fixtures/clip/vit/text_features.npy")), 1e-4,
               "sharded text features");

  // An index naming a shard that lacks the tensor is corrupt.
  weight_map["text_projection.weight"] = "model-00001-of-00002.safetensors";
  write_file_atomic(tmp.str("model.safetensors.index.json"), json{{"weight_map", weight_map}}.dump());
  expect_error([&] { ClipModel::load(tmp.str()); }, ErrorCode::kCorrupt, "text_projection.weight", "wrong shard");
}

}  // namespace
}  // namespace cir::testing
