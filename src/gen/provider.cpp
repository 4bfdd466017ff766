// The OpenAI-compatible provider: request forms (wire), the cache, retries (retry) and the
// bounded transport, put together per gen.h's contract.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>

#include "cir/gen.h"
#include "gen/cache.h"
#include "gen/retry.h"
#include "gen/transport.h"
#include "gen/wire.h"

namespace cir::gen {

namespace {

using nlohmann::json;
using wire::Endpoint;
using wire::RequestForms;

using Clock = std::chrono::steady_clock;

std::string resolve_api_key(const std::string& configured) {
  if (!configured.empty()) return configured;
  for (const char* name : {"CIR_LLM_API_KEY", "OPENAI_API_KEY"})
    if (const char* v = std::getenv(name); v && *v) return v;
  return "";
}

void validate_spec(const ProviderSpec& spec) {
  auto invalid = [](const std::string& m) { return Error(ErrorCode::kInvalidArgument, m); };
  if (spec.model.empty()) throw invalid("LLM provider " + spec.base_url + ": no model id given (--llm-model)");
  if (spec.max_concurrency < 1)
    throw invalid("LLM provider max_concurrency must be >= 1, got " + std::to_string(spec.max_concurrency));
  if (spec.max_attempts < 1) throw invalid("LLM provider max_attempts must be >= 1, got " + std::to_string(spec.max_attempts));
  if (!(spec.connect_timeout_s > 0) || !(spec.read_timeout_s > 0) || !(spec.image_read_timeout_s > 0))
    throw invalid("LLM provider timeouts must be > 0 s");
  if (spec.deadline_s < 0) throw invalid("LLM provider deadline_s must be >= 0 (0 = none)");
}

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Old llama.cpp builds answer n > 1 with HTTP 500 "Only one completion choice is allowed";
// others refuse it with 400/422/501. Any of these on an n > 1 request means: fan out.
bool looks_like_n_rejection(const retry::HttpOutcome& o) {
  if (o.transport_failed) return false;
  if (o.status == 400 || o.status == 422 || o.status == 501) return true;
  if (o.status != 500) return false;
  const std::string message = wire::parse_error_body(o.body).message;
  return message.find("choice") != std::string::npos || message.find("n_cmpl") != std::string::npos ||
         message.find("'n'") != std::string::npos || message.find("\"n\"") != std::string::npos;
}

SamplingOptions fanout_sampling(const SamplingOptions& sampling, int index) {
  SamplingOptions single = sampling;
  single.n = 1;
  if (single.seed) single.seed = *single.seed + static_cast<uint64_t>(index);
  return single;
}

class OpenAiProvider final : public Provider {
 public:
  explicit OpenAiProvider(ProviderSpec spec) : spec_(std::move(spec)), url_(wire::parse_base_url(spec_.base_url)) {
    validate_spec(spec_);
    spec_.api_key = resolve_api_key(spec_.api_key);
    transport_ = std::make_unique<HttpTransport>(
        url_, TransportOptions{spec_.connect_timeout_s, spec_.max_concurrency, spec_.api_key});
    if (!spec_.cache_path.empty()) cache_ = std::make_unique<GenerationCache>(spec_.cache_path);
    rng_.seed(std::random_device{}());
  }

  Generation chat(const ChatRequest& request) override {
    return counted(Endpoint::kChat, request.sampling, [&](const SamplingOptions& s, std::optional<int> fanout) {
      return wire::chat_request(spec_, request, s, fanout);
    });
  }

  Generation complete(const CompletionRequest& request) override {
    return counted(Endpoint::kCompletions, request.sampling, [&](const SamplingOptions& s, std::optional<int> fanout) {
      return wire::completion_request(spec_, request, s, fanout);
    });
  }

  ProviderStats stats() const override {
    std::lock_guard lock(stats_mutex_);
    return stats_;
  }

  std::string describe() const override { return spec_.model + "@" + url_.origin + url_.path_prefix; }

  int max_concurrency() const override { return spec_.max_concurrency; }

 private:
  using BuildForms = std::function<RequestForms(const SamplingOptions&, std::optional<int>)>;

  struct Sent {
    std::optional<wire::ParsedResponse> parsed;  ///< empty when the server refused n > 1
    std::string raw;
  };

  Generation counted(Endpoint endpoint, const SamplingOptions& sampling, const BuildForms& build) {
    try {
      Generation g = generate(endpoint, sampling, build);
      std::lock_guard lock(stats_mutex_);
      ++stats_.generations;
      if (g.from_cache) ++stats_.cache_hits;
      return g;
    } catch (...) {
      std::lock_guard lock(stats_mutex_);
      ++stats_.failures;
      throw;
    }
  }

  Generation generate(Endpoint endpoint, const SamplingOptions& sampling, const BuildForms& build) {
    const int n = sampling.n;
    const bool fan_out_now = n > 1 && (!spec_.supports_n || n_unsupported_.load());
    if (!fan_out_now) {
      const RequestForms forms = build(sampling, std::nullopt);
      const std::string key = wire::cache_key(forms.key_source);
      if (auto hit = cached(endpoint, key, n)) return *hit;
      // A rerun after an earlier fan-out finds its answers under the fan-out keys.
      if (n > 1)
        if (auto hit = cached_fan_out(endpoint, sampling, build)) return *hit;
      Sent sent = send(endpoint, forms, /*may_reject_n=*/n > 1);
      if (sent.parsed && static_cast<int>(sent.parsed->generation.texts.size()) >= n) {
        store(key, forms, *sent.parsed, sent.raw);
        Generation g = std::move(sent.parsed->generation);
        g.texts.resize(static_cast<size_t>(n));
        g.finish_reasons.resize(static_cast<size_t>(n));
        return g;
      }
      // Refused, or ignored (fewer choices than asked, e.g. Ollama, inference-server): from now
      // on this provider gets n single calls with seed + i.
      n_unsupported_ = true;
      log(LogLevel::kInfo, "LLM provider " + describe() + " does not honour n > 1; fanning out " + std::to_string(n) +
                               " single requests");
    }
    return fan_out(endpoint, sampling, build);
  }

  std::optional<Generation> cached(Endpoint endpoint, const std::string& key, int expected_choices) {
    if (!cache_) return std::nullopt;
    std::optional<std::string> body = cache_->find_response(key);
    if (!body) return std::nullopt;
    try {
      Generation g = wire::parse_response(endpoint, *body, "cache " + cache_->path(), 200).generation;
      if (static_cast<int>(g.texts.size()) < expected_choices) return std::nullopt;
      g.texts.resize(static_cast<size_t>(expected_choices));
      g.finish_reasons.resize(static_cast<size_t>(expected_choices));
      g.from_cache = true;
      g.usage = {};  // tokens count once, when they were paid for
      return g;
    } catch (const Error& e) {
      log(LogLevel::kWarn, std::string("ignoring an unreadable LLM cache row: ") + e.what());
      return std::nullopt;
    }
  }

  std::optional<Generation> cached_fan_out(Endpoint endpoint, const SamplingOptions& sampling, const BuildForms& build) {
    std::vector<Generation> parts;
    for (int i = 0; i < sampling.n; ++i) {
      const RequestForms forms = build(fanout_sampling(sampling, i), i);
      auto hit = cached(endpoint, wire::cache_key(forms.key_source), 1);
      if (!hit) return std::nullopt;
      parts.push_back(std::move(*hit));
    }
    return combine(std::move(parts));
  }

  Generation fan_out(Endpoint endpoint, const SamplingOptions& sampling, const BuildForms& build) {
    std::vector<Generation> parts(static_cast<size_t>(sampling.n));
    const int threads = std::min(sampling.n, spec_.max_concurrency);
    parallel_for(sampling.n, threads, [&](int64_t i) {
      const int index = static_cast<int>(i);
      const RequestForms forms = build(fanout_sampling(sampling, index), index);
      const std::string key = wire::cache_key(forms.key_source);
      if (auto hit = cached(endpoint, key, 1)) {
        parts[static_cast<size_t>(i)] = std::move(*hit);
        return;
      }
      Sent sent = send(endpoint, forms, /*may_reject_n=*/false);
      store(key, forms, *sent.parsed, sent.raw);
      Generation g = std::move(sent.parsed->generation);
      g.texts.resize(1);
      g.finish_reasons.resize(1);
      parts[static_cast<size_t>(i)] = std::move(g);
    });
    return combine(std::move(parts));
  }

  static Generation combine(std::vector<Generation> parts) {
    Generation all;
    all.from_cache = true;
    for (Generation& p : parts) {
      all.texts.insert(all.texts.end(), p.texts.begin(), p.texts.end());
      all.finish_reasons.insert(all.finish_reasons.end(), p.finish_reasons.begin(), p.finish_reasons.end());
      if (all.model_reported.empty()) all.model_reported = p.model_reported;
      all.usage.prompt_tokens += p.usage.prompt_tokens;
      all.usage.completion_tokens += p.usage.completion_tokens;
      all.from_cache = all.from_cache && p.from_cache;
    }
    return all;
  }

  void store(const std::string& key, const RequestForms& forms, const wire::ParsedResponse& parsed,
             const std::string& raw) {
    if (!cache_) return;
    CacheRow row;
    row.key = key;
    row.request_json = wire::canonical_json(forms.key_source);
    row.response_json = raw;
    row.model_reported = parsed.generation.model_reported;
    row.system_fingerprint = parsed.system_fingerprint;
    row.finish_reasons = json(parsed.generation.finish_reasons).dump();
    row.usage_json = json{{"prompt_tokens", parsed.generation.usage.prompt_tokens},
                          {"completion_tokens", parsed.generation.usage.completion_tokens}}
                         .dump();
    cache_->store(row);
  }

  Sent send(Endpoint endpoint, const RequestForms& forms, bool may_reject_n) {
    const std::string path(wire::endpoint_path(endpoint));
    const std::string url = url_.endpoint_url(path);
    const std::string body = wire::canonical_json(forms.body);
    const std::string context = "LLM request to " + url + " (model " + spec_.model + ") failed: ";
    const double read_timeout = forms.has_images ? spec_.image_read_timeout_s : spec_.read_timeout_s;
    const auto start = Clock::now();
    auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };

    for (int attempt = 0;; ++attempt) {
      double timeout = read_timeout;
      if (spec_.deadline_s > 0) {
        const double remaining = spec_.deadline_s - elapsed();
        if (remaining <= 0) throw over_deadline(context);
        timeout = std::min(timeout, remaining);
      }
      retry::HttpOutcome outcome = transport_->post_json(path, body, timeout);
      bump(&ProviderStats::requests);
      const retry::Decision decision = retry::decide(outcome, attempt, spec_.max_attempts, uniform(), unix_now());
      if (decision.action == retry::Action::kSucceed) return parsed(endpoint, std::move(outcome), url);
      if (may_reject_n && looks_like_n_rejection(outcome)) return Sent{};
      if (decision.action == retry::Action::kFail) throw Error(decision.code, redact(context + decision.reason));
      if (spec_.deadline_s > 0 && elapsed() + decision.delay_s > spec_.deadline_s) throw over_deadline(context);
      log(LogLevel::kInfo, redact("LLM request to " + url + ": " + decision.reason + "; retrying in " +
                                  std::to_string(decision.delay_s) + " s"));
      bump(&ProviderStats::retries);
      std::this_thread::sleep_for(std::chrono::duration<double>(decision.delay_s));
    }
  }

  Sent parsed(Endpoint endpoint, retry::HttpOutcome outcome, const std::string& url) {
    Sent sent;
    try {
      sent.parsed = wire::parse_response(endpoint, outcome.body, url, outcome.status);
    } catch (const Error& e) {
      throw Error(e.code(), redact(e.what()));
    }
    sent.raw = std::move(outcome.body);
    std::lock_guard lock(stats_mutex_);
    stats_.usage.prompt_tokens += sent.parsed->generation.usage.prompt_tokens;
    stats_.usage.completion_tokens += sent.parsed->generation.usage.completion_tokens;
    return sent;
  }

  Error over_deadline(const std::string& context) const {
    return Error(ErrorCode::kResourceExhausted,
                 context + "the call's deadline of " + std::to_string(spec_.deadline_s) + " s is used up");
  }

  // A provider may echo the key it was sent (e.g. "Incorrect API key provided: sk-...").
  std::string redact(std::string text) const {
    const std::string& key = spec_.api_key;
    if (key.size() < 4) return text;
    for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at))
      text.replace(at, key.size(), "[redacted]");
    return text;
  }

  void bump(int64_t ProviderStats::*counter) {
    std::lock_guard lock(stats_mutex_);
    ++(stats_.*counter);
  }

  double uniform() {
    std::lock_guard lock(rng_mutex_);
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  }

  ProviderSpec spec_;
  wire::ApiUrl url_;
  std::unique_ptr<HttpTransport> transport_;
  std::unique_ptr<GenerationCache> cache_;
  std::atomic<bool> n_unsupported_{false};
  mutable std::mutex stats_mutex_;
  ProviderStats stats_;
  std::mutex rng_mutex_;
  std::mt19937_64 rng_;
};

}  // namespace

std::shared_ptr<Provider> open_provider(const ProviderSpec& spec) { return std::make_shared<OpenAiProvider>(spec); }

}  // namespace cir::gen
