// train_bpe on a small synthetic corpus: the files load, every sentence round-trips, frequent
// words become single tokens, and the result is deterministic and of the requested size.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "cir/text.h"
#include "test_support.h"

namespace {

using cir::text::BpeTrainOptions;
using cir::text::ClipTokenizer;

std::vector<std::string> synthetic_corpus() {
  const std::vector<std::string> colors = {"red", "blue", "green", "yellow", "purple", "cyan", "gray", "brown"};
  const std::vector<std::string> shapes = {"cube", "sphere", "cylinder", "cone", "torus", "pyramid"};
  const std::vector<std::string> relations = {"left of", "right of", "behind", "in front of", "on top of"};
  const std::vector<std::string> verbs = {"Make", "change", "Replace", "turn", "swap"};
  std::mt19937 rng(11);
  auto pick = [&](const std::vector<std::string>& v) { return v[rng() % v.size()]; };
  std::vector<std::string> corpus;
  for (int i = 0; i < 400; ++i) {
    corpus.push_back(pick(verbs) + " the " + pick(colors) + " " + pick(shapes) + " " + pick(relations) + " a " +
                     pick(colors) + " " + pick(shapes) + (i % 3 ? "." : ", please!") + (i % 7 ? "" : " It's 3 units."));
  }
  corpus.push_back(
      "A caf\xc3\xa9 with \xe2\x80\x9c"
      "curly\xe2\x80\x9d quotes &amp; \xf0\x9f\x90\xb6");
  return corpus;
}

std::string squeeze(const std::string& s) {
  std::string out;
  for (char c : s)
    if (c != ' ') out.push_back(c);
  return out;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(BpeTrainer, TrainsALoadableClipStyleVocabulary) {
  cir::testing::TempDir tmp;
  const auto corpus = synthetic_corpus();
  BpeTrainOptions options;
  options.vocab_size = 600;
  EXPECT_EQ(cir::text::train_bpe(corpus, options, tmp.str("bpe")), 600);
  EXPECT_TRUE(read_text(tmp.str("bpe/merges.txt")).starts_with("#version: 0.2\n"));

  const ClipTokenizer tok = ClipTokenizer::from_directory(tmp.str("bpe"));
  EXPECT_EQ(tok.vocab_size(), 600);
  EXPECT_EQ(tok.start_id(), 598);
  EXPECT_EQ(tok.end_id(), 599);
  EXPECT_EQ(tok.token_id("a"), 64);  // CLIP's layout: byte symbols in bytes_to_unicode order
  EXPECT_EQ(tok.token_id("a</w>"), 64 + 256);

  for (const std::string& sentence : corpus) {
    const auto ids = tok.encode(sentence);
    ASSERT_FALSE(ids.empty());
    for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < tok.vocab_size() - 2) << sentence;
    EXPECT_EQ(squeeze(tok.decode(ids)), squeeze(cir::text::clean_text(sentence))) << sentence;
  }
  for (const char* word : {"the", "cube", "sphere", "yellow", "cylinder", "of"}) {
    const auto id = tok.token_id(std::string(word) + "</w>");
    ASSERT_TRUE(id.has_value()) << word;
    EXPECT_EQ(tok.encode(word), std::vector<int32_t>{*id}) << word;
  }
}

TEST(BpeTrainer, IsDeterministicAndStopsAtMinFrequency) {
  cir::testing::TempDir tmp;
  const auto corpus = synthetic_corpus();
  cir::text::train_bpe(corpus, {}, tmp.str("one"));
  cir::text::train_bpe(corpus, {}, tmp.str("two"));
  EXPECT_EQ(read_text(tmp.str("one/vocab.json")), read_text(tmp.str("two/vocab.json")));
  EXPECT_EQ(read_text(tmp.str("one/merges.txt")), read_text(tmp.str("two/merges.txt")));
  // The corpus has far fewer than 1024 - 514 pairs seen twice: training stops early.
  const ClipTokenizer tok = ClipTokenizer::from_directory(tmp.str("one"));
  EXPECT_EQ(cir::text::train_bpe(corpus, {}, tmp.str("three")), tok.vocab_size());
  EXPECT_LT(tok.vocab_size(), 1024);
  EXPECT_GT(tok.vocab_size(), 514);

  BpeTrainOptions tiny;
  tiny.vocab_size = 514;
  cir::text::train_bpe({"aaa bbb"}, tiny, tmp.str("tiny"));
  EXPECT_EQ(ClipTokenizer::from_directory(tmp.str("tiny")).vocab_size(), 514);
}

TEST(BpeTrainer, TiesBreakLexicographically) {
  cir::testing::TempDir tmp;
  BpeTrainOptions options;
  options.vocab_size = 515;
  options.min_frequency = 1;
  // "zy" and "ab" both occur twice; ("a","b") wins the tie.
  cir::text::train_bpe({"zyx abc", "zyq abd"}, options, tmp.str("tie"));
  const std::string merges = read_text(tmp.str("tie/merges.txt"));
  EXPECT_EQ(merges, "#version: 0.2\na b\n");
}

TEST(BpeTrainer, RejectsBadOptions) {
  cir::testing::TempDir tmp;
  BpeTrainOptions small;
  small.vocab_size = 100;
  EXPECT_THROW(cir::text::train_bpe({"x"}, small, tmp.str()), cir::Error);
  BpeTrainOptions zero;
  zero.min_frequency = 0;
  EXPECT_THROW(cir::text::train_bpe({"x"}, zero, tmp.str()), cir::Error);
}

}  // namespace
