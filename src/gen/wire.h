// The OpenAI wire format (generation.md §6.1): base URLs, request bodies, the cache key's
// canonical JSON (§6.7) and defensive response parsing. Private to cir_gen; the unit tests
// include it to check the shapes without a server.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cir/gen.h"

namespace cir::gen::wire {

/// A provider's base URL split into what httplib needs. "http://h:8000", "http://h:8000/v1" and
/// "https://h/openai/v1/" all work: "/v1" is appended unless the path already ends with it.
struct ApiUrl {
  std::string scheme;       ///< "http" or "https"
  std::string host;
  int port = 0;
  std::string origin;       ///< "scheme://host:port", what httplib::Client takes
  std::string path_prefix;  ///< "/v1" or "/openai/v1": endpoints are appended to it
  /// The printable URL of an endpoint ("http://h:8000/v1/chat/completions").
  std::string endpoint_url(std::string_view endpoint_path) const;
};

/// Throws kInvalidArgument naming the URL for a bad scheme, host, port or embedded credentials.
ApiUrl parse_base_url(const std::string& base_url);

enum class Endpoint { kChat, kCompletions };
std::string_view endpoint_name(Endpoint endpoint);  ///< "chat" / "completions" (cache key)
std::string_view endpoint_path(Endpoint endpoint);  ///< "/chat/completions" / "/completions"

/// Standard-alphabet base64 with padding (what data URLs carry).
std::string base64_encode(const std::vector<uint8_t>& bytes);
/// The part's mime type, or the one its bytes start with (PNG, JPEG, WebP, GIF); kInvalidArgument
/// when neither is known.
std::string image_mime_of(const ContentPart& part);

/// The sampling fields actually sent (§6.2: every parameter explicit; n only when > 1, seed, stop,
/// top_k and min_p only when set). The same object goes into the body and the cache key.
nlohmann::json sampling_fields(const SamplingOptions& sampling);

/// A request in its two forms: `body` is sent, `key_source` (images replaced by their SHA-256 and
/// mime, the fingerprint added, no URL/key/timeouts) is hashed into the cache key.
struct RequestForms {
  nlohmann::json body;
  nlohmann::json key_source;
  bool has_images = false;
};

/// Both forms of a chat request with `sampling` (which may differ from request.sampling when n is
/// fanned out). Validates roles, empty messages and sampling ranges (kInvalidArgument).
RequestForms chat_request(const ProviderSpec& spec, const ChatRequest& request, const SamplingOptions& sampling,
                          std::optional<int> fanout_index);
RequestForms completion_request(const ProviderSpec& spec, const CompletionRequest& request,
                                const SamplingOptions& sampling, std::optional<int> fanout_index);

/// UTF-8, keys sorted, no insignificant whitespace, shortest round-trip numbers (§6.7).
/// kInvalidArgument when a string is not valid UTF-8.
std::string canonical_json(const nlohmann::json& value);
/// Hex sha256 of canonical_json(key_source).
std::string cache_key(const nlohmann::json& key_source);

/// What a successful body says besides the texts (stored in cache columns).
struct ParsedResponse {
  Generation generation;
  std::string system_fingerprint;
};

/// Parses a 2xx body: choices[i].message.content (chat) or .text (completions), finish_reason,
/// model, usage. Missing choices, non-JSON or an HTML page throw kCorrupt naming `url`, the status
/// and the first bytes of the body.
ParsedResponse parse_response(Endpoint endpoint, const std::string& body, const std::string& url, int status);

/// The provider's error, from {"error": {"message", "type", "code"}}, {"error": "text"},
/// {"message"}, {"detail"} or else the body's first bytes.
struct ProviderError {
  std::string message;
  std::string type;
  std::string code;
};
ProviderError parse_error_body(const std::string& body);

/// At most `max_bytes` of `body` with control characters shown as spaces, for error messages.
std::string body_excerpt(std::string_view body, size_t max_bytes = 200);

}  // namespace cir::gen::wire
