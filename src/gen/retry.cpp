#include "gen/retry.h"

#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "gen/wire.h"

namespace cir::gen::retry {

namespace {

std::optional<std::string> header(const std::map<std::string, std::string>& headers, const std::string& name) {
  auto it = headers.find(name);
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

std::optional<double> parse_number(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  while (end && *end == ' ') ++end;
  if (end == text.c_str() || *end != '\0' || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<double> parse_http_date(const std::string& text) {
  struct tm tm = {};
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S", &tm);
  if (!end) return std::nullopt;
  return static_cast<double>(timegm(&tm));
}

std::string quoted_provider_message(const std::string& body) {
  const wire::ProviderError e = wire::parse_error_body(body);
  std::string text = "provider said: \"" + wire::body_excerpt(e.message, 500) + "\"";
  if (!e.type.empty() || !e.code.empty()) text += " (type " + (e.type.empty() ? "-" : e.type) + ", code " + (e.code.empty() ? "-" : e.code) + ")";
  return text;
}

bool is_quota_error(const std::string& body) {
  const wire::ProviderError e = wire::parse_error_body(body);
  return e.type == "insufficient_quota" || e.code == "insufficient_quota" || e.code == "\"insufficient_quota\"";
}

// The SDK's retryable statuses: timeouts, lock conflicts, rate limits, server errors.
bool retryable_status(int status) { return status == 408 || status == 409 || status == 429 || status >= 500; }

// What an exhausted or refused status becomes (the contract in gen.h).
ErrorCode code_for_status(int status) {
  if (status == 429) return ErrorCode::kResourceExhausted;
  if (status == 413) return ErrorCode::kResourceExhausted;
  if (status == 401 || status == 403 || status == 404) return ErrorCode::kUnsupported;
  if (status >= 300 && status < 400) return ErrorCode::kUnsupported;
  if (status >= 400 && status < 500 && status != 408 && status != 409) return ErrorCode::kInvalidArgument;
  return ErrorCode::kIo;
}

Decision fail(ErrorCode code, std::string reason) {
  Decision d;
  d.action = Action::kFail;
  d.code = code;
  d.reason = std::move(reason);
  return d;
}

std::string status_reason(const HttpOutcome& o) {
  std::string reason = "HTTP " + std::to_string(o.status) + ": " + quoted_provider_message(o.body);
  if (o.status >= 300 && o.status < 400) {
    if (auto location = header(o.headers, "location")) reason += "; redirected to " + *location + " (use that as the base URL)";
  }
  return reason;
}

}  // namespace

std::optional<double> server_delay_seconds(const std::map<std::string, std::string>& headers, double now_unix_s) {
  if (auto ms = header(headers, "retry-after-ms"))
    if (auto v = parse_number(*ms)) return *v / 1000.0;
  if (auto ra = header(headers, "retry-after")) {
    if (auto v = parse_number(*ra)) return *v;
    if (auto date = parse_http_date(*ra)) return *date - now_unix_s;
  }
  return std::nullopt;
}

double backoff_seconds(int retry_index, double uniform) {
  const double base = std::min(0.5 * std::pow(2.0, retry_index), 8.0);
  return base * (1.0 - 0.25 * std::clamp(uniform, 0.0, 1.0));
}

Decision decide(const HttpOutcome& o, int attempt, int max_attempts, double uniform, double now_unix_s) {
  if (!o.transport_failed && o.status >= 200 && o.status < 300) return Decision{Action::kSucceed, 0, ErrorCode::kInternal, ""};

  bool retry = false;
  std::string reason;
  ErrorCode code = ErrorCode::kIo;
  if (o.transport_failed) {
    retry = o.transport_retryable;
    reason = o.transport_error;
  } else {
    reason = status_reason(o);
    code = code_for_status(o.status);
    // Billing, not throttling: waiting does not help (OpenAI error-codes guide).
    if (o.status == 429 && is_quota_error(o.body))
      return fail(ErrorCode::kResourceExhausted, reason + "; the account's quota is exhausted, not retrying");
    retry = retryable_status(o.status);
    if (auto should = header(o.headers, "x-should-retry")) {
      if (*should == "true") retry = true;
      if (*should == "false") retry = false;
    }
  }
  if (!retry) return fail(code, reason);
  if (attempt + 1 >= max_attempts)
    return fail(code, reason + " (gave up after " + std::to_string(max_attempts) + " attempt" +
                          (max_attempts == 1 ? "" : "s") + ")");

  Decision d;
  d.action = Action::kRetry;
  d.delay_s = backoff_seconds(attempt, uniform);
  if (!o.transport_failed) {
    if (auto asked = server_delay_seconds(o.headers, now_unix_s)) {
      if (*asked > kMaxRetryAfterSeconds)
        return fail(code, reason + "; the server asks to wait " + std::to_string(static_cast<int64_t>(*asked)) +
                              " s (over the 120 s cir waits), not retrying");
      if (*asked > 0) d.delay_s = *asked;
    }
  }
  d.reason = reason;
  return d;
}

}  // namespace cir::gen::retry
