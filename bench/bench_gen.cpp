// bench_gen: what cir_gen's provider client costs per call, against the real npm test server
// (inference-server 1.0.0-beta.32 on node-llama-cpp 3.6.0, the tiny random llama of tests/llm),
// next to a bare httplib loop posting the same bodies in the same run (the server's own time per
// request plus the minimum any client pays). Also the client's CPU work alone (request forms,
// cache key, response parse) and a cache hit. Prints JSON rows; skips with a row when the server
// is not installed (scripts/setup installs it).
//
// Usage: bench_gen [--requests N] [--max-tokens N]
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "bench_util.h"
#include "cir/gen.h"
#include "gen/wire.h"
#include "unit/gen/llm_server.h"

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// A scratch directory for the model, the server log and the cache, removed at exit.
struct ScratchDir {
  std::filesystem::path path;
  ScratchDir() {
    path = std::filesystem::temp_directory_path() / ("cir-bench-gen-" + std::to_string(::getpid()) + "-" +
                                                     std::to_string(counter++));
    std::filesystem::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string str(const std::string& child = "") const { return child.empty() ? path.string() : (path / child).string(); }
  static inline int counter = 0;
};

struct Args {
  int requests = 36;  ///< per client and concurrency, split over the rounds
  int max_tokens = 1;
};

Args parse_args(int argc, char** argv) {
  Args args;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--requests")) args.requests = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--max-tokens")) args.max_tokens = std::atoi(argv[i + 1]);
  }
  return args;
}

cir::gen::ChatRequest request_for(const std::string& tag, int i, int max_tokens) {
  cir::gen::ChatRequest request;
  cir::gen::ContentPart part;
  // Same length for every tag and index, so both clients ask the server for the same work.
  char text[64];
  std::snprintf(text, sizeof text, "describe item %05d for %s", i, tag.c_str());
  part.text = text;
  request.messages.push_back(cir::gen::ChatMessage{"user", {part}});
  request.sampling.temperature = 0.8;
  request.sampling.top_p = 0.95;
  request.sampling.max_tokens = max_tokens;
  request.sampling.seed = static_cast<uint64_t>(i) + 1;  // inference-server drops a seed of 0
  return request;
}

struct RunFigures {
  double seconds = 0;
  double mean_latency_ms = 0;
};

// `requests` calls of fn(i) from `threads` threads, each taking the next index.
template <typename Fn>
RunFigures run_concurrently(int requests, int threads, Fn&& fn) {
  std::atomic<int> next{0};
  std::atomic<int64_t> latency_us{0};
  const auto t0 = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (int i = next++; i < requests; i = next++) {
        const auto s = Clock::now();
        fn(i);
        latency_us += std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - s).count();
      }
    });
  for (auto& th : pool) th.join();
  RunFigures f;
  f.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  f.mean_latency_ms = static_cast<double>(latency_us.load()) / 1000.0 / requests;
  return f;
}

// The baseline: one keep-alive httplib client per thread posting pre-built bodies.
RunFigures raw_loop(const std::string& base_url, const std::vector<std::string>& bodies, int threads) {
  const auto url = cir::gen::wire::parse_base_url(base_url);
  std::vector<std::unique_ptr<httplib::Client>> clients;
  for (int t = 0; t < threads; ++t) {
    clients.push_back(std::make_unique<httplib::Client>(url.origin));
    clients.back()->set_keep_alive(true);
    clients.back()->set_read_timeout(120, 0);
  }
  std::atomic<int> slot{0};
  thread_local int my_slot = -1;
  return run_concurrently(static_cast<int>(bodies.size()), threads, [&](int i) {
    if (my_slot < 0) my_slot = slot++;
    auto res = clients[static_cast<size_t>(my_slot)]->Post(url.path_prefix + "/chat/completions", bodies[static_cast<size_t>(i)],
                                                           "application/json");
    if (!res || res->status != 200) throw std::runtime_error("raw request failed");
  });
}

void bench_against_server(const Args& args) {
  const std::string dir = cir::testing::llm_server_dir();
  if (dir.empty()) {
    cir::bench::emit_row("gen_client", {{"skipped", "npm LLM test server not installed (scripts/setup)"}});
    return;
  }
  ScratchDir work;
  cir::testing::LlmServer server(dir, work.str(), /*concurrency=*/2);
  server.start();

  cir::gen::ProviderSpec spec;
  spec.base_url = server.base_url();
  spec.model = "tiny-llama";
  spec.read_timeout_s = 120;
  // Warm-up: the model loads on the first request of each server instance.
  {
    auto warm = cir::gen::open_provider(spec);
    for (int i = 0; i < 4; ++i) warm->chat(request_for("warm", i, args.max_tokens));
  }
  // Rounds alternate the two clients so load from elsewhere on the machine hits both alike.
  constexpr int kRounds = 3;
  for (int concurrency : {1, 4, 16}) {
    spec.max_concurrency = concurrency;
    auto provider = cir::gen::open_provider(spec);
    RunFigures raw_total, cir_total;
    int done = 0;
    for (int round = 0; round < kRounds; ++round) {
      const int n = args.requests / kRounds;
      const std::string raw_tag = "raw" + std::to_string(concurrency), cir_tag = "cir" + std::to_string(concurrency);
      std::vector<std::string> raw_bodies;
      for (int i = done; i < done + n; ++i) {
        const auto request = request_for(raw_tag, i, args.max_tokens);
        raw_bodies.push_back(cir::gen::wire::canonical_json(
            cir::gen::wire::chat_request(spec, request, request.sampling, std::nullopt).body));
      }
      const RunFigures raw = raw_loop(spec.base_url, raw_bodies, concurrency);
      const RunFigures cir = run_concurrently(n, concurrency, [&](int i) {
        provider->chat(request_for(cir_tag, done + i, args.max_tokens));
      });
      raw_total.seconds += raw.seconds;
      cir_total.seconds += cir.seconds;
      raw_total.mean_latency_ms += raw.mean_latency_ms / kRounds;
      cir_total.mean_latency_ms += cir.mean_latency_ms / kRounds;
      done += n;
    }
    cir::bench::emit_row(
        "gen_client",
        {{"server", "inference-server 1.0.0-beta.32 / node-llama-cpp 3.6.0, tiny-llama, 2 instances"},
         {"concurrency", concurrency},
         {"requests_per_client", done},
         {"rounds", kRounds},
         {"max_tokens", args.max_tokens},
         {"raw_httplib_rps", done / raw_total.seconds},
         {"cir_rps", done / cir_total.seconds},
         {"raw_mean_latency_ms", raw_total.mean_latency_ms},
         {"cir_mean_latency_ms", cir_total.mean_latency_ms},
         {"cir_minus_raw_ms_per_call", cir_total.mean_latency_ms - raw_total.mean_latency_ms},
         {"cir_http_requests", provider->stats().requests}});
  }
  server.stop();
}

// The client's own CPU per call, no network: forms + canonical JSON + key + response parse.
void bench_client_cpu() {
  cir::gen::ProviderSpec spec;
  spec.base_url = "http://127.0.0.1:1";
  spec.model = "m";
  const std::string response = R"({"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"a man riding a bike down a street"},"finish_reason":"stop"}],"usage":{"prompt_tokens":40,"completion_tokens":9}})";
  const auto request = request_for("cpu", 1, 48);
  const int n = 20000;
  const double s = cir::bench::best_seconds(3, [&] {
    for (int i = 0; i < n; ++i) {
      const auto forms = cir::gen::wire::chat_request(spec, request, request.sampling, std::nullopt);
      const std::string body = cir::gen::wire::canonical_json(forms.body);
      const std::string key = cir::gen::wire::cache_key(forms.key_source);
      const auto parsed = cir::gen::wire::parse_response(cir::gen::wire::Endpoint::kChat, response, "u", 200);
      if (body.empty() || key.size() != 64 || parsed.generation.texts.empty()) std::abort();
    }
  });
  cir::bench::emit_row("gen_client_cpu", {{"what", "chat forms + canonical body + cache key + parse, text request"},
                                          {"calls", n},
                                          {"us_per_call", s / n * 1e6}});
}

// A cache hit: the SQLite lookup and re-parse that replace an HTTP call on reruns.
void bench_cache_hit(const Args& args) {
  ScratchDir dir;
  httplib::Server stub;
  stub.Post("/v1/chat/completions", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"x"},"finish_reason":"stop"}]})",
                    "application/json");
  });
  const int port = stub.bind_to_any_port("127.0.0.1");
  std::thread thread([&] { stub.listen_after_bind(); });
  while (!stub.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  cir::gen::ProviderSpec spec;
  spec.base_url = "http://127.0.0.1:" + std::to_string(port);
  spec.model = "m";
  spec.cache_path = dir.str("gen.sqlite");
  auto provider = cir::gen::open_provider(spec);
  const int n = 2000;
  for (int i = 0; i < n; ++i) provider->chat(request_for("hit", i, args.max_tokens));
  const int64_t filled = provider->stats().requests;
  const double s = cir::bench::best_seconds(3, [&] {
    for (int i = 0; i < n; ++i) provider->chat(request_for("hit", i, args.max_tokens));
  });
  cir::bench::emit_row("gen_cache_hit", {{"what", "chat answered from the SQLite cache (lookup + re-parse)"},
                                         {"calls", n},
                                         {"us_per_call", s / n * 1e6},
                                         {"http_requests_while_timed", provider->stats().requests - filled}});
  stub.stop();
  thread.join();
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse_args(argc, argv);
  bench_client_cpu();
  bench_cache_hit(args);
  bench_against_server(args);
  return 0;
}
