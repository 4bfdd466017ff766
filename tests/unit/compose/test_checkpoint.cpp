// Checkpoint layouts as the reference repositories write them (files made by python3-torch),
// the heads' forward passes against PyTorch's outputs, and clear errors for bad files.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "cir/core.h"
#include "compose/checkpoint.h"
#include "compose/heads.h"

namespace cir::compose::detail {
namespace {

std::string data(const std::string& name) { return std::string(CIR_SOURCE_DIR) + "/tests/data/checkpoints/" + name; }

// Tolerance: float32 MLPs of width <= 64; PyTorch and libtorch may sum in different orders.
constexpr double kTol = 1e-5;

ErrorCode code_of(const std::function<void()>& fn, std::string* message = nullptr) {
  try {
    fn();
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.code();
  }
  ADD_FAILURE() << "no cir::Error thrown";
  return ErrorCode::kInternal;
}

TEST(Checkpoint, SearlePhiLayoutMatchesPyTorch) {
  const auto state = read_state_dict(data("searle_phi.pt"), "Phi");
  EXPECT_EQ(state.size(), 6u);
  auto phi = mapper_from_state(MapperKind::kSearlePhi, state, "searle_phi.pt");
  const auto expected = read_state_dict(data("searle_phi.expected.pt"), "");
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::allclose(phi->forward(expected.at("x")), expected.at("y"), kTol, kTol));
}

TEST(Checkpoint, Pic2WordLayoutStripsModulePrefix) {
  const auto state = read_state_dict(data("pic2word.pt"), "state_dict_img2text");
  EXPECT_TRUE(state.count("layers.0.0.weight"));
  EXPECT_TRUE(state.count("fc_out.bias"));
  auto mapper = mapper_from_state(MapperKind::kPic2Word, state, "pic2word.pt");
  const auto expected = read_state_dict(data("pic2word.expected.pt"), "");
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::allclose(mapper->forward(expected.at("x")), expected.at("y"), kTol, kTol));
  EXPECT_TRUE(read_state_dict(data("pic2word.pt"), "state_dict").count("logit_scale"));
}

TEST(Checkpoint, Clip4CirCombinerLayoutMatchesPyTorch) {
  const auto state = read_state_dict(data("clip4cir.pt"), "Combiner");
  auto combiner = combiner_from_state(state, "clip4cir.pt");
  const auto expected = read_state_dict(data("clip4cir.expected.pt"), "");
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::allclose(combiner->forward(expected.at("x"), expected.at("t")), expected.at("y"), kTol, kTol));
}

// Training checkpoints carry optimiser state (tensors, ints, floats, tuples, bools, None) and a
// grad-scaler dict beside the weights: reading the weights must step over all of it.
TEST(Checkpoint, SearleTrainingCheckpointWithOptimizerState) {
  const auto state = read_state_dict(data("searle_phi_train.pt"), "Phi");
  auto phi = mapper_from_state(MapperKind::kSearlePhi, state, "searle_phi_train.pt");
  const auto expected = read_state_dict(data("searle_phi_train.expected.pt"), "");
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::allclose(phi->forward(expected.at("x")), expected.at("y"), kTol, kTol));
}

TEST(Checkpoint, Pic2WordTrainingCheckpointWithOptimizerState) {
  const auto state = read_state_dict(data("pic2word_full.pt"), "state_dict_img2text");
  auto mapper = mapper_from_state(MapperKind::kPic2Word, state, "pic2word_full.pt");
  const auto expected = read_state_dict(data("pic2word_full.expected.pt"), "");
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::allclose(mapper->forward(expected.at("x")), expected.at("y"), kTol, kTol));
}

TEST(Checkpoint, BareStateDictIsTheTopLevel) {
  const auto bare = read_state_dict(data("phi_bare.pt"), "");
  const auto wrapped = read_state_dict(data("searle_phi_train.pt"), "Phi");
  ASSERT_EQ(bare.size(), wrapped.size());
  for (const auto& [name, tensor] : wrapped) EXPECT_TRUE(torch::equal(bare.at(name), tensor)) << name;
}

TEST(Checkpoint, WrittenFileReadsBack) {
  const auto path = (std::filesystem::temp_directory_path() / "cir_test_combiner.pt").string();
  Combiner c(8, 16, 32);
  write_state_dict(path, "Combiner", module_state(*c), 7);
  const auto back = read_state_dict(path, "Combiner");
  for (const auto& [name, tensor] : module_state(*c)) EXPECT_TRUE(torch::equal(back.at(name), tensor)) << name;
  std::filesystem::remove(path);
}

TEST(Checkpoint, MissingKeyNamesFileAndKey) {
  std::string message;
  EXPECT_EQ(code_of([] { read_state_dict(data("searle_phi.pt"), "Combiner"); }, &message), ErrorCode::kNotFound);
  EXPECT_NE(message.find("searle_phi.pt"), std::string::npos);
  EXPECT_NE(message.find("'Combiner'"), std::string::npos);
  EXPECT_NE(message.find("Phi"), std::string::npos);  // lists what is there
}

TEST(Checkpoint, BadFilesAreCorrupt) {
  const auto dir = std::filesystem::temp_directory_path();
  const auto garbage = (dir / "cir_test_garbage.pt").string();
  std::ofstream(garbage) << "this is not a checkpoint";
  EXPECT_EQ(code_of([&] { read_state_dict(garbage, "Phi"); }), ErrorCode::kCorrupt);

  std::ifstream in(data("searle_phi.pt"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  const auto truncated = (dir / "cir_test_truncated.pt").string();
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  std::string message;
  EXPECT_EQ(code_of([&] { read_state_dict(truncated, "Phi"); }, &message), ErrorCode::kCorrupt);
  EXPECT_NE(message.find("cir_test_truncated.pt"), std::string::npos);

  EXPECT_EQ(code_of([] { read_state_dict(data("legacy.pt"), "Phi"); }, &message), ErrorCode::kCorrupt);
  EXPECT_NE(message.find("legacy"), std::string::npos);
  EXPECT_EQ(code_of([] { read_state_dict(data("absent.pt"), "Phi"); }), ErrorCode::kNotFound);
  // A dict that is not a state dict: the top level of the SEARLE file holds a dict, not tensors.
  EXPECT_EQ(code_of([] { read_state_dict(data("clip4cir.pt"), ""); }), ErrorCode::kCorrupt);
  std::filesystem::remove(garbage);
  std::filesystem::remove(truncated);
}

TEST(Checkpoint, WrongShapeIsModelError) {
  auto state = read_state_dict(data("searle_phi.pt"), "Phi");
  state["layers.3.weight"] = torch::zeros({2, 2});
  std::string message;
  EXPECT_EQ(code_of([&] { mapper_from_state(MapperKind::kSearlePhi, state, "x.pt"); }, &message), ErrorCode::kModel);
  EXPECT_NE(message.find("layers.3.weight"), std::string::npos);
}

}  // namespace
}  // namespace cir::compose::detail
