// The baselines (image, text, sum, negative text, extra terms) against hand-computed 2-d cases:
// texts encode to fixed vectors, so every query row is arithmetic a reader can check.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "cir/compose.h"

namespace cir::compose {
namespace {

// "a" -> (1, 0), "b" -> (0, 5), "t" -> (0, 2): unnormalised, as a text tower returns them.
FloatMatrix fixed_encode(const std::vector<std::string>& texts) {
  static const std::map<std::string, std::pair<float, float>> vectors = {{"a", {1, 0}}, {"b", {0, 5}}, {"t", {0, 2}}};
  FloatMatrix m(static_cast<int64_t>(texts.size()), 2);
  for (size_t i = 0; i < texts.size(); ++i) {
    m.row(static_cast<int64_t>(i))[0] = vectors.at(texts[i]).first;
    m.row(static_cast<int64_t>(i))[1] = vectors.at(texts[i]).second;
  }
  return m;
}

ComposeContext context() {
  ComposeContext c;
  c.embed_dim = 2;
  c.encode_texts = fixed_encode;
  return c;
}

ComposeInput input(std::vector<std::string> texts, bool with_reference = true) {
  ComposeInput in;
  if (with_reference) in.reference = std::vector<float>{3, 4};  // n = (0.6, 0.8)
  in.texts = std::move(texts);
  return in;
}

void expect_row(const FloatMatrix& m, int64_t r, float x, float y) {
  EXPECT_NEAR(m.row(r)[0], x, 1e-6);
  EXPECT_NEAR(m.row(r)[1], y, 1e-6);
}

TEST(Baselines, ImageOnlyIsTheNormalisedReference) {
  expect_row(find_method("image")->compose({input({"a"})}, context()), 0, 0.6f, 0.8f);
}

TEST(Baselines, TextOnlyAveragesNormalisedTexts) {
  const auto q = find_method("text")->compose({input({"t"}, false), input({"a", "b"}, false)}, context());
  expect_row(q, 0, 0.f, 1.f);
  // n((1,0) + (0,1)) / 2 -> (1, 1) / sqrt(2).
  expect_row(q, 1, 1.f / std::sqrt(2.f), 1.f / std::sqrt(2.f));
}

TEST(Baselines, SumIsNormalisedWeightedSumOfNormalisedParts) {
  // (0.6, 0.8) + (0, 1) = (0.6, 1.8), norm sqrt(3.6).
  expect_row(find_method("sum")->compose({input({"t"})}, context()), 0, 0.6f / std::sqrt(3.6f), 1.8f / std::sqrt(3.6f));
  // image weight 2: (1.2, 1.6) + (0, 1) = (1.2, 2.6), norm sqrt(8.2).
  auto in = input({"t"});
  in.image_weight = 2;
  expect_row(find_method("sum")->compose({in}, context()), 0, 1.2f / std::sqrt(8.2f), 2.6f / std::sqrt(8.2f));
}

TEST(Baselines, NegativeTextIsSubtractedAfterNormalising) {
  // (0.6, 0.8) + (1, 0) - 0.5 (0, 1) = (1.6, 0.3), norm sqrt(2.65).
  auto in = input({"a"});
  in.negative_texts = {"b"};
  in.negative_weight = 0.5f;
  expect_row(find_method("sum")->compose({in}, context()), 0, 1.6f / std::sqrt(2.65f), 0.3f / std::sqrt(2.65f));
}

TEST(Baselines, ExtraTermsAddTheirNormalisedFeatures) {
  // (0.6, 0.8) - 1 * n(0, 3) = (0.6, -0.2), norm sqrt(0.4).
  auto in = input({});
  in.extra_terms.emplace_back(std::vector<float>{0, 3}, -1.f);
  expect_row(find_method("image")->compose({in}, context()), 0, 0.6f / std::sqrt(0.4f), -0.2f / std::sqrt(0.4f));
}

TEST(Baselines, MissingInputsAreInvalidArgument) {
  const auto code = [](const std::string& method, const ComposeInput& in) {
    try {
      find_method(method)->compose({in}, context());
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::kInternal;
  };
  EXPECT_EQ(code("image", input({"a"}, false)), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code("text", input({})), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code("sum", input({}, false)), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace cir::compose

namespace cir::compose {
namespace {

// fuzz/compose_names_stub.cpp copies the registry's method names for the search-codec fuzzer
// (which cannot link the registry); this keeps the copy from drifting.
TEST(Registry, FuzzStubListsEveryMethod) {
  const std::string stub = read_file_text(std::string(CIR_SOURCE_DIR) + "/fuzz/compose_names_stub.cpp");
  for (const auto& name : method_names())
    EXPECT_NE(stub.find("\"" + name + "\""), std::string::npos) << "fuzz/compose_names_stub.cpp lacks method '" << name << "'";
}

}  // namespace
}  // namespace cir::compose
