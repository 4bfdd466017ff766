// ClipTokenizer against the reference ids of OpenAI's clip.tokenize (shared fixtures), across
// the three vocabulary formats, and on bad input. Tolerance: ids must be identical.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "cir/text.h"
#include "test_support.h"
#include "text/bpe.h"
#include "text/tokenizer_impl.h"

namespace {

using cir::ErrorCode;
using cir::testing::fixture_path;
using cir::text::ClipTokenizer;

const char* const kHfDir = "fixtures/clip/vit/hf";
const char* const kInputs = "fixtures/clip/vit/inputs.json";
const char* const kBenchmark = "fixtures/clip/tokens_benchmarks.jsonl";

struct Reference {
  std::string text;
  std::vector<int32_t> ids;  // [sot] ... [eot], not truncated
};

const ClipTokenizer& fixture_tokenizer() {
  static const ClipTokenizer tokenizer = ClipTokenizer::from_directory(fixture_path(kHfDir));
  return tokenizer;
}

std::vector<Reference> read_benchmark() {
  std::vector<Reference> refs;
  std::ifstream in(fixture_path(kBenchmark));
  std::string line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    refs.push_back({j["text"].get<std::string>(), j["ids"].get<std::vector<int32_t>>()});
  }
  return refs;
}

std::vector<int32_t> framed(const ClipTokenizer& tok, const std::string& text) {
  std::vector<int32_t> ids{tok.start_id()};
  const auto body = tok.encode(text);
  ids.insert(ids.end(), body.begin(), body.end());
  ids.push_back(tok.end_id());
  return ids;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_text(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

std::vector<std::string> fixture_merge_lines() {
  std::vector<std::string> lines;
  std::ifstream in(fixture_path(std::string(kHfDir) + "/merges.txt"));
  std::string line;
  while (std::getline(in, line))
    if (!line.empty() && !line.starts_with("#version")) lines.push_back(line);
  return lines;
}

// tokenizer.json as Hugging Face writes it, from the fixture's vocab.json + merges.txt.
void write_tokenizer_json(const std::string& path, bool pair_merges) {
  const auto vocab = nlohmann::json::parse(read_text(fixture_path(std::string(kHfDir) + "/vocab.json")));
  nlohmann::json merges = nlohmann::json::array();
  for (const std::string& line : fixture_merge_lines()) {
    if (pair_merges)
      merges.push_back({line.substr(0, line.find(' ')), line.substr(line.find(' ') + 1)});
    else
      merges.push_back(line);
  }
  nlohmann::json root = {
      {"version", "1.0"},
      {"added_tokens",
       {{{"id", 49406}, {"content", "<|startoftext|>"}}, {{"id", 49407}, {"content", "<|endoftext|>"}}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}}};
  write_text(path, root.dump());
}

// OpenAI's bpe_simple_vocab_16e6.txt.gz layout: a header line, then the merges.
void write_openai_bpe(const std::string& path) {
  std::string text = "\"bpe_simple_vocab_16e6.txt#version: 0.2\n";
  for (const std::string& line : fixture_merge_lines()) text += line + "\n";
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, text.data(), static_cast<unsigned>(text.size())), static_cast<int>(text.size()));
  gzclose(f);
}

template <typename Fn>
void expect_error(ErrorCode code, const std::string& mention, Fn fn) {
  try {
    fn();
    ADD_FAILURE() << "expected cir::Error mentioning '" << mention << "'";
  } catch (const cir::Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(mention), std::string::npos) << e.what();
  }
}

TEST(ClipTokenizerGolden, InputsMatchClipTokenize) {
  CIR_REQUIRE_FIXTURE(kInputs);
  const auto inputs = nlohmann::json::parse(read_text(fixture_path(kInputs)));
  const auto texts = inputs["texts"].get<std::vector<std::string>>();
  const auto expected = inputs["tokens"].get<std::vector<std::vector<int32_t>>>();
  ASSERT_EQ(texts.size(), 18u);
  const auto& tok = fixture_tokenizer();
  EXPECT_EQ(tok.start_id(), 49406);
  EXPECT_EQ(tok.end_id(), 49407);
  EXPECT_EQ(tok.vocab_size(), 49408);
  const cir::TokenBatch batch = tok.tokenize(texts, 77);
  ASSERT_EQ(batch.n_texts, 18);
  ASSERT_EQ(batch.context_length, 77);
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::vector<int32_t> row(batch.ids.begin() + static_cast<std::ptrdiff_t>(i * 77),
                                   batch.ids.begin() + static_cast<std::ptrdiff_t>((i + 1) * 77));
    EXPECT_EQ(row, expected[i]) << "text " << i << ": " << texts[i];
    const auto real = std::count_if(expected[i].begin(), expected[i].end(), [](int32_t id) { return id != 0; });
    EXPECT_EQ(batch.lengths[i], real) << "text " << i;
  }
}

TEST(ClipTokenizerGolden, AllBenchmarkStringsMatch) {
  CIR_REQUIRE_FIXTURE(kBenchmark);
  const auto refs = read_benchmark();
  ASSERT_EQ(refs.size(), 51306u);
  const auto& tok = fixture_tokenizer();
  size_t matched = 0;
  for (const auto& ref : refs) {
    const auto ids = framed(tok, ref.text);
    if (ids == ref.ids)
      ++matched;
    else
      ADD_FAILURE() << "mismatch for '" << ref.text << "'";
  }
  std::cout << "[ golden   ] " << matched << "/" << refs.size() << " match\n";
  EXPECT_EQ(matched, refs.size());
  // tokenize() with a context long enough for every row gives the same ids, zero padded.
  std::vector<std::string> texts;
  for (size_t i = 0; i < refs.size(); i += 97) texts.push_back(refs[i].text);
  const auto batch = tok.tokenize(texts, 128);
  for (size_t r = 0; r < texts.size(); ++r) {
    const auto& want = refs[r * 97].ids;
    ASSERT_EQ(batch.lengths[r], static_cast<int32_t>(want.size()));
    EXPECT_TRUE(std::equal(want.begin(), want.end(), batch.ids.begin() + static_cast<std::ptrdiff_t>(r * 128)));
    EXPECT_EQ(batch.ids[r * 128 + want.size()], 0);
  }
}

TEST(ClipTokenizerGolden, TruncationKeepsEndToken) {
  CIR_REQUIRE_FIXTURE(kHfDir);
  const auto& tok = fixture_tokenizer();
  const auto batch = tok.tokenize({"a photo of a cat", ""}, 4);
  EXPECT_EQ(std::vector<int32_t>(batch.ids.begin(), batch.ids.begin() + 4),
            (std::vector<int32_t>{49406, 320, 1125, 49407}));
  EXPECT_EQ(std::vector<int32_t>(batch.ids.begin() + 4, batch.ids.end()), (std::vector<int32_t>{49406, 49407, 0, 0}));
  EXPECT_EQ(batch.lengths, (std::vector<int32_t>{4, 2}));
  EXPECT_EQ(tok.tokenize({"cat"}, 1).ids, (std::vector<int32_t>{49407}));
  expect_error(ErrorCode::kInvalidArgument, "context_length", [&] { tok.tokenize({"x"}, 0); });
}

TEST(ClipTokenizerFormats, TokenizerJsonAndOpenAiBpeGiveTheSameIds) {
  CIR_REQUIRE_FIXTURE(kHfDir);
  CIR_REQUIRE_FIXTURE(kBenchmark);
  cir::testing::TempDir tmp;
  std::filesystem::create_directories(tmp.str("json_strings"));
  std::filesystem::create_directories(tmp.str("json_pairs"));
  std::filesystem::create_directories(tmp.str("openai"));
  write_tokenizer_json(tmp.str("json_strings/tokenizer.json"), false);
  write_tokenizer_json(tmp.str("json_pairs/tokenizer.json"), true);
  write_openai_bpe(tmp.str("openai/bpe_simple_vocab_16e6.txt.gz"));
  std::vector<ClipTokenizer> others;
  others.push_back(ClipTokenizer::from_directory(tmp.str("json_strings")));
  others.push_back(ClipTokenizer::from_tokenizer_json(tmp.str("json_pairs/tokenizer.json")));
  others.push_back(ClipTokenizer::from_directory(tmp.str("openai")));
  const auto& hf = fixture_tokenizer();
  const auto refs = read_benchmark();
  for (const auto& other : others) {
    EXPECT_EQ(other.vocab_size(), hf.vocab_size());
    EXPECT_EQ(other.start_id(), 49406);
    EXPECT_EQ(other.end_id(), 49407);
    for (size_t i = 0; i < refs.size(); i += 7) ASSERT_EQ(framed(other, refs[i].text), refs[i].ids) << refs[i].text;
  }
}

TEST(ClipTokenizerBpe, PriorityQueueEqualsClipLoop) {
  CIR_REQUIRE_FIXTURE(kHfDir);
  const std::string dir = fixture_path(kHfDir);
  const cir::text::detail::BpeModel bpe(cir::text::detail::read_vocab_merges(dir + "/vocab.json", dir + "/merges.txt"));
  std::mt19937 rng(7);
  const std::string alphabet = "aaabbeeinorst-.'\xc3\xa9\xe6\x97\xa5";
  for (int trial = 0; trial < 20000; ++trial) {
    std::string word;
    const int len = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < len; ++i) word.push_back(alphabet[rng() % alphabet.size()]);
    std::vector<int32_t> fast, reference;
    bpe.encode_word(word, fast);
    bpe.encode_word_reference(word, reference);
    ASSERT_EQ(fast, reference) << word;
  }
}

TEST(ClipTokenizerRobustness, InvalidUtf8IsReplacementCharacters) {
  CIR_REQUIRE_FIXTURE(kHfDir);
  const auto& tok = fixture_tokenizer();
  EXPECT_NO_THROW(tok.encode("\xff\xfe\xc0 bad \xe2\x82 bytes \xed\xa0\x80"));
  EXPECT_EQ(tok.encode("a\xff"
                       "b"),
            tok.encode("a\xef\xbf\xbd"
                       "b"));
  EXPECT_EQ(tok.encode(std::string("nul\0byte", 8)), tok.encode("nulbyte"));
}

TEST(ClipTokenizerRobustness, MegabyteInputsFinish) {
  CIR_REQUIRE_FIXTURE(kHfDir);
  const auto& tok = fixture_tokenizer();
  const size_t mb = size_t{1} << 20;
  EXPECT_FALSE(tok.encode(std::string(mb, 'a')).empty());  // one 1M-letter word
  std::string words;
  std::mt19937 rng(3);
  while (words.size() < mb) words += "word" + std::to_string(rng() % 100000) + (rng() % 5 ? " " : ", ");
  EXPECT_FALSE(tok.encode(words).empty());
  std::string noise(mb, '\0');
  for (char& c : noise) c = static_cast<char>(rng());
  EXPECT_NO_THROW(tok.encode(noise));
  std::string nested = "&";
  while (nested.size() < mb) nested += "amp;";
  EXPECT_FALSE(tok.encode(nested).empty());
  std::string accents;
  while (accents.size() < mb) accents += "e\xcc\x81\xef\xac\x81\xe6\x97\xa5";
  EXPECT_FALSE(tok.encode(accents).empty());
  EXPECT_EQ(tok.tokenize({std::string(mb, 'b')}).lengths[0], 77);
}

TEST(ClipTokenizerRobustness, ConcurrentCallersAgree) {
  CIR_REQUIRE_FIXTURE(kBenchmark);
  const auto refs = read_benchmark();
  const auto& tok = fixture_tokenizer();
  tok.clear_cache();
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = static_cast<size_t>(t); i < refs.size(); i += 3)
        if (framed(tok, refs[i].text) != refs[i].ids) ++mismatches;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(ClipTokenizerApi, TokenIdAndDecode) {
  CIR_REQUIRE_FIXTURE(kHfDir);
  const auto& tok = fixture_tokenizer();
  EXPECT_EQ(tok.token_id("$</w>"), 259);
  EXPECT_EQ(tok.token_id("<|endoftext|>"), 49407);
  EXPECT_FALSE(tok.token_id("no such token").has_value());
  EXPECT_EQ(tok.decode(tok.encode("A café, 日本!")), "a café , 日本 ! ");
  expect_error(ErrorCode::kInvalidArgument, "49408", [&] { tok.decode({49408}); });
}

TEST(ClipTokenizerErrors, MissingFilesNameThePath) {
  cir::testing::TempDir tmp;
  expect_error(ErrorCode::kNotFound, tmp.str("nope"), [&] { ClipTokenizer::from_directory(tmp.str("nope")); });
  expect_error(ErrorCode::kNotFound, tmp.str(), [&] { ClipTokenizer::from_directory(tmp.str()); });
  expect_error(ErrorCode::kNotFound, tmp.str("v.json"),
               [&] { ClipTokenizer::from_vocab_merges(tmp.str("v.json"), tmp.str("m.txt")); });
  expect_error(ErrorCode::kNotFound, tmp.str("t.json"), [&] { ClipTokenizer::from_tokenizer_json(tmp.str("t.json")); });
  expect_error(ErrorCode::kNotFound, tmp.str("b.gz"), [&] { ClipTokenizer::from_openai_bpe(tmp.str("b.gz")); });
  write_text(tmp.str("vocab.json"), "{}");
  expect_error(ErrorCode::kNotFound, "merges.txt", [&] { ClipTokenizer::from_directory(tmp.str()); });
}

TEST(ClipTokenizerErrors, DamagedFilesAreCorrupt) {
  CIR_REQUIRE_FIXTURE(kHfDir);
  cir::testing::TempDir tmp;
  const std::string vocab = read_text(fixture_path(std::string(kHfDir) + "/vocab.json"));
  const std::string merges = read_text(fixture_path(std::string(kHfDir) + "/merges.txt"));
  write_text(tmp.str("garbled.json"), vocab.substr(0, vocab.size() / 2));
  write_text(tmp.str("merges.txt"), merges);
  expect_error(ErrorCode::kCorrupt, tmp.str("garbled.json"),
               [&] { ClipTokenizer::from_vocab_merges(tmp.str("garbled.json"), tmp.str("merges.txt")); });
  write_text(tmp.str("list.json"), "[1, 2, 3]");
  expect_error(ErrorCode::kCorrupt, "object",
               [&] { ClipTokenizer::from_vocab_merges(tmp.str("list.json"), tmp.str("merges.txt")); });
  write_text(tmp.str("badid.json"), R"({"a": "one"})");
  expect_error(ErrorCode::kCorrupt, "'a'",
               [&] { ClipTokenizer::from_vocab_merges(tmp.str("badid.json"), tmp.str("merges.txt")); });
  write_text(tmp.str("vocab.json"), vocab);
  write_text(tmp.str("unknown.txt"), "#version: 0.2\ni n\nQQQ ZZZ\n");
  expect_error(ErrorCode::kCorrupt, "'QQQ'",
               [&] { ClipTokenizer::from_vocab_merges(tmp.str("vocab.json"), tmp.str("unknown.txt")); });
  write_text(tmp.str("threefields.txt"), "#version: 0.2\ni n\na b c\n");
  expect_error(ErrorCode::kCorrupt, "line 3",
               [&] { ClipTokenizer::from_vocab_merges(tmp.str("vocab.json"), tmp.str("threefields.txt")); });
  write_text(tmp.str("nospecial.json"), R"({"a": 0})");
  expect_error(ErrorCode::kCorrupt, "byte",
               [&] { ClipTokenizer::from_vocab_merges(tmp.str("nospecial.json"), tmp.str("merges.txt")); });
  write_text(tmp.str("bpe.gz"), "this is not gzip data at all");
  expect_error(ErrorCode::kCorrupt, tmp.str("bpe.gz"), [&] { ClipTokenizer::from_openai_bpe(tmp.str("bpe.gz")); });
  write_text(tmp.str("tokenizer.json"), R"({"model": {"type": "WordPiece", "vocab": {}}})");
  expect_error(ErrorCode::kUnsupported, "WordPiece",
               [&] { ClipTokenizer::from_tokenizer_json(tmp.str("tokenizer.json")); });
  write_text(tmp.str("tokenizer.json"), R"({"model": {"type": "BPE", "vocab": {}, "merges": [3]}})");
  expect_error(ErrorCode::kCorrupt, "model.merges",
               [&] { ClipTokenizer::from_tokenizer_json(tmp.str("tokenizer.json")); });
}

TEST(ClipTokenizerErrors, VocabularyWithoutSpecialTokens) {
  cir::testing::TempDir tmp;
  nlohmann::json vocab = nlohmann::json::object();
  const auto base = cir::text::detail::base_vocabulary();
  for (size_t i = 0; i < base.size(); ++i) vocab[base[i]] = i;
  write_text(tmp.str("vocab.json"), vocab.dump());
  write_text(tmp.str("merges.txt"), "#version: 0.2\n");
  expect_error(ErrorCode::kCorrupt, "<|startoftext|>", [&] { ClipTokenizer::from_directory(tmp.str()); });
}

}  // namespace
