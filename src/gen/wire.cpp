#include "gen/wire.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <span>

namespace cir::gen::wire {

using nlohmann::json;

namespace {

Error invalid(const std::string& message) { return Error(ErrorCode::kInvalidArgument, message); }

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

int parse_port(const std::string& text, const std::string& base_url) {
  int port = 0;
  for (char c : text) {
    if (c < '0' || c > '9' || port > 65535) throw invalid("LLM base URL '" + base_url + "': bad port '" + text + "'");
    port = port * 10 + (c - '0');
  }
  if (text.empty() || port < 1 || port > 65535)
    throw invalid("LLM base URL '" + base_url + "': bad port '" + text + "' (expected 1-65535)");
  return port;
}

// "/v1" is where every OpenAI-compatible server mounts its routes; a base that already names it
// (or a proxy prefix ending in it, like inference-server's /openai/v1) is taken as is.
std::string api_path_prefix(std::string path) {
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (!ends_with(path, "/v1")) path += "/v1";
  return path;
}

json text_or_parts(const ChatMessage& message, bool hash_images, bool& has_images) {
  const bool single_text = message.content.size() == 1 && message.content[0].image_bytes.empty();
  if (single_text) return message.content[0].text;
  json parts = json::array();
  for (const ContentPart& part : message.content) {
    if (part.image_bytes.empty()) {
      parts.push_back({{"type", "text"}, {"text", part.text}});
      continue;
    }
    has_images = true;
    const std::string mime = image_mime_of(part);
    if (hash_images) {
      const std::string sha = sha256_hex(std::span<const uint8_t>(part.image_bytes.data(), part.image_bytes.size()));
      parts.push_back({{"type", "image_url"}, {"image_url", {{"sha256", sha}, {"mime", mime}}}});
    } else {
      // No "detail": only OpenAI knows it (vLLM rejects it) and "auto" is its default (§6.1).
      parts.push_back(
          {{"type", "image_url"}, {"image_url", {{"url", "data:" + mime + ";base64," + base64_encode(part.image_bytes)}}}});
    }
  }
  return parts;
}

void validate_sampling(const SamplingOptions& s) {
  if (!std::isfinite(s.temperature) || s.temperature < 0)
    throw invalid("sampling temperature must be >= 0, got " + std::to_string(s.temperature));
  if (!std::isfinite(s.top_p) || s.top_p <= 0 || s.top_p > 1)
    throw invalid("sampling top_p must be in (0, 1], got " + std::to_string(s.top_p));
  if (s.max_tokens < 1) throw invalid("sampling max_tokens must be >= 1, got " + std::to_string(s.max_tokens));
  if (s.n < 1) throw invalid("sampling n must be >= 1, got " + std::to_string(s.n));
  if (s.top_k && *s.top_k < 0) throw invalid("sampling top_k must be >= 0, got " + std::to_string(*s.top_k));
  if (s.min_p && (!std::isfinite(*s.min_p) || *s.min_p < 0 || *s.min_p > 1))
    throw invalid("sampling min_p must be in [0, 1], got " + std::to_string(*s.min_p));
}

json key_header(Endpoint endpoint, const ProviderSpec& spec, const SamplingOptions& sampling,
                std::optional<int> fanout_index) {
  json key = {{"endpoint", endpoint_name(endpoint)},
              {"model", spec.model},
              {"model_fingerprint", spec.model_fingerprint},
              {"sampling", sampling_fields(sampling)}};
  if (fanout_index) key["fanout_index"] = *fanout_index;
  return key;
}

json body_header(const ProviderSpec& spec, const SamplingOptions& sampling) {
  json body = {{"model", spec.model}, {"stream", false}};
  body.update(sampling_fields(sampling));
  return body;
}

Error corrupt(const std::string& url, int status, const std::string& what, const std::string& body) {
  return Error(ErrorCode::kCorrupt, "LLM response from " + url + " (HTTP " + std::to_string(status) + ") " + what +
                                        "; body starts: \"" + body_excerpt(body) + "\"");
}

std::string string_or_empty(const json& j, const char* field) {
  auto it = j.find(field);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int64_t int_or_zero(const json& j, const char* field) {
  auto it = j.find(field);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

// Chat content is a string, null (tool calls, refusals) or, from some servers, a list of parts.
std::string message_text(const json& message) {
  auto it = message.find("content");
  if (it == message.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  std::string text;
  if (it->is_array())
    for (const json& part : *it)
      if (part.is_object()) text += string_or_empty(part, "text");
  return text;
}

}  // namespace

std::string ApiUrl::endpoint_url(std::string_view endpoint_path) const {
  return origin + path_prefix + std::string(endpoint_path);
}

ApiUrl parse_base_url(const std::string& base_url) {
  ApiUrl url;
  const size_t scheme_end = base_url.find("://");
  if (scheme_end == std::string::npos)
    throw invalid("LLM base URL '" + base_url + "' has no scheme (expected http://HOST[:PORT][/v1] or https://...)");
  url.scheme = base_url.substr(0, scheme_end);
  std::transform(url.scheme.begin(), url.scheme.end(), url.scheme.begin(), ::tolower);
  if (url.scheme != "http" && url.scheme != "https")
    throw invalid("LLM base URL '" + base_url + "': scheme '" + url.scheme + "' is not http or https");
  std::string rest = base_url.substr(scheme_end + 3);
  const size_t path_start = rest.find_first_of("/?#");
  std::string authority = rest.substr(0, path_start);
  std::string path = path_start == std::string::npos ? "" : rest.substr(path_start);
  if (path.find_first_of("?#") != std::string::npos)
    throw invalid("LLM base URL '" + base_url + "': a query or fragment is not supported");
  if (authority.find('@') != std::string::npos)
    // Credentials in a URL would end up in every error message and report; keys go in the env.
    throw invalid("LLM base URL must not embed credentials (user:password@); set CIR_LLM_API_KEY instead");
  url.port = url.scheme == "https" ? 443 : 80;
  if (!authority.empty() && authority.front() == '[') {  // [IPv6]:port
    const size_t close = authority.find(']');
    if (close == std::string::npos) throw invalid("LLM base URL '" + base_url + "': unterminated IPv6 address");
    url.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') throw invalid("LLM base URL '" + base_url + "': junk after IPv6 address");
      url.port = parse_port(authority.substr(close + 2), base_url);
    }
  } else {
    const size_t colon = authority.rfind(':');
    url.host = authority.substr(0, colon);
    if (colon != std::string::npos) url.port = parse_port(authority.substr(colon + 1), base_url);
  }
  if (url.host.empty()) throw invalid("LLM base URL '" + base_url + "' has no host");
  const std::string host_part = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  url.origin = url.scheme + "://" + host_part + ":" + std::to_string(url.port);
  url.path_prefix = api_path_prefix(path);
  return url;
}

std::string_view endpoint_name(Endpoint endpoint) { return endpoint == Endpoint::kChat ? "chat" : "completions"; }
std::string_view endpoint_path(Endpoint endpoint) {
  return endpoint == Endpoint::kChat ? "/chat/completions" : "/completions";
}

std::string base64_encode(const std::vector<uint8_t>& bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint32_t(bytes[i]) << 16) | (uint32_t(bytes[i + 1]) << 8) | bytes[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < bytes.size()) {
    const bool two = i + 1 < bytes.size();
    const uint32_t v = (uint32_t(bytes[i]) << 16) | (two ? uint32_t(bytes[i + 1]) << 8 : 0);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += two ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string image_mime_of(const ContentPart& part) {
  if (!part.image_mime.empty()) return part.image_mime;
  const auto& b = part.image_bytes;
  auto starts = [&](std::initializer_list<uint8_t> magic, size_t at = 0) {
    if (b.size() < at + magic.size()) return false;
    return std::equal(magic.begin(), magic.end(), b.begin() + static_cast<std::ptrdiff_t>(at));
  };
  if (starts({0x89, 'P', 'N', 'G'})) return "image/png";
  if (starts({0xFF, 0xD8, 0xFF})) return "image/jpeg";
  if (starts({'R', 'I', 'F', 'F'}) && starts({'W', 'E', 'B', 'P'}, 8)) return "image/webp";
  if (starts({'G', 'I', 'F', '8'})) return "image/gif";
  throw invalid("image part has no mime type and its bytes are not PNG, JPEG, WebP or GIF (" +
                std::to_string(b.size()) + " bytes)");
}

json sampling_fields(const SamplingOptions& s) {
  json fields = {{"temperature", s.temperature}, {"top_p", s.top_p}, {"max_tokens", s.max_tokens}};
  if (s.n > 1) fields["n"] = s.n;
  if (s.seed) fields["seed"] = *s.seed;
  if (!s.stop.empty()) fields["stop"] = s.stop;
  if (s.top_k) fields["top_k"] = *s.top_k;
  if (s.min_p) fields["min_p"] = *s.min_p;
  return fields;
}

RequestForms chat_request(const ProviderSpec& spec, const ChatRequest& request, const SamplingOptions& sampling,
                          std::optional<int> fanout_index) {
  validate_sampling(sampling);
  if (request.messages.empty()) throw invalid("chat request has no messages");
  RequestForms forms;
  json sent = json::array(), hashed = json::array();
  for (size_t i = 0; i < request.messages.size(); ++i) {
    const ChatMessage& m = request.messages[i];
    if (m.role != "system" && m.role != "user" && m.role != "assistant")
      throw invalid("chat message " + std::to_string(i) + " has role '" + m.role +
                    "' (expected system, user or assistant)");
    if (m.content.empty()) throw invalid("chat message " + std::to_string(i) + " (" + m.role + ") has no content");
    sent.push_back({{"role", m.role}, {"content", text_or_parts(m, false, forms.has_images)}});
    hashed.push_back({{"role", m.role}, {"content", text_or_parts(m, true, forms.has_images)}});
  }
  forms.body = body_header(spec, sampling);
  forms.body["messages"] = std::move(sent);
  forms.key_source = key_header(Endpoint::kChat, spec, sampling, fanout_index);
  forms.key_source["messages"] = std::move(hashed);
  return forms;
}

RequestForms completion_request(const ProviderSpec& spec, const CompletionRequest& request,
                                const SamplingOptions& sampling, std::optional<int> fanout_index) {
  validate_sampling(sampling);
  RequestForms forms;
  forms.body = body_header(spec, sampling);
  forms.body["prompt"] = request.prompt;
  forms.key_source = key_header(Endpoint::kCompletions, spec, sampling, fanout_index);
  forms.key_source["prompt"] = request.prompt;
  return forms;
}

std::string canonical_json(const json& value) {
  // nlohmann's objects are std::map (sorted keys) and it prints doubles in shortest round-trip
  // form, so dump() without indentation is the canonical form.
  try {
    return value.dump(-1, ' ', false, json::error_handler_t::strict);
  } catch (const json::type_error& e) {
    throw invalid(std::string("LLM request text is not valid UTF-8: ") + e.what());
  }
}

std::string cache_key(const json& key_source) {
  const std::string text = canonical_json(key_source);
  return sha256_hex(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

ParsedResponse parse_response(Endpoint endpoint, const std::string& body, const std::string& url, int status) {
  const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw corrupt(url, status, "is not JSON (expected an OpenAI completion object)", body);
  if (!j.is_object()) throw corrupt(url, status, "is JSON but not an object", body);
  if (auto err = j.find("error"); err != j.end() && !err->is_null())
    throw corrupt(url, status, "carries an error: " + parse_error_body(body).message, body);
  auto choices_it = j.find("choices");
  if (choices_it == j.end() || !choices_it->is_array() || choices_it->empty())
    throw corrupt(url, status, "has no \"choices\"", body);

  std::vector<const json*> choices;
  for (const json& c : *choices_it) {
    if (!c.is_object()) throw corrupt(url, status, "has a choice that is not an object", body);
    choices.push_back(&c);
  }
  // Servers may answer n choices out of order; "index" says which is which.
  std::stable_sort(choices.begin(), choices.end(),
                   [](const json* a, const json* b) { return int_or_zero(*a, "index") < int_or_zero(*b, "index"); });

  ParsedResponse parsed;
  Generation& g = parsed.generation;
  for (const json* c : choices) {
    if (endpoint == Endpoint::kChat) {
      auto message = c->find("message");
      if (message == c->end() || !message->is_object())
        throw corrupt(url, status, "has a choice without a \"message\" object", body);
      g.texts.push_back(message_text(*message));
    } else {
      auto text = c->find("text");
      if (text == c->end() || !text->is_string())
        throw corrupt(url, status, "has a choice without a \"text\" string", body);
      g.texts.push_back(text->get<std::string>());
    }
    g.finish_reasons.push_back(string_or_empty(*c, "finish_reason"));
  }
  g.model_reported = string_or_empty(j, "model");
  parsed.system_fingerprint = string_or_empty(j, "system_fingerprint");
  if (auto usage = j.find("usage"); usage != j.end() && usage->is_object()) {
    g.usage.prompt_tokens = int_or_zero(*usage, "prompt_tokens");
    g.usage.completion_tokens = int_or_zero(*usage, "completion_tokens");
  }
  return parsed;
}

ProviderError parse_error_body(const std::string& body) {
  ProviderError e;
  const json j = json::parse(body, nullptr, false);
  if (j.is_object()) {
    auto err = j.find("error");
    if (err != j.end() && err->is_object()) {
      e.message = string_or_empty(*err, "message");
      e.type = string_or_empty(*err, "type");
      auto code = err->find("code");
      if (code != err->end()) e.code = code->is_string() ? code->get<std::string>() : code->dump();
    } else if (err != j.end() && err->is_string()) {
      e.message = err->get<std::string>();
    } else if (!string_or_empty(j, "message").empty()) {
      e.message = string_or_empty(j, "message");
    } else if (auto detail = j.find("detail"); detail != j.end()) {
      e.message = detail->is_string() ? detail->get<std::string>() : detail->dump();
    }
  }
  if (e.message.empty()) e.message = body_excerpt(body);
  return e;
}

std::string body_excerpt(std::string_view body, size_t max_bytes) {
  size_t n = std::min(body.size(), max_bytes);
  // Cut on a UTF-8 character boundary so the message stays valid text.
  while (n < body.size() && n > 0 && (static_cast<unsigned char>(body[n]) & 0xC0) == 0x80) --n;
  std::string out(body.substr(0, n));
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  if (n < body.size()) out += "...";
  return out;
}

}  // namespace cir::gen::wire
