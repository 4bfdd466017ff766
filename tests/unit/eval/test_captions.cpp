// Caption conventions reproduce the reference code's strings (CLIP4Cir / SEARLE f-strings with
// Python str.strip(".?, ") and str.capitalize()), including the empty and blank edge cases.
#include <gtest/gtest.h>

#include "cir/eval.h"
#include "test_support.h"

namespace cir::eval {
namespace {

EvalQuery with_texts(std::vector<std::string> texts) {
  EvalQuery query;
  query.id = "q";
  query.texts = std::move(texts);
  return query;
}

TEST(Captions, PythonStripAndCapitalize) {
  EXPECT_EQ(strip_caption("  is red. "), "is red");
  EXPECT_EQ(strip_caption("?,is blue?,. "), "is blue");
  EXPECT_EQ(strip_caption(" . ,?"), "");
  EXPECT_EQ(strip_caption(""), "");
  EXPECT_EQ(strip_caption("a.b"), "a.b");  // only the ends
  // str.capitalize() lower-cases everything after the first character.
  EXPECT_EQ(capitalize_caption("is SHINY and Silver"), "Is shiny and silver");
  EXPECT_EQ(capitalize_caption("They\xE2\x80\x99re COVERUP"), "They\xE2\x80\x99re coverup");
  EXPECT_EQ(capitalize_caption(""), "");
}

TEST(Captions, FashionIqPairUnderEachConvention) {
  const EvalQuery query = with_texts({"is shiny and silver with shorter sleeves", "fit and flare."});
  EXPECT_EQ(build_query_texts(query, CaptionConvention::kPlain),
            (std::vector<std::string>{"is shiny and silver with shorter sleeves and fit and flare"}));
  EXPECT_EQ(build_query_texts(query, CaptionConvention::kClip4Cir),
            (std::vector<std::string>{"Is shiny and silver with shorter sleeves and fit and flare"}));
  EXPECT_EQ(build_query_texts(query, CaptionConvention::kSearle),
            (std::vector<std::string>{"a photo of $ that is shiny and silver with shorter sleeves and fit and flare",
                                      "a photo of $ that fit and flare and is shiny and silver with shorter sleeves"}));
}

TEST(Captions, EmptyAndBlankCaptionsAreKeptAsThePipelinesBuildThem) {
  // FashionIQ val has empty captions: f"{''.capitalize()} and {c2}" = " and c2".
  EXPECT_EQ(build_query_texts(with_texts({"", "is red"}), CaptionConvention::kClip4Cir),
            (std::vector<std::string>{" and is red"}));
  // CIRR test1 pairid 27098 is " ": CLIP4Cir encodes it unchanged, SEARLE appends it unstripped.
  EXPECT_EQ(build_query_texts(with_texts({" "}), CaptionConvention::kClip4Cir), (std::vector<std::string>{" "}));
  EXPECT_EQ(build_query_texts(with_texts({" "}), CaptionConvention::kSearle),
            (std::vector<std::string>{"a photo of $ that  "}));
  EXPECT_THROW(build_query_texts(with_texts({}), CaptionConvention::kPlain), Error);
}

TEST(Captions, ConventionNamesRoundTrip) {
  for (CaptionConvention convention :
       {CaptionConvention::kPlain, CaptionConvention::kClip4Cir, CaptionConvention::kSearle})
    EXPECT_EQ(parse_caption_convention(caption_convention_name(convention)), convention);
  try {
    parse_caption_convention("blip");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("clip4cir"), std::string::npos);
  }
}

TEST(Captions, RealFashionIqCaptionsJoinLikeClip4Cir) {
  CIR_REQUIRE_FIXTURE("benchmarks/fashioniq/captions/cap.toptee.val.json");
  const BenchmarkSplit split = read_benchmark("fashioniq-toptee", cir::testing::fixture_path("benchmarks"), "val");
  size_t trimmed = 0;
  for (const EvalQuery& query : split.queries) {
    const std::string joined = build_query_texts(query, CaptionConvention::kClip4Cir).at(0);
    EXPECT_NE(joined.find(" and "), std::string::npos);
    for (const std::string& text : query.texts) trimmed += strip_caption(text).size() != text.size();
  }
  EXPECT_GT(trimmed, 0u);  // some captions end in '.', '?', ',' or a space (README: 930 of 12,032)
}

}  // namespace
}  // namespace cir::eval
