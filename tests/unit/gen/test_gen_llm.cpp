// cir_gen against a real OpenAI-compatible server: inference-server 1.0.0-beta.32 on
// node-llama-cpp 3.6.0 (llama.cpp b4753, CPU) serving a tiny random-weight llama GGUF written by
// tests/llm/write_tiny_gguf.mjs. Skipped, saying so, when `npm ci --prefix tests/llm` has not run.
#include <gtest/gtest.h>

#include "cir/gen.h"
#include "llm_server.h"
#include "test_support.h"

namespace cir::gen {
namespace {

using cir::testing::LlmServer;
using cir::testing::TempDir;

// A 1x1 PNG: the server decodes image parts (sharp) and then ignores them.
const std::vector<uint8_t> kOnePixelPng = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49,
    0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0xfc, 0xcf, 0xc0, 0x50, 0x0f, 0x00, 0x04, 0x85, 0x01, 0x80, 0x84, 0xa9, 0x8c,
    0x21, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};

class GenLlm : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string dir = cir::testing::llm_server_dir();
    if (dir.empty()) return;
    work_ = new TempDir();
    server_ = new LlmServer(dir, work_->str());
    server_->start();
  }
  static void TearDownTestSuite() {
    delete server_;
    delete work_;
    server_ = nullptr;
    work_ = nullptr;
  }
  void SetUp() override {
    if (!server_)
      GTEST_SKIP() << "the npm LLM test server is not installed (run scripts/setup, or `npm ci --prefix tests/llm` "
                      "with node on PATH)";
  }

  ProviderSpec spec(const std::string& cache_name = "") const {
    ProviderSpec s;
    s.base_url = server_->base_url();
    s.model = "tiny-llama";
    s.model_fingerprint = sha256_file(server_->model_path());
    s.max_concurrency = 2;
    s.read_timeout_s = 60;
    s.max_attempts = 2;
    if (!cache_name.empty()) s.cache_path = work_->str(cache_name);
    return s;
  }

  static ChatRequest chat_request(const std::string& text, uint64_t seed) {
    ChatRequest request;
    ContentPart part;
    part.text = text;
    request.messages.push_back(ChatMessage{"user", {part}});
    request.sampling.temperature = 0.8;
    request.sampling.top_p = 0.95;
    request.sampling.max_tokens = 6;
    request.sampling.seed = seed;
    return request;
  }

  static TempDir* work_;
  static LlmServer* server_;
};

TempDir* GenLlm::work_ = nullptr;
LlmServer* GenLlm::server_ = nullptr;

TEST_F(GenLlm, TextChatIsAcceptedAndParsed) {
  auto provider = open_provider(spec());
  const Generation g = provider->chat(chat_request("describe a red car", 1));
  ASSERT_EQ(g.texts.size(), 1u);
  EXPECT_FALSE(g.texts[0].empty());
  EXPECT_EQ(g.finish_reasons[0], "length");  // the random model never picks EOS; max_tokens ends it
  EXPECT_EQ(g.model_reported, "tiny-llama");
  EXPECT_EQ(g.usage.completion_tokens, 6);
  EXPECT_GT(g.usage.prompt_tokens, 0);
}

TEST_F(GenLlm, ImageChatIsAccepted) {
  ChatRequest request = chat_request("caption this image", 2);
  ContentPart image;
  image.image_bytes = kOnePixelPng;
  image.image_mime = "image/png";
  request.messages[0].content.insert(request.messages[0].content.begin(), image);
  const Generation g = open_provider(spec())->chat(request);
  ASSERT_EQ(g.texts.size(), 1u);
  EXPECT_FALSE(g.texts[0].empty());
}

TEST_F(GenLlm, CompletionsAreAcceptedAndParsed) {
  CompletionRequest request;
  request.prompt = "a photo of a dog that";
  request.sampling.temperature = 0.5;
  request.sampling.max_tokens = 5;
  request.sampling.seed = 3;
  const Generation g = open_provider(spec())->complete(request);
  ASSERT_EQ(g.texts.size(), 1u);
  EXPECT_FALSE(g.texts[0].empty());
  EXPECT_EQ(g.usage.completion_tokens, 5);
}

TEST_F(GenLlm, NIsFannedOutBecauseTheServerIgnoresIt) {
  ChatRequest request = chat_request("three captions", 40);
  request.sampling.n = 3;
  auto provider = open_provider(spec());
  const Generation g = provider->chat(request);
  EXPECT_EQ(g.texts.size(), 3u);
  EXPECT_EQ(provider->stats().requests, 4);  // the n = 3 request got one choice, then 3 singles
}

TEST_F(GenLlm, RepeatIsServedFromTheCacheWithoutHttp) {
  const ChatRequest request = chat_request("cache me", 5);
  std::string first;
  {
    auto provider = open_provider(spec("cache.sqlite"));
    first = provider->chat(request).texts.at(0);
    const Generation again = provider->chat(request);
    EXPECT_TRUE(again.from_cache);
    EXPECT_EQ(again.texts.at(0), first);
    EXPECT_EQ(provider->stats().requests, 1);
  }
  auto rerun = open_provider(spec("cache.sqlite"));
  EXPECT_EQ(rerun->chat(request).texts.at(0), first);
  EXPECT_EQ(rerun->stats().requests, 0);
  EXPECT_EQ(rerun->stats().cache_hits, 1);
}

TEST_F(GenLlm, EditorsRunEndToEnd) {
  SamplingOptions sampling;
  sampling.max_tokens = 8;
  auto editor = make_editor("seize_ldre", open_provider(spec()), &sampling);
  const auto results = editor->edit_batch({{"a man on a bike", "make it a woman", {}}, {"a dog", "add a hat", {}}});
  ASSERT_EQ(results.size(), 2u);
  for (const EditResult& r : results) {
    EXPECT_FALSE(r.text.empty());
    EXPECT_EQ(r.failed, r.raw.empty());
  }
}

TEST_F(GenLlm, StoppedServerGivesAClearErrorAndARestartRecovers) {
  auto provider = open_provider(spec("restart.sqlite"));
  provider->chat(chat_request("before the stop", 10));
  const int port = server_->port();
  server_->stop();
  try {
    provider->chat(chat_request("while it is down", 11));
    ADD_FAILURE() << "a stopped server answered";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    EXPECT_NE(std::string(e.what()).find(server_->base_url() + "/chat/completions"), std::string::npos) << e.what();
  }
  server_->start(port);
  const Generation g = provider->chat(chat_request("while it is down", 11));
  EXPECT_EQ(g.texts.size(), 1u);
  EXPECT_FALSE(g.from_cache);
  EXPECT_EQ(provider->stats().failures, 1);
}

}  // namespace
}  // namespace cir::gen
