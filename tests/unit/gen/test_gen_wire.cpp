// Pure functions of cir_gen, no server: base URLs, request bodies and cache keys (§6.1, §6.7),
// defensive response parsing, the retry table (§6.3), the upstream prompts' fingerprints and the
// editors' parsers (§2.2, §3.3).
#include <gtest/gtest.h>

#include "cir/gen.h"
#include "gen/builtins.h"
#include "gen/prompts.h"
#include "gen/retry.h"
#include "gen/wire.h"

namespace cir::gen {
namespace {

using nlohmann::json;

ErrorCode code_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.code();
  }
  return ErrorCode::kInternal;  // "did not throw" reads as a mismatch below
}

TEST(GenUrl, AcceptsBaseWithOrWithoutV1) {
  EXPECT_EQ(wire::parse_base_url("http://127.0.0.1:8000").endpoint_url("/chat/completions"),
            "http://127.0.0.1:8000/v1/chat/completions");
  EXPECT_EQ(wire::parse_base_url("http://127.0.0.1:8000/v1/").endpoint_url("/completions"),
            "http://127.0.0.1:8000/v1/completions");
  const wire::ApiUrl proxy = wire::parse_base_url("https://api.example.com/openai/v1");
  EXPECT_EQ(proxy.origin, "https://api.example.com:443");
  EXPECT_EQ(proxy.path_prefix, "/openai/v1");
  EXPECT_EQ(wire::parse_base_url("http://[::1]:9931").origin, "http://[::1]:9931");
}

TEST(GenUrl, RejectsBadUrlsNamingThem) {
  EXPECT_EQ(code_of([] { wire::parse_base_url("127.0.0.1:8000"); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of([] { wire::parse_base_url("ftp://host"); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of([] { wire::parse_base_url("http://host:99999"); }), ErrorCode::kInvalidArgument);
  try {
    wire::parse_base_url("http://user:sk-secret@host:8000");
    FAIL() << "credentials in the URL were accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find("sk-secret"), std::string::npos) << e.what();
  }
}

TEST(GenWire, Base64MatchesRfc4648Vectors) {
  auto b64 = [](std::string s) { return wire::base64_encode(std::vector<uint8_t>(s.begin(), s.end())); };
  EXPECT_EQ(b64(""), "");
  EXPECT_EQ(b64("f"), "Zg==");
  EXPECT_EQ(b64("fo"), "Zm8=");
  EXPECT_EQ(b64("foo"), "Zm9v");
  EXPECT_EQ(b64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(wire::base64_encode({0xfb, 0xff}), "+/8=");
}

ProviderSpec spec_for_tests() {
  ProviderSpec spec;
  spec.base_url = "http://127.0.0.1:1";
  spec.model = "m";
  spec.model_fingerprint = "gguf-sha";
  return spec;
}

ChatRequest image_request() {
  ChatRequest request;
  ContentPart image, text;
  image.image_bytes = {0x89, 'P', 'N', 'G', 1, 2, 3};
  text.text = "caption this";
  request.messages.push_back(ChatMessage{"user", {image, text}});
  request.sampling.temperature = 0.7;
  request.sampling.top_p = 0.9;
  request.sampling.max_tokens = 48;
  request.sampling.n = 3;
  request.sampling.seed = 42;
  request.sampling.stop = {"\n\n"};
  return request;
}

TEST(GenWire, ChatBodySendsEverySamplingFieldAndDataUrls) {
  const ChatRequest request = image_request();
  const wire::RequestForms forms = wire::chat_request(spec_for_tests(), request, request.sampling, std::nullopt);
  const json& body = forms.body;
  EXPECT_TRUE(forms.has_images);
  EXPECT_EQ(body["model"], "m");
  EXPECT_EQ(body["stream"], false);
  EXPECT_EQ(body["temperature"], 0.7);
  EXPECT_EQ(body["top_p"], 0.9);
  EXPECT_EQ(body["max_tokens"], 48);
  EXPECT_EQ(body["n"], 3);
  EXPECT_EQ(body["seed"], 42);
  EXPECT_EQ(body["stop"], json::array({"\n\n"}));
  EXPECT_FALSE(body.contains("top_k"));
  const json& parts = body["messages"][0]["content"];
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0]["type"], "image_url");
  EXPECT_EQ(parts[0]["image_url"]["url"], "data:image/png;base64," + wire::base64_encode(request.messages[0].content[0].image_bytes));
  EXPECT_EQ(parts[1], json({{"type", "text"}, {"text", "caption this"}}));

  // A single text part goes as a plain string; n = 1 is not sent.
  ChatRequest text_only;
  ContentPart part;
  part.text = "hi";
  text_only.messages.push_back(ChatMessage{"user", {part}});
  const json single = wire::chat_request(spec_for_tests(), text_only, text_only.sampling, std::nullopt).body;
  EXPECT_EQ(single["messages"][0]["content"], "hi");
  EXPECT_FALSE(single.contains("n"));
  EXPECT_FALSE(single.contains("seed"));
}

TEST(GenWire, CacheKeyHashesImagesAndIgnoresWhereAndHow) {
  const ChatRequest request = image_request();
  ProviderSpec a = spec_for_tests();
  ProviderSpec b = a;
  b.base_url = "https://elsewhere:443/v1";
  b.api_key = "sk-other";
  b.read_timeout_s = 1;
  b.max_attempts = 1;
  const auto fa = wire::chat_request(a, request, request.sampling, std::nullopt);
  const auto fb = wire::chat_request(b, request, request.sampling, std::nullopt);
  EXPECT_EQ(wire::cache_key(fa.key_source), wire::cache_key(fb.key_source));

  const std::string canonical = wire::canonical_json(fa.key_source);
  EXPECT_EQ(canonical.find("base64"), std::string::npos) << canonical;
  EXPECT_NE(canonical.find(sha256_hex(request.messages[0].content[0].image_bytes)), std::string::npos);
  EXPECT_NE(canonical.find("\"model_fingerprint\":\"gguf-sha\""), std::string::npos);

  // Anything sent changes the key: a sampling field, the fingerprint, the image, the fan-out slot.
  SamplingOptions hotter = request.sampling;
  hotter.temperature = 0.8;
  EXPECT_NE(wire::cache_key(wire::chat_request(a, request, hotter, std::nullopt).key_source), wire::cache_key(fa.key_source));
  ProviderSpec other_weights = a;
  other_weights.model_fingerprint = "other";
  EXPECT_NE(wire::cache_key(wire::chat_request(other_weights, request, request.sampling, std::nullopt).key_source),
            wire::cache_key(fa.key_source));
  ChatRequest other_image = request;
  other_image.messages[0].content[0].image_bytes.back() = 4;
  EXPECT_NE(wire::cache_key(wire::chat_request(a, other_image, request.sampling, std::nullopt).key_source),
            wire::cache_key(fa.key_source));
  EXPECT_NE(wire::cache_key(wire::chat_request(a, request, request.sampling, 0).key_source), wire::cache_key(fa.key_source));
}

TEST(GenWire, CanonicalJsonSortsKeysAndPrintsShortestNumbers) {
  const json value = json::parse(R"({"b": 0.1, "a": [1, 2.5], "c": {"z": true, "y": null}})");
  EXPECT_EQ(wire::canonical_json(value), R"({"a":[1,2.5],"b":0.1,"c":{"y":null,"z":true}})");
  EXPECT_EQ(code_of([] { wire::canonical_json(json("\xff\xfe")); }), ErrorCode::kInvalidArgument);
}

TEST(GenWire, RejectsBadRequests) {
  const ProviderSpec spec = spec_for_tests();
  ChatRequest empty;
  EXPECT_EQ(code_of([&] { wire::chat_request(spec, empty, empty.sampling, std::nullopt); }), ErrorCode::kInvalidArgument);
  ChatRequest bad_role = image_request();
  bad_role.messages[0].role = "tool";
  EXPECT_EQ(code_of([&] { wire::chat_request(spec, bad_role, bad_role.sampling, std::nullopt); }),
            ErrorCode::kInvalidArgument);
  ChatRequest ok = image_request();
  SamplingOptions bad = ok.sampling;
  bad.top_p = 0;
  EXPECT_EQ(code_of([&] { wire::chat_request(spec, ok, bad, std::nullopt); }), ErrorCode::kInvalidArgument);
  ChatRequest unknown_image = image_request();
  unknown_image.messages[0].content[0].image_bytes = {1, 2, 3};
  EXPECT_EQ(code_of([&] { wire::chat_request(spec, unknown_image, unknown_image.sampling, std::nullopt); }),
            ErrorCode::kInvalidArgument);
}

TEST(GenWire, ParsesChatAndCompletionResponses) {
  const std::string chat = R"({"model":"served","system_fingerprint":"fp1","choices":[
      {"index":1,"message":{"role":"assistant","content":"second"},"finish_reason":"length"},
      {"index":0,"message":{"role":"assistant","content":null},"finish_reason":"stop"}],
      "usage":{"prompt_tokens":5,"completion_tokens":9}})";
  const wire::ParsedResponse p = wire::parse_response(wire::Endpoint::kChat, chat, "http://u", 200);
  EXPECT_EQ(p.generation.texts, (std::vector<std::string>{"", "second"}));  // ordered by index
  EXPECT_EQ(p.generation.finish_reasons, (std::vector<std::string>{"stop", "length"}));
  EXPECT_EQ(p.generation.model_reported, "served");
  EXPECT_EQ(p.system_fingerprint, "fp1");
  EXPECT_EQ(p.generation.usage.completion_tokens, 9);
  const auto c = wire::parse_response(wire::Endpoint::kCompletions, R"({"choices":[{"text":"abc","finish_reason":null}]})",
                                      "http://u", 200);
  EXPECT_EQ(c.generation.texts, std::vector<std::string>{"abc"});
}

void expect_corrupt(const std::string& body, const std::string& must_mention) {
  try {
    wire::parse_response(wire::Endpoint::kChat, body, "http://host:1/v1/chat/completions", 200);
    FAIL() << "accepted: " << body;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
    const std::string what = e.what();
    EXPECT_NE(what.find("http://host:1/v1/chat/completions"), std::string::npos) << what;
    EXPECT_NE(what.find("HTTP 200"), std::string::npos) << what;
    EXPECT_NE(what.find(must_mention), std::string::npos) << what;
  }
}

TEST(GenWire, MalformedResponsesNameUrlStatusAndFirstBytes) {
  expect_corrupt("<!DOCTYPE html><html><body>Bad Gateway</body></html>", "<!DOCTYPE html>");
  expect_corrupt(R"({"choices": []})", "no \"choices\"");
  expect_corrupt(R"({"object": "chat.completion"})", "no \"choices\"");
  expect_corrupt(R"({"choices": [{"text": "completion-shaped"}]})", "\"message\"");
  expect_corrupt(R"({"error": {"message": "overloaded"}})", "overloaded");
  expect_corrupt("[1, 2]", "not an object");
  expect_corrupt("{\"choices\": [", "not JSON");
}

TEST(GenWire, ProviderErrorBodies) {
  auto e = wire::parse_error_body(R"({"error":{"message":"m1","type":"invalid_request_error","code":"c"}})");
  EXPECT_EQ(e.message, "m1");
  EXPECT_EQ(e.type, "invalid_request_error");
  EXPECT_EQ(wire::parse_error_body(R"({"error":"Model does not exist"})").message, "Model does not exist");
  EXPECT_EQ(wire::parse_error_body(R"({"detail":"vllm says"})").message, "vllm says");
  EXPECT_EQ(wire::parse_error_body("plain\ntext").message, "plain text");
}

retry::HttpOutcome status(int code, std::string body = "{}", std::map<std::string, std::string> headers = {}) {
  retry::HttpOutcome o;
  o.status = code;
  o.body = std::move(body);
  o.headers = std::move(headers);
  return o;
}

TEST(GenRetry, StatusTableFollowsTheSdk) {
  for (int code : {408, 409, 429, 500, 502, 503, 504})
    EXPECT_EQ(retry::decide(status(code), 0, 6, 0, 0).action, retry::Action::kRetry) << code;
  const std::map<int, ErrorCode> refused = {{400, ErrorCode::kInvalidArgument}, {422, ErrorCode::kInvalidArgument},
                                            {401, ErrorCode::kUnsupported},     {403, ErrorCode::kUnsupported},
                                            {404, ErrorCode::kUnsupported}};
  for (const auto& [code, expected] : refused) {
    const retry::Decision d = retry::decide(status(code, R"({"error":{"message":"why"}})"), 0, 6, 0, 0);
    EXPECT_EQ(d.action, retry::Action::kFail) << code;
    EXPECT_EQ(d.code, expected) << code;
    EXPECT_NE(d.reason.find("\"why\""), std::string::npos) << d.reason;
  }
  EXPECT_EQ(retry::decide(status(200), 0, 6, 0, 0).action, retry::Action::kSucceed);
}

TEST(GenRetry, LastAttemptAndHeadersDecide) {
  const retry::Decision last = retry::decide(status(503), 5, 6, 0, 0);
  EXPECT_EQ(last.action, retry::Action::kFail);
  EXPECT_EQ(last.code, ErrorCode::kIo);
  EXPECT_EQ(retry::decide(status(429), 5, 6, 0, 0).code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(retry::decide(status(500, "{}", {{"x-should-retry", "false"}}), 0, 6, 0, 0).action, retry::Action::kFail);
  EXPECT_EQ(retry::decide(status(400, "{}", {{"x-should-retry", "true"}}), 0, 6, 0, 0).action, retry::Action::kRetry);
  const retry::Decision quota = retry::decide(
      status(429, R"({"error":{"message":"You exceeded your current quota","type":"insufficient_quota"}})"), 0, 6, 0, 0);
  EXPECT_EQ(quota.action, retry::Action::kFail);
  EXPECT_EQ(quota.code, ErrorCode::kResourceExhausted);
}

TEST(GenRetry, ServerDelaysAndBackoff) {
  EXPECT_DOUBLE_EQ(*retry::server_delay_seconds({{"retry-after-ms", "250"}, {"retry-after", "9"}}, 0), 0.25);
  EXPECT_DOUBLE_EQ(*retry::server_delay_seconds({{"retry-after", "1.5"}}, 0), 1.5);
  // 1445412480 = Wed, 21 Oct 2015 07:28:00 GMT
  EXPECT_DOUBLE_EQ(*retry::server_delay_seconds({{"retry-after", "Wed, 21 Oct 2015 07:28:00 GMT"}}, 1445412470), 10);
  EXPECT_FALSE(retry::server_delay_seconds({{"retry-after", "soon"}}, 0));
  EXPECT_DOUBLE_EQ(retry::decide(status(429, "{}", {{"retry-after", "2"}}), 0, 6, 0.5, 0).delay_s, 2);
  const retry::Decision too_long = retry::decide(status(429, "{}", {{"retry-after", "121"}}), 0, 6, 0, 0);
  EXPECT_EQ(too_long.action, retry::Action::kFail);
  EXPECT_EQ(too_long.code, ErrorCode::kResourceExhausted);
  EXPECT_DOUBLE_EQ(retry::backoff_seconds(0, 0), 0.5);
  EXPECT_DOUBLE_EQ(retry::backoff_seconds(3, 0), 4);
  EXPECT_DOUBLE_EQ(retry::backoff_seconds(10, 0), 8);
  EXPECT_DOUBLE_EQ(retry::backoff_seconds(1, 1), 0.75);
}

TEST(GenRetry, TransportFailures) {
  retry::HttpOutcome refused;
  refused.transport_failed = true;
  refused.transport_retryable = true;
  refused.transport_error = "could not connect";
  EXPECT_EQ(retry::decide(refused, 0, 2, 0, 0).action, retry::Action::kRetry);
  const retry::Decision last = retry::decide(refused, 1, 2, 0, 0);
  EXPECT_EQ(last.code, ErrorCode::kIo);
  EXPECT_NE(last.reason.find("gave up after 2 attempts"), std::string::npos) << last.reason;
  refused.transport_retryable = false;  // TLS verification
  EXPECT_EQ(retry::decide(refused, 0, 6, 0, 0).action, retry::Action::kFail);
}

// generation.md §2.2, §3.1, §3.2: the embedded prompts are the upstream bytes.
TEST(GenPrompts, MatchUpstreamSha256) {
  const std::map<std::string, std::pair<size_t, std::string>> expected = {
      {"seize_system", {110, "125af5d623c1d4b01bc399f572d297ab5b6dd1e2d3484d2fdc9945c572dd3b93"}},
      {"seize_user_template", {607, "63b5da17439f84ba13568bdf5b064b8bd4ab227d56e133d427a1222a070a6120"}},
      {"blip_prompt", {96, "1c473f584541bcf5838910c7358e52266e481bccc975d0054cb4cf2e0655dce7"}},
      {"contextual_modifier_prompt", {6041, "a1cbc05c8922a927def74a2535155614ce07f17b708e36d8af4a6f984a074c49"}},
      {"structural_modifier_prompt", {5043, "de0280148e3a86ef9898529882b915621b3d550867e53b9bc5256ba6b9c72096"}},
      {"structural_modifier_prompt_fashion", {5133, "73453274fcfbb108b2181defab2f8265d29c20fda15977fc0d19c08d3ecabb56"}},
      {"simple_modifier_prompt", {841, "6fa893f6bb296e4b822e7a94d2ad4052f5ee8a760075c6c78b5e4c06fd95e29e"}},
      {"short_modifier_prompt", {385, "9376f02f5560cdc55eaaddb5f16b128a13819ac4f828bb261d0ca492374c6ecc"}},
      {"short_focus_object_modifier_prompt", {1181, "93db38e53e682c467b513e9a624da98d97f01693455a57e01b7b0d1a0e671188"}},
  };
  ASSERT_EQ(prompts::all_prompts().size(), expected.size());
  for (const prompts::PromptInfo& p : prompts::all_prompts()) {
    auto it = expected.find(std::string(p.name));
    ASSERT_NE(it, expected.end()) << p.name;
    EXPECT_EQ(p.text.size(), it->second.first) << p.name;
    EXPECT_EQ(prompts::sha256_of(p.text), it->second.second) << p.name;
    EXPECT_NO_THROW(prompts::verify_prompt(p.name));
  }
  // The SEIZE template's structure (§2.2): two placeholders, eight newlines, an open last line.
  const std::string_view t = prompts::kSeizeUserTemplate;
  EXPECT_EQ(std::count(t.begin(), t.end(), '\n'), 8);
  EXPECT_TRUE(t.ends_with("Edited Description:"));
  EXPECT_EQ(prompts::format_positional(t, {"CAP", "INS"}).find("{}"), std::string::npos);
  EXPECT_TRUE(prompts::format_positional(t, {"CAP {}", "INS"}).ends_with("Image Content: CAP {}\nInstruction: INS\nEdited Description:"));
}

TEST(GenParsers, SeizeCleanup) {
  EXPECT_EQ(parse_seize_edit("\n\na woman adjusting a man's tie.\n"), "a woman adjusting a man's tie.");
  EXPECT_EQ(parse_seize_edit("Edited Description:  a red car \n"), "a red car");
  // Only newlines are stripped when no label is present (upstream's strip('\n')).
  EXPECT_EQ(parse_seize_edit("  spaced answer "), "  spaced answer ");
  EXPECT_EQ(parse_seize_edit("\n\n"), "");
}

TEST(GenParsers, CirevlFaithfulSplitQuirk) {
  EXPECT_EQ(parse_cirevl_edit("Sure.\n  Edited Description: A shirt that says: hello\nmore"), "A shirt that says");
  EXPECT_EQ(parse_cirevl_edit("Image Content: x\nEdited Description:   two dogs   "), "two dogs");
  EXPECT_EQ(parse_cirevl_edit("no label here"), std::nullopt);
  EXPECT_EQ(parse_cirevl_edit("Edited Description:   \nEdited Description: later"), std::nullopt);
  EXPECT_EQ(parse_cirevl_edit(""), std::nullopt);
}

TEST(GenRegistry, ListsBuiltInsAndRefusesUnknownNames) {
  const auto editors = editor_names();
  for (const char* name : {"seize_ldre", "cirevl_contextual", "cirevl_structural", "cirevl_structural_fashion",
                           "cirevl_simple", "cirevl_short"})
    EXPECT_NE(std::find(editors.begin(), editors.end(), name), editors.end()) << name;
  const auto captioners = captioner_names();
  EXPECT_NE(std::find(captioners.begin(), captioners.end(), "provider_vlm"), captioners.end());
  try {
    make_editor("nope", nullptr);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("seize_ldre"), std::string::npos);
  }
  EXPECT_EQ(code_of([] { make_captioner("provider_vlm", nullptr, {}); }), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace cir::gen
