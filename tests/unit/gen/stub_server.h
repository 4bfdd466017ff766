// A tiny OpenAI-shaped HTTP server for the provider tests: 127.0.0.1 on an ephemeral port, one
// handler written by each test, every request recorded, requests in flight counted.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace cir::testing {

struct SeenRequest {
  std::string path;
  std::string body;
  std::string authorization;
  nlohmann::json json() const { return nlohmann::json::parse(body); }
};

class StubServer {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&, int call_index)>;

  explicit StubServer(Handler handler) : handler_(std::move(handler)) { start(); }
  ~StubServer() { stop(); }

  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  int peak_in_flight() const { return peak_; }
  std::vector<SeenRequest> requests() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  size_t request_count() const { return requests().size(); }

  void stop() {
    if (!thread_.joinable()) return;
    server_.stop();
    thread_.join();
  }

  /// An OpenAI chat completion body with the given contents as choices.
  static std::string chat_body(const std::vector<std::string>& contents, const std::string& model = "stub-model") {
    nlohmann::json choices = nlohmann::json::array();
    for (size_t i = 0; i < contents.size(); ++i)
      choices.push_back({{"index", i}, {"message", {{"role", "assistant"}, {"content", contents[i]}}}, {"finish_reason", "stop"}});
    return nlohmann::json{{"object", "chat.completion"}, {"model", model}, {"system_fingerprint", "fp_stub"},
                          {"choices", choices}, {"usage", {{"prompt_tokens", 7}, {"completion_tokens", 3}}}}
        .dump();
  }

 private:
  void start() {
    auto route = [this](const httplib::Request& req, httplib::Response& res) {
      int index;
      {
        std::lock_guard lock(mutex_);
        index = static_cast<int>(seen_.size());
        seen_.push_back({req.path, req.body, req.get_header_value("Authorization")});
      }
      const int now = ++in_flight_;
      for (int peak = peak_; now > peak && !peak_.compare_exchange_weak(peak, now);) {
      }
      handler_(req, res, index);
      --in_flight_;
    };
    server_.Post(R"(/.*)", route);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }

  Handler handler_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mutex_;
  std::vector<SeenRequest> seen_;
  std::atomic<int> in_flight_{0};
  std::atomic<int> peak_{0};
};

}  // namespace cir::testing
