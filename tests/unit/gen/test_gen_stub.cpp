// The provider against a local httplib stub: retries and their limits (§6.3), error messages,
// the cache (§6.7), the API key's confinement, n fan-out, the concurrency bound, HTTPS, and the
// captioner/editor behaviour on top (§2, §3, §6.5).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cir/gen.h"
#include "gen/prompts.h"
#include "stub_server.h"
#include "test_support.h"

namespace cir::gen {
namespace {

using cir::testing::StubServer;
using cir::testing::TempDir;
using nlohmann::json;

ProviderSpec spec_for(const StubServer& stub, int max_attempts = 3) {
  ProviderSpec spec;
  spec.base_url = stub.base_url();
  spec.model = "stub-model";
  spec.max_attempts = max_attempts;
  spec.read_timeout_s = 10;
  return spec;
}

ChatRequest text_request(const std::string& text = "hello") {
  ChatRequest request;
  ContentPart part;
  part.text = text;
  request.messages.push_back(ChatMessage{"user", {part}});
  request.sampling.temperature = 0.5;
  request.sampling.max_tokens = 16;
  request.sampling.seed = 7;
  return request;
}

// The error a call throws, or a failure when it does not throw.
Error error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "the call did not throw";
  return Error(ErrorCode::kInternal, "");
}

void reply(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body, "application/json");
}

// Every byte of the SQLite cache, WAL and shared-memory files included.
std::string cache_bytes(const std::string& path) {
  std::string all;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::ifstream in(path + suffix, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    all += ss.str();
  }
  return all;
}

TEST(GenStub, SendsTheRequestAndParsesTheAnswer) {
  StubServer stub([](const auto&, auto& res, int) { reply(res, 200, StubServer::chat_body({"a cat"})); });
  auto provider = open_provider(spec_for(stub));
  const Generation g = provider->chat(text_request());
  EXPECT_EQ(g.texts, std::vector<std::string>{"a cat"});
  EXPECT_EQ(g.finish_reasons, std::vector<std::string>{"stop"});
  EXPECT_EQ(g.model_reported, "stub-model");
  EXPECT_FALSE(g.from_cache);
  const auto seen = stub.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].path, "/v1/chat/completions");
  const json body = seen[0].json();
  EXPECT_EQ(body["temperature"], 0.5);
  EXPECT_EQ(body["top_p"], 1.0);
  EXPECT_EQ(body["max_tokens"], 16);
  EXPECT_EQ(body["seed"], 7);
  EXPECT_EQ(body["stream"], false);
  EXPECT_EQ(body["messages"][0]["content"], "hello");
  const ProviderStats stats = provider->stats();
  EXPECT_EQ(stats.requests, 1);
  EXPECT_EQ(stats.generations, 1);
  EXPECT_EQ(stats.usage.completion_tokens, 3);
  EXPECT_EQ(provider->describe(), "stub-model@" + stub.base_url() + "/v1");
}

TEST(GenStub, CompletionsEndpointAndV1Base) {
  StubServer stub([](const auto&, auto& res, int) {
    reply(res, 200, R"({"model":"x","choices":[{"index":0,"text":" that is red","finish_reason":"length"}]})");
  });
  ProviderSpec spec = spec_for(stub);
  spec.base_url += "/v1/";
  CompletionRequest request;
  request.prompt = "a photo of a car that";
  request.sampling.temperature = 0.5;
  request.sampling.n = 1;
  const Generation g = open_provider(spec)->complete(request);
  EXPECT_EQ(g.texts, std::vector<std::string>{" that is red"});
  ASSERT_EQ(stub.request_count(), 1u);
  EXPECT_EQ(stub.requests()[0].path, "/v1/completions");
  EXPECT_EQ(stub.requests()[0].json()["prompt"], "a photo of a car that");
}

TEST(GenStub, RateLimitWithRetryAfterIsRetriedThenSucceeds) {
  StubServer stub([](const auto&, auto& res, int call) {
    if (call == 0) {
      res.set_header("Retry-After", "0.2");
      reply(res, 429, R"({"error":{"message":"Rate limit reached","type":"requests"}})");
    } else if (call == 1) {
      res.set_header("retry-after-ms", "50");
      reply(res, 503, R"({"error":{"message":"Loading model","type":"unavailable_error"}})");
    } else {
      reply(res, 200, StubServer::chat_body({"ok"}));
    }
  });
  auto provider = open_provider(spec_for(stub));
  EXPECT_EQ(provider->chat(text_request()).texts, std::vector<std::string>{"ok"});
  EXPECT_EQ(stub.request_count(), 3u);
  EXPECT_EQ(provider->stats().retries, 2);
  EXPECT_EQ(provider->stats().failures, 0);
}

TEST(GenStub, QuotaExhaustedIsNotRetried) {
  StubServer stub([](const auto&, auto& res, int) {
    reply(res, 429,
          R"({"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","code":"insufficient_quota"}})");
  });
  auto provider = open_provider(spec_for(stub, 6));
  const Error e = error_of([&] { provider->chat(text_request()); });
  EXPECT_EQ(e.code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(std::string(e.what()).find("You exceeded your current quota"), std::string::npos) << e.what();
  EXPECT_EQ(stub.request_count(), 1u);
  EXPECT_EQ(provider->stats().failures, 1);
}

TEST(GenStub, RetryAfterBeyond120SecondsIsSurfaced) {
  StubServer stub([](const auto&, auto& res, int) {
    res.set_header("Retry-After", "3600");
    reply(res, 429, R"({"error":{"message":"slow down"}})");
  });
  const Error e = error_of([&] { open_provider(spec_for(stub, 6))->chat(text_request()); });
  EXPECT_EQ(e.code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(std::string(e.what()).find("3600"), std::string::npos) << e.what();
  EXPECT_EQ(stub.request_count(), 1u);
}

TEST(GenStub, ServerErrorsAreRetriedUpToMaxAttempts) {
  StubServer stub([](const auto&, auto& res, int) { reply(res, 500, R"({"error":{"message":"boom"}})"); });
  auto provider = open_provider(spec_for(stub, 3));
  const Error e = error_of([&] { provider->chat(text_request()); });
  EXPECT_EQ(e.code(), ErrorCode::kIo);
  const std::string what = e.what();
  EXPECT_NE(what.find(stub.base_url() + "/v1/chat/completions"), std::string::npos) << what;
  EXPECT_NE(what.find("gave up after 3 attempts"), std::string::npos) << what;
  EXPECT_NE(what.find("boom"), std::string::npos) << what;
  EXPECT_EQ(stub.request_count(), 3u);
  EXPECT_EQ(provider->stats().retries, 2);
}

TEST(GenStub, ShouldRetryFalseStopsRetries) {
  StubServer stub([](const auto&, auto& res, int) {
    res.set_header("x-should-retry", "false");
    reply(res, 503, "{}");
  });
  EXPECT_EQ(error_of([&] { open_provider(spec_for(stub, 6))->chat(text_request()); }).code(), ErrorCode::kIo);
  EXPECT_EQ(stub.request_count(), 1u);
}

TEST(GenStub, BadRequestIsNotRetriedAndQuotesTheProvider) {
  StubServer stub([](const auto&, auto& res, int) {
    reply(res, 400, R"({"error":{"message":"'messages' must contain the word json","type":"invalid_request_error"}})");
  });
  auto provider = open_provider(spec_for(stub, 6));
  const Error e = error_of([&] { provider->chat(text_request()); });
  EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  const std::string what = e.what();
  EXPECT_NE(what.find("'messages' must contain the word json"), std::string::npos) << what;
  EXPECT_NE(what.find(stub.base_url()), std::string::npos) << what;
  EXPECT_NE(what.find("stub-model"), std::string::npos) << what;
  EXPECT_EQ(stub.request_count(), 1u);
  // Failures are not cached: the same request goes out again.
  EXPECT_THROW(provider->chat(text_request()), Error);
  EXPECT_EQ(stub.request_count(), 2u);
}

TEST(GenStub, AuthAndMissingModelAreUnsupported) {
  StubServer stub([](const auto&, auto& res, int call) {
    reply(res, call == 0 ? 401 : 404, R"({"error":{"message":"no"}})");
  });
  auto provider = open_provider(spec_for(stub, 6));
  EXPECT_EQ(error_of([&] { provider->chat(text_request()); }).code(), ErrorCode::kUnsupported);
  EXPECT_EQ(error_of([&] { provider->chat(text_request()); }).code(), ErrorCode::kUnsupported);
  EXPECT_EQ(stub.request_count(), 2u);
}

TEST(GenStub, MalformedBodiesGiveAClearError) {
  StubServer stub([](const auto&, auto& res, int call) {
    if (call == 0) reply(res, 200, "{\"choices\": [{\"message\": ");
    else {
      res.status = 200;
      res.set_content("<html><body>Welcome to nginx!</body></html>", "text/html");
    }
  });
  auto provider = open_provider(spec_for(stub, 6));
  for (const char* expected : {"{\"choices\": [{\"message\":", "<html><body>Welcome to nginx!"}) {
    const Error e = error_of([&] { provider->chat(text_request()); });
    EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
    EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(stub.base_url()), std::string::npos) << e.what();
  }
  EXPECT_EQ(stub.request_count(), 2u);  // not retried
}

TEST(GenStub, UnreachableServerNamesTheUrl) {
  int port;
  {
    StubServer gone([](const auto&, auto&, int) {});
    port = gone.port();
  }
  ProviderSpec spec;
  spec.base_url = "http://127.0.0.1:" + std::to_string(port);
  spec.model = "m";
  spec.max_attempts = 2;
  auto provider = open_provider(spec);
  const Error e = error_of([&] { provider->chat(text_request()); });
  EXPECT_EQ(e.code(), ErrorCode::kIo);
  EXPECT_NE(std::string(e.what()).find(spec.base_url + "/v1/chat/completions"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("could not connect"), std::string::npos) << e.what();
  EXPECT_EQ(provider->stats().requests, 2);
}

TEST(GenStub, ReadTimeoutAndDeadline) {
  StubServer stub([](const auto&, auto& res, int) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    reply(res, 200, StubServer::chat_body({"late"}));
  });
  ProviderSpec spec = spec_for(stub, 1);
  spec.read_timeout_s = 0.3;
  const Error timeout = error_of([&] { open_provider(spec)->chat(text_request()); });
  EXPECT_EQ(timeout.code(), ErrorCode::kIo);
  EXPECT_NE(std::string(timeout.what()).find("read timeout"), std::string::npos) << timeout.what();

  spec.max_attempts = 6;
  spec.deadline_s = 0.5;
  const Error over = error_of([&] { open_provider(spec)->chat(text_request()); });
  EXPECT_EQ(over.code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(std::string(over.what()).find("deadline"), std::string::npos) << over.what();
}

TEST(GenStub, CacheServesRepeatsAndRerunsWithoutHttp) {
  TempDir dir;
  StubServer stub([](const auto&, auto& res, int call) {
    reply(res, 200, StubServer::chat_body({"answer " + std::to_string(call)}));
  });
  ProviderSpec spec = spec_for(stub);
  spec.cache_path = dir.str("cache/gen.sqlite");
  {
    auto provider = open_provider(spec);
    EXPECT_EQ(provider->chat(text_request()).texts[0], "answer 0");
    const Generation again = provider->chat(text_request());
    EXPECT_EQ(again.texts[0], "answer 0");
    EXPECT_TRUE(again.from_cache);
    EXPECT_EQ(provider->stats().cache_hits, 1);
    EXPECT_EQ(provider->stats().requests, 1);
    ChatRequest other = text_request();
    other.sampling.temperature = 0.6;  // a different request is a miss
    EXPECT_EQ(provider->chat(other).texts[0], "answer 1");
  }
  // A rerun (new provider, other URL port irrelevant to the key) makes no HTTP call.
  auto rerun = open_provider(spec);
  EXPECT_EQ(rerun->chat(text_request()).texts[0], "answer 0");
  EXPECT_EQ(rerun->stats().requests, 0);
  EXPECT_EQ(stub.request_count(), 2u);
}

TEST(GenStub, ApiKeyGoesInTheHeaderOnly) {
  TempDir dir;
  const std::string key = "sk-test-SECRET-0123456789";
  StubServer stub([&](const httplib::Request& req, auto& res, int call) {
    if (call == 0) {
      // Like OpenAI's "Incorrect API key provided: sk-...": the server echoes the key back.
      reply(res, 401, json{{"error", {{"message", "Incorrect API key provided: " + req.get_header_value("Authorization")}}}}.dump());
    } else {
      reply(res, 200, StubServer::chat_body({"fine"}));
    }
  });
  ProviderSpec spec = spec_for(stub);
  spec.api_key = key;
  spec.cache_path = dir.str("gen.sqlite");
  auto provider = open_provider(spec);
  const Error e = error_of([&] { provider->chat(text_request()); });
  EXPECT_EQ(std::string(e.what()).find(key), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("[redacted]"), std::string::npos) << e.what();
  EXPECT_EQ(provider->chat(text_request()).texts[0], "fine");
  EXPECT_EQ(stub.requests()[1].authorization, "Bearer " + key);
  EXPECT_EQ(stub.requests()[1].body.find(key), std::string::npos);
  EXPECT_EQ(provider->describe().find(key), std::string::npos);
  const std::string bytes = cache_bytes(spec.cache_path);
  ASSERT_NE(bytes.find("fine"), std::string::npos);  // the row is there...
  EXPECT_EQ(bytes.find(key), std::string::npos);     // ...and the key is not
  EXPECT_EQ(bytes.find("SECRET"), std::string::npos);
}

TEST(GenStub, ApiKeyFromEnvironment) {
  StubServer stub([](const auto&, auto& res, int) { reply(res, 200, StubServer::chat_body({"x"})); });
  ::setenv("OPENAI_API_KEY", "sk-openai-env", 1);
  ::unsetenv("CIR_LLM_API_KEY");
  open_provider(spec_for(stub))->chat(text_request());
  ::setenv("CIR_LLM_API_KEY", "sk-cir-env", 1);
  open_provider(spec_for(stub))->chat(text_request());
  ::unsetenv("CIR_LLM_API_KEY");
  ::unsetenv("OPENAI_API_KEY");
  open_provider(spec_for(stub))->chat(text_request());
  const auto seen = stub.requests();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].authorization, "Bearer sk-openai-env");
  EXPECT_EQ(seen[1].authorization, "Bearer sk-cir-env");
  EXPECT_EQ(seen[2].authorization, "");
}

TEST(GenStub, IgnoredNIsFannedOutWithSeedsAndCached) {
  TempDir dir;
  // Like Ollama or inference-server: one choice whatever n says.
  StubServer stub([](const httplib::Request& req, auto& res, int) {
    const json body = json::parse(req.body);
    reply(res, 200, StubServer::chat_body({"seed " + std::to_string(body.value("seed", -1))}));
  });
  ProviderSpec spec = spec_for(stub);
  spec.cache_path = dir.str("gen.sqlite");
  ChatRequest request = text_request();
  request.sampling.n = 3;
  request.sampling.seed = 10;
  {
    auto provider = open_provider(spec);
    EXPECT_EQ(provider->chat(request).texts, (std::vector<std::string>{"seed 10", "seed 11", "seed 12"}));
    const auto seen = stub.requests();
    ASSERT_EQ(seen.size(), 4u);  // the n = 3 try, then three singles
    EXPECT_EQ(seen[0].json()["n"], 3);
    for (size_t i = 1; i < 4; ++i) EXPECT_FALSE(seen[i].json().contains("n"));
    // Known now: the next n > 1 call fans out at once.
    ChatRequest next = request;
    next.sampling.seed = 20;
    EXPECT_EQ(provider->chat(next).texts.size(), 3u);
    EXPECT_EQ(stub.request_count(), 7u);
  }
  auto rerun = open_provider(spec);
  const Generation cached = rerun->chat(request);
  EXPECT_TRUE(cached.from_cache);
  EXPECT_EQ(cached.texts, (std::vector<std::string>{"seed 10", "seed 11", "seed 12"}));
  EXPECT_EQ(rerun->stats().requests, 0);
}

TEST(GenStub, HonouredNIsOneRequestAndUnsupportedNFansOut) {
  StubServer stub([](const httplib::Request& req, auto& res, int) {
    const json body = json::parse(req.body);
    const int n = body.value("n", 1);
    std::vector<std::string> texts;
    for (int i = 0; i < n; ++i) texts.push_back("c" + std::to_string(i));
    reply(res, 200, StubServer::chat_body(texts));
  });
  ChatRequest request = text_request();
  request.sampling.n = 4;
  EXPECT_EQ(open_provider(spec_for(stub))->chat(request).texts.size(), 4u);
  EXPECT_EQ(stub.request_count(), 1u);
  ProviderSpec no_n = spec_for(stub);
  no_n.supports_n = false;
  EXPECT_EQ(open_provider(no_n)->chat(request).texts.size(), 4u);
  EXPECT_EQ(stub.request_count(), 5u);
}

TEST(GenStub, RejectedNFallsBackToFanOut) {
  // Old llama.cpp: HTTP 500 "Only one completion choice is allowed".
  StubServer stub([](const httplib::Request& req, auto& res, int) {
    if (json::parse(req.body).contains("n"))
      reply(res, 500, R"({"error":{"code":500,"message":"Only one completion choice is allowed","type":"server_error"}})");
    else
      reply(res, 200, StubServer::chat_body({"one"}));
  });
  ChatRequest request = text_request();
  request.sampling.n = 2;
  EXPECT_EQ(open_provider(spec_for(stub, 6))->chat(request).texts, (std::vector<std::string>{"one", "one"}));
  EXPECT_EQ(stub.request_count(), 3u);
}

TEST(GenStub, ConcurrencyLimitIsHonoured) {
  StubServer stub([](const auto&, auto& res, int) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    reply(res, 200, StubServer::chat_body({"x"}));
  });
  ProviderSpec spec = spec_for(stub);
  spec.max_concurrency = 3;
  auto provider = open_provider(spec);
  std::vector<std::thread> threads;
  for (int i = 0; i < 12; ++i) threads.emplace_back([&, i] { provider->chat(text_request("q" + std::to_string(i))); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(stub.request_count(), 12u);
  EXPECT_LE(stub.peak_in_flight(), 3);
  EXPECT_GE(stub.peak_in_flight(), 2);  // the requests did overlap
}

TEST(GenStub, ImagePartsAreDataUrlsAndHashedInTheCache) {
  TempDir dir;
  StubServer stub([](const auto&, auto& res, int) { reply(res, 200, StubServer::chat_body({"img"})); });
  ProviderSpec spec = spec_for(stub);
  spec.cache_path = dir.str("gen.sqlite");
  ChatRequest request = text_request();
  ContentPart image;
  image.image_bytes = {0xFF, 0xD8, 0xFF, 0xE0, 'J', 'F', 'I', 'F', 'Z', 'Z', 'Z', 'Z'};
  request.messages[0].content.insert(request.messages[0].content.begin(), image);
  open_provider(spec)->chat(request);
  const json sent = stub.requests()[0].json();
  EXPECT_EQ(sent["messages"][0]["content"][0]["image_url"]["url"], "data:image/jpeg;base64,/9j/4EpGSUZaWlpa");
  const std::string bytes = cache_bytes(spec.cache_path);
  EXPECT_EQ(bytes.find("/9j/4EpGSUZaWlpa"), std::string::npos);
  EXPECT_NE(bytes.find(sha256_hex(image.image_bytes)), std::string::npos);
}

// HTTPS through Debian's OpenSSL-enabled httplib, trusting a throw-away certificate via
// SSL_CERT_FILE (OpenSSL's default verify paths).
TEST(GenStub, HttpsWithAVerifiedCertificate) {
  if (std::system("command -v openssl >/dev/null 2>&1") != 0) GTEST_SKIP() << "the openssl CLI is absent";
  TempDir dir;
  const std::string cert = dir.str("cert.pem"), key = dir.str("key.pem");
  const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -addext "
                          "subjectAltName=IP:127.0.0.1 -keyout " + key + " -out " + cert + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  httplib::SSLServer server(cert.c_str(), key.c_str());
  server.Post("/v1/chat/completions", [](const auto&, auto& res) { reply(res, 200, StubServer::chat_body({"tls"})); });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread thread([&] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(2));

  ProviderSpec spec;
  spec.base_url = "https://127.0.0.1:" + std::to_string(port);
  spec.model = "m";
  spec.max_attempts = 1;
  const Error untrusted = error_of([&] { open_provider(spec)->chat(text_request()); });
  EXPECT_EQ(untrusted.code(), ErrorCode::kIo);
  EXPECT_NE(std::string(untrusted.what()).find(spec.base_url), std::string::npos) << untrusted.what();
  ::setenv("SSL_CERT_FILE", cert.c_str(), 1);
  std::string text;
  EXPECT_NO_THROW(text = open_provider(spec)->chat(text_request()).texts.at(0));
  ::unsetenv("SSL_CERT_FILE");
  EXPECT_EQ(text, "tls");
  server.stop();
  thread.join();
}

// --- captioners and editors over the stub ------------------------------------------------------

TEST(GenEditors, SeizeLdreSendsUpstreamPromptsAndFallsBack) {
  StubServer stub([](const httplib::Request& req, auto& res, int) {
    const json body = json::parse(req.body);
    const std::string user = body["messages"][1]["content"];
    const bool blank = user.find("Instruction: make it empty") != std::string::npos;
    reply(res, 200, StubServer::chat_body({blank ? "\n" : "\nEdited Description: a woman adjusting a man's tie.\n"}));
  });
  auto editor = make_editor("seize_ldre", open_provider(spec_for(stub)));
  const auto results = editor->edit_batch({{"a man adjusting a woman's tie.", "switch the roles", {}},
                                           {"a red car", "make it empty", {}}});
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].text, "a woman adjusting a man's tie.");
  EXPECT_FALSE(results[0].failed);
  EXPECT_EQ(results[1].text, "a red car");  // §6.5: the unedited caption
  EXPECT_TRUE(results[1].failed);

  json first;
  for (const auto& r : stub.requests())
    if (r.body.find("switch the roles") != std::string::npos) first = r.json();
  ASSERT_FALSE(first.is_null());
  EXPECT_EQ(first["messages"][0]["role"], "system");
  EXPECT_EQ(first["messages"][0]["content"], std::string(prompts::kSeizeSystem));
  EXPECT_EQ(first["messages"][1]["content"],
            prompts::format_positional(prompts::kSeizeUserTemplate, {"a man adjusting a woman's tie.", "switch the roles"}));
  EXPECT_EQ(first["temperature"], 1.0);
  EXPECT_EQ(first["top_p"], 1.0);
  EXPECT_EQ(editor->prompt_sha256().at("user_template"),
            "63b5da17439f84ba13568bdf5b064b8bd4ab227d56e133d427a1222a070a6120");
  EXPECT_EQ(editor->key(), "seize_ldre:stub-model:63b5da17");
}

TEST(GenEditors, CirevlAssemblesTheMessageAndParsesFaithfully) {
  StubServer stub([](const httplib::Request& req, auto& res, int) {
    const std::string user = json::parse(req.body)["messages"][0]["content"];
    const bool labelled = user.find("Instruction: add a hat") != std::string::npos;
    reply(res, 200, StubServer::chat_body({labelled ? "Edited Description: a dog: wearing a hat" : "I cannot help."}));
  });
  auto editor = make_editor("cirevl_structural", open_provider(spec_for(stub)));
  const auto results = editor->edit_batch({{"a dog", "add a hat", {}}, {"a cat", "remove it", {}}});
  EXPECT_EQ(results[0].text, "a dog");  // split(':')[1]
  EXPECT_FALSE(results[0].failed);
  EXPECT_EQ(results[0].raw, "Edited Description: a dog: wearing a hat");
  EXPECT_EQ(results[1].text, "remove it");  // §3.3: the instruction
  EXPECT_TRUE(results[1].failed);
  const json body = stub.requests()[0].json();
  EXPECT_EQ(body["messages"].size(), 1u);
  const std::string content = body["messages"][0]["content"];
  EXPECT_TRUE(content.starts_with(std::string(prompts::kCirevlStructural)));
  EXPECT_EQ(body["temperature"], 0.0);
  EXPECT_EQ(body["max_tokens"], 700);
  EXPECT_EQ(body["stop"], json::array({"\n\n", "<|endoftext|>"}));
  EXPECT_EQ(editor->prompt_sha256().at("structural_modifier_prompt"),
            "de0280148e3a86ef9898529882b915621b3d550867e53b9bc5256ba6b9c72096");
}

TEST(GenEditors, UnusableProviderThrowsInsteadOfFallingBack) {
  StubServer stub([](const auto&, auto& res, int) { reply(res, 401, R"({"error":{"message":"bad key"}})"); });
  auto editor = make_editor("cirevl_simple", open_provider(spec_for(stub)));
  EXPECT_THROW(editor->edit_batch({{"a", "b", {}}}), Error);
}

TEST(GenCaptioners, SeizePresetAsksForFifteenAndTopsUpEmptySamples) {
  StubServer stub([](const httplib::Request& req, auto& res, int call) {
    const int n = json::parse(req.body).value("n", 1);
    std::vector<std::string> texts;
    for (int i = 0; i < n; ++i) texts.push_back(call == 0 && i < 2 ? "  " : " a man on a bike \n");
    reply(res, 200, StubServer::chat_body(texts));
  });
  auto captioner = make_captioner("provider_vlm", open_provider(spec_for(stub)), CaptionerOptions{});
  EXPECT_EQ(captioner->key(), "provider_vlm:stub-model:seize:n15:t1:p0.9");
  CaptionInput input;
  input.item_id = "img-1";
  input.image_bytes = {0x89, 'P', 'N', 'G', 0, 0};
  const auto results = captioner->caption_batch({input});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].captions.size(), 15u);
  EXPECT_EQ(results[0].n_failed, 0);
  for (const auto& c : results[0].captions) EXPECT_EQ(c, "a man on a bike");
  const auto seen = stub.requests();
  ASSERT_EQ(seen.size(), 2u);
  const json first = seen[0].json(), second = seen[1].json();
  EXPECT_EQ(first["n"], 15);
  EXPECT_EQ(first["temperature"], 1.0);
  EXPECT_EQ(first["top_p"], 0.9);
  EXPECT_EQ(first["max_tokens"], 48);
  EXPECT_EQ(first["messages"][0]["content"][0]["type"], "image_url");
  EXPECT_EQ(second["n"], 2);  // the two empty samples, again
  EXPECT_EQ(second["seed"].get<uint64_t>(), first["seed"].get<uint64_t>() + 1000);
}

TEST(GenCaptioners, RunSeedKeepsThePresetAndChangesItemSeeds) {
  StubServer stub([](const httplib::Request& req, auto& res, int) {
    std::vector<std::string> texts(static_cast<size_t>(json::parse(req.body).value("n", 1)), "a cat");
    reply(res, 200, StubServer::chat_body(texts));
  });
  CaptionInput input;
  input.item_id = "img-3";
  input.image_bytes = {0x89, 'P', 'N', 'G', 0, 0};
  CaptionerOptions options;
  options.n = 2;
  make_captioner("provider_vlm", open_provider(spec_for(stub)), options)->caption_batch({input});
  options.sampling.seed = 99;
  make_captioner("provider_vlm", open_provider(spec_for(stub)), options)->caption_batch({input});
  const auto seen = stub.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].json()["top_p"], 0.9);  // still the seize preset
  EXPECT_EQ(seen[1].json()["n"], 2);
  EXPECT_NE(seen[0].json()["seed"], seen[1].json()["seed"]);
}

TEST(GenCaptioners, CirevlPresetUsesTheBlipPromptAndReportsFailures) {
  StubServer stub([](const auto&, auto& res, int) { reply(res, 200, StubServer::chat_body({""})); });
  CaptionerOptions options;
  options.preset = "cirevl";
  auto captioner = make_captioner("provider_vlm", open_provider(spec_for(stub)), options);
  CaptionInput input;
  input.item_id = "img-2";
  input.image_bytes = {0x89, 'P', 'N', 'G', 0, 0};
  const auto results = captioner->caption_batch({input});
  EXPECT_TRUE(results[0].captions.empty());
  EXPECT_EQ(results[0].n_failed, 1);
  EXPECT_NE(results[0].error.find("img-2"), std::string::npos) << results[0].error;
  const json body = stub.requests()[0].json();
  EXPECT_EQ(body["messages"][0]["content"][1]["text"], std::string(prompts::kCirevlBlipPrompt));
  EXPECT_EQ(body["temperature"], 0.0);
  EXPECT_FALSE(body.contains("n"));
  EXPECT_EQ(stub.request_count(), 3u);  // first call + two top-ups
}

}  // namespace
}  // namespace cir::gen
