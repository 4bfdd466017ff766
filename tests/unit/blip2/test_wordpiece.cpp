// WordPiece tokenizer: ids of the fixture texts against BERT's FullTokenizer (do_lower_case) on
// the fixture vocabulary (exact), plus the BasicTokenizer rules one by one and the errors.
#include <gtest/gtest.h>

#include <fstream>

#include "blip2_test_util.h"
#include "cir/text.h"
#include "text/wordpiece.h"

namespace cir::testing {
namespace {

using text::WordPieceTokenizer;

WordPieceTokenizer fixture_tokenizer() { return WordPieceTokenizer::from_directory(blip2_fixture("hf")); }

TEST(WordPiece, FixtureTokenIdsAreIdentical) {
  CIR_REQUIRE_FIXTURE("fixtures/blip2/inputs.json");
  const auto tok = fixture_tokenizer();
  const auto doc = blip2_inputs();
  const auto texts = doc["texts"].get<std::vector<std::string>>();
  const TokenBatch batch = tok.tokenize(texts, 32);
  const TokenBatch ref = blip2_fixture_tokens();
  ASSERT_EQ(batch.n_texts, ref.n_texts);
  ASSERT_EQ(batch.context_length, 32);
  for (int64_t i = 0; i < ref.n_texts; ++i) {
    EXPECT_EQ(batch.lengths[i], ref.lengths[i]) << "text " << i << ": " << texts[i];
    for (int64_t j = 0; j < 32; ++j)
      EXPECT_EQ(batch.ids[i * 32 + j], ref.ids[i * 32 + j]) << "text " << i << " position " << j << ": " << texts[i];
  }
  std::printf("[wordpiece] %lld fixture texts: token ids identical to the reference\n", static_cast<long long>(ref.n_texts));
}

TEST(WordPiece, SpecialIdsAndAddedTokens) {
  CIR_REQUIRE_FIXTURE("fixtures/blip2/hf/vocab.txt");
  const auto tok = fixture_tokenizer();
  EXPECT_EQ(tok.pad_id(), 0);
  EXPECT_EQ(tok.unk_id(), 11);
  EXPECT_EQ(tok.cls_id(), 12);
  EXPECT_EQ(tok.sep_id(), 13);
  EXPECT_EQ(tok.token_id("[DEC]"), 1362);
  EXPECT_EQ(tok.vocab_size(), 1363);  // vocab.txt + [DEC], the Q-Former's embedding rows
  EXPECT_TRUE(tok.lower_case());
  // Special and added tokens written in a text stay whole (Hugging Face's no-split tokens).
  const auto ids = tok.encode("a [DEC] b[SEP]");
  ASSERT_EQ(ids.size(), 4u);
  EXPECT_EQ(ids[1], 1362);
  EXPECT_EQ(ids[3], 13);
}

TEST(WordPiece, BasicTokenizerRules) {
  using text::detail::bert_basic_split;
  using V = std::vector<std::string>;
  EXPECT_EQ(bert_basic_split("Hello, World!", true), (V{"hello", ",", "world", "!"}));
  EXPECT_EQ(bert_basic_split("Café NAÏVE", true), (V{"cafe", "naive"}));
  EXPECT_EQ(bert_basic_split("Café", false), (V{"Café"}));
  EXPECT_EQ(bert_basic_split("日本語x", true), (V{"日", "本", "語", "x"}));
  EXPECT_EQ(bert_basic_split("a\tb\u00a0c\u2028d", true), (V{"a", "b", "c", "d"}));
  EXPECT_EQ(bert_basic_split(std::string("x\x01y\0z", 5), true), (V{"xyz"}));
  EXPECT_EQ(bert_basic_split("it's $5", true), (V{"it", "'", "s", "$", "5"}));
  EXPECT_EQ(bert_basic_split("", true), V{});
}

TEST(WordPiece, GreedyLongestMatchAndUnknown) {
  const std::unordered_map<std::string, int32_t> vocab{{"[UNK]", 0}, {"un", 1}, {"##aff", 2}, {"##able", 3},
                                                       {"una", 4}, {"##ffable", 5}, {"a", 6}};
  std::vector<int32_t> out;
  text::detail::wordpiece_word("unaffable", vocab, 0, out);
  EXPECT_EQ(out, (std::vector<int32_t>{4, 5}));  // longest first piece wins: "una" + "##ffable"
  out.clear();
  text::detail::wordpiece_word("unx", vocab, 0, out);
  EXPECT_EQ(out, (std::vector<int32_t>{0}));  // one unmatched part makes the whole word [UNK]
  out.clear();
  text::detail::wordpiece_word(std::string(101, 'a'), vocab, 0, out);
  EXPECT_EQ(out, (std::vector<int32_t>{0}));  // over 100 characters
}

TEST(WordPiece, TruncationAndMask) {
  CIR_REQUIRE_FIXTURE("fixtures/blip2/hf/vocab.txt");
  const auto tok = fixture_tokenizer();
  const TokenBatch b = tok.tokenize({"pedestrian pedestrian pedestrian", ""}, 4);
  EXPECT_EQ(b.lengths, (std::vector<int32_t>{4, 2}));
  EXPECT_EQ(b.ids, (std::vector<int32_t>{12, 713, 713, 13, 12, 13, 0, 0}));
  EXPECT_EQ(text::attention_mask(b), (std::vector<int32_t>{1, 1, 1, 1, 1, 1, 0, 0}));
  EXPECT_THROW(tok.tokenize({"x"}, 1), Error);
}

TEST(WordPiece, LoadErrorsNameTheFile) {
  TempDir dir;
  try {
    WordPieceTokenizer::from_directory(dir.str());
    FAIL() << "expected kNotFound";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("vocab.txt"), std::string::npos);
  }
  std::ofstream(dir.str("vocab.txt")) << "[PAD]\n[UNK]\nhello\n";
  try {
    WordPieceTokenizer::from_directory(dir.str());
    FAIL() << "expected kCorrupt";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
    EXPECT_NE(std::string(e.what()).find("[CLS]"), std::string::npos);
  }
}

}  // namespace
}  // namespace cir::testing
