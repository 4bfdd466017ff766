// SEARLE's phrase table (generation.md §4.2, §4.4): the prompt, SEARLE's process_phrase, the
// concept filter, the request sent to /v1/completions (every decoding parameter, echo done
// client-side), the cache on a rerun, and the files (ours, the bare converted pickle, concept
// vocabularies as Open Images CSV or text).
#include <gtest/gtest.h>

#include <fstream>

#include "cir/gen.h"
#include "stub_server.h"
#include "test_support.h"

namespace cir::gen {
namespace {

using cir::testing::StubServer;
using cir::testing::TempDir;
using nlohmann::json;

std::string completion_body(const std::vector<std::string>& texts) {
  json choices = json::array();
  for (size_t i = 0; i < texts.size(); ++i) choices.push_back({{"index", i}, {"text", texts[i]}, {"finish_reason", "length"}});
  return json{{"object", "text_completion"}, {"model", "stub-base"}, {"choices", choices},
              {"usage", {{"prompt_tokens", 6}, {"completion_tokens", 20}}}}
      .dump();
}

void write(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

TEST(GenPhrases, PromptAndPostProcessingAreSearles) {
  EXPECT_EQ(phrase_prompt("  Red circle \n"), "a photo of Red circle that");
  // newline runs -> ". ", then dot runs -> "." (in that order, as SEARLE's two re.sub calls).
  EXPECT_EQ(process_phrase("a photo of a cat that sleeps\n\nIt is.\nbig..."), "a photo of a cat that sleeps. It is. big.");
  EXPECT_EQ(process_phrase("no change"), "no change");
  EXPECT_EQ(process_phrase("end.\n"), "end. ");
}

TEST(GenPhrases, MaxTokensSubtractsThePromptEstimate) {
  EXPECT_EQ(phrase_max_tokens("cat", 35), 35 - 5);          // a photo of cat that
  EXPECT_EQ(phrase_max_tokens("T-shirt", 35), 35 - 7);      // T, -, shirt
  EXPECT_EQ(phrase_max_tokens("cat", 3), 1);                // never below one
}

TEST(GenPhrases, ConceptFilterNeedsTheConceptInEveryPhrase) {
  EXPECT_TRUE(concept_passes_filter("cat", {"a photo of cat that sleeps", "a photo of cat that runs"}));
  EXPECT_FALSE(concept_passes_filter("cat", {"a photo of cat that sleeps", "a photo of a dog"}));
  EXPECT_FALSE(concept_passes_filter("cat", {}));
  PhraseTable table;
  table.phrases = {{"cat", {"a photo of cat that naps"}}, {"dog", {"a photo of a puppy"}}};
  const PhraseTable kept = filter_phrase_table(table);
  ASSERT_EQ(kept.phrases.size(), 1u);
  EXPECT_TRUE(kept.phrases.count("cat"));
}

TEST(GenPhrases, BuildsTheTableThroughCompletionsWithEveryParameterSent) {
  StubServer stub([](const httplib::Request& req, httplib::Response& res, int) {
    const json body = json::parse(req.body);
    const int n = body.value("n", 1);
    std::vector<std::string> texts;
    for (int i = 0; i < n; ++i) texts.push_back(" sits on a mat\nnumber " + std::to_string(i) + "..");
    res.set_content(completion_body(texts), "application/json");
  });
  TempDir tmp;
  ProviderSpec spec;
  spec.base_url = stub.base_url();
  spec.model = "stub-base";
  spec.cache_path = tmp.str("cache.sqlite");
  PhraseOptions options;
  options.n = 4;
  options.seed = 9;
  std::vector<std::string> failed;
  PhraseTable table;
  {
    auto provider = open_provider(spec);
    table = build_phrase_table(*provider, {"cat", " red circle "}, options, &failed);
  }
  EXPECT_TRUE(failed.empty());
  ASSERT_EQ(table.phrases.size(), 2u);
  ASSERT_EQ(table.phrases.at("red circle").size(), 4u);
  EXPECT_EQ(table.phrases.at("red circle")[1], "a photo of red circle that sits on a mat. number 1.");
  EXPECT_NE(table.source.find("stub-base"), std::string::npos);
  const auto seen = stub.requests();
  ASSERT_EQ(seen.size(), 2u);
  for (const auto& r : seen) {
    EXPECT_EQ(r.path, "/v1/completions");
    const json body = r.json();
    EXPECT_EQ(body["temperature"], 0.5);
    EXPECT_EQ(body["top_p"], 1.0);
    EXPECT_EQ(body["top_k"], 50);
    EXPECT_EQ(body["n"], 4);
    EXPECT_TRUE(body.contains("seed"));
    EXPECT_FALSE(body.contains("echo"));  // the prompt is prepended here: older llama.cpp rejects echo
    const std::string prompt = body["prompt"];
    EXPECT_EQ(body["max_tokens"], prompt == "a photo of cat that" ? 30 : 29);
  }
  // A rerun (after an interruption, or a second concept list) is answered by the cache.
  auto again = open_provider(spec);
  const PhraseTable replay = build_phrase_table(*again, {"cat", "red circle"}, options);
  EXPECT_EQ(replay.phrases, table.phrases);
  EXPECT_EQ(stub.request_count(), 2u);
  EXPECT_EQ(again->stats().requests, 0);
}

TEST(GenPhrases, AFailingConceptIsListedAndTheOthersKept) {
  StubServer stub([](const httplib::Request& req, httplib::Response& res, int) {
    if (json::parse(req.body)["prompt"] == "a photo of bad that") {
      res.status = 400;
      res.set_content(R"({"error":{"message":"prompt refused"}})", "application/json");
      return;
    }
    res.set_content(completion_body({" is fine"}), "application/json");
  });
  ProviderSpec spec;
  spec.base_url = stub.base_url();
  spec.model = "stub-base";
  spec.max_attempts = 1;
  auto provider = open_provider(spec);
  PhraseOptions options;
  options.n = 1;
  std::vector<std::string> failed;
  const PhraseTable table = build_phrase_table(*provider, {"good", "bad"}, options, &failed);
  EXPECT_EQ(table.phrases.size(), 1u);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_NE(failed[0].find("bad"), std::string::npos);
  EXPECT_NE(failed[0].find("prompt refused"), std::string::npos);
}

TEST(GenPhrases, TablesRoundTripAndTheConvertedPickleLayoutReads) {
  TempDir tmp;
  PhraseTable table;
  table.source = "tiny@http://127.0.0.1:1";
  table.phrases = {{"cat", {"a photo of cat that naps", "a photo of cat that runs"}}, {"d\xc3\xa9j\xc3\xa0", {"a photo of d\xc3\xa9j\xc3\xa0 that"}}};
  write_phrase_table(tmp.str("t.json"), table);
  const PhraseTable back = read_phrase_table(tmp.str("t.json"));
  EXPECT_EQ(back.phrases, table.phrases);
  EXPECT_EQ(back.source, table.source);
  write(tmp.str("bare.json"), R"({"cat": ["a photo of cat that naps"]})");
  const PhraseTable bare = read_phrase_table(tmp.str("bare.json"));
  EXPECT_EQ(bare.phrases.at("cat").size(), 1u);
  EXPECT_EQ(bare.source, "file:bare.json");
  write(tmp.str("bad.json"), R"({"cat": "not a list"})");
  try {
    read_phrase_table(tmp.str("bad.json"));
    ADD_FAILURE() << "a phrase table with a string for a list was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
    EXPECT_NE(std::string(e.what()).find("'cat'"), std::string::npos) << e.what();
  }
  write(tmp.str("empty.json"), "{}");
  EXPECT_THROW(read_phrase_table(tmp.str("empty.json")), Error);
}

TEST(GenPhrases, ConceptsReadFromOpenImagesCsvOrTextLines) {
  TempDir tmp;
  write(tmp.str("oid.csv"), "LabelName,DisplayName\r\n/m/011k07,Tortoise\r\n/m/0120dh,\"Toy, doll\"\r\n/m/x, Tortoise \r\n");
  EXPECT_EQ(read_concepts(tmp.str("oid.csv")), (std::vector<std::string>{"Tortoise", "Toy, doll"}));
  write(tmp.str("c.txt"), "red circle\n\n  blue square  \nred circle\n");
  EXPECT_EQ(read_concepts(tmp.str("c.txt")), (std::vector<std::string>{"red circle", "blue square"}));
  write(tmp.str("nohead.csv"), "a,b\n1,2\n");
  try {
    read_concepts(tmp.str("nohead.csv"));
    ADD_FAILURE() << "a CSV without DisplayName was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("DisplayName"), std::string::npos) << e.what();
  }
  write(tmp.str("blank.txt"), "\n \n");
  EXPECT_THROW(read_concepts(tmp.str("blank.txt")), Error);
}

}  // namespace
}  // namespace cir::gen
