// When to retry an LLM request and how long to wait (generation.md §6.3, after the official
// OpenAI SDK's rules). Pure functions of one HTTP outcome, so the table is unit-tested without
// a server.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "cir/core.h"

namespace cir::gen::retry {

/// One attempt's result as the transport saw it.
struct HttpOutcome {
  bool transport_failed = false;  ///< no HTTP response at all
  bool transport_retryable = false;  ///< connection refused/reset, timeouts (not TLS failures)
  std::string transport_error;    ///< httplib's description, when transport_failed
  int status = 0;
  std::map<std::string, std::string> headers;  ///< keys lower-cased
  std::string body;
};

enum class Action { kSucceed, kRetry, kFail };

struct Decision {
  Action action = Action::kFail;
  double delay_s = 0;                     ///< before the next attempt (kRetry)
  ErrorCode code = ErrorCode::kInternal;  ///< for kFail
  std::string reason;                     ///< for kFail and logs: what went wrong, no URL
};

/// Longest server-requested wait honoured (the SDK's MAX_RETRY_AFTER_DELAY); beyond it the error
/// is surfaced rather than stalling a batch for minutes.
inline constexpr double kMaxRetryAfterSeconds = 120;

/// The delay the server asked for: `retry-after-ms`, else `Retry-After` as seconds (may be a
/// float) or an HTTP date (relative to `now_unix_s`). nullopt when absent or unparsable.
std::optional<double> server_delay_seconds(const std::map<std::string, std::string>& headers, double now_unix_s);

/// min(0.5 * 2^retry_index, 8) * (1 - 0.25 * uniform), uniform in [0, 1); retry_index 0 = first retry.
double backoff_seconds(int retry_index, double uniform);

/// What to do after attempt number `attempt` (0-based) of `max_attempts`.
Decision decide(const HttpOutcome& outcome, int attempt, int max_attempts, double uniform, double now_unix_s);

}  // namespace cir::gen::retry
