// Starts the npm test server (tests/llm/serve.mjs: inference-server + node-llama-cpp) on a free
// 127.0.0.1 port with the tiny random GGUF, waits for /v1/models, and stops it by PID.
#pragma once

#include <httplib.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

extern char** environ;

namespace cir::testing {

/// Where the npm server lives; empty when `npm ci --prefix tests/llm` has not run.
inline std::string llm_server_dir() {
  const std::string dir = std::string(CIR_SOURCE_DIR) + "/tests/llm";
  if (!std::filesystem::exists(dir + "/node_modules/inference-server/package.json")) return "";
  if (std::system("command -v node >/dev/null 2>&1") != 0) return "";
  return dir;
}

/// A port nothing listens on right now (the kernel's pick for a throw-away socket).
inline int free_local_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

class LlmServer {
 public:
  /// `work_dir` holds the model, the server's log and its download cache.
  /// `concurrency`: model instances the server runs at once (inference-server's pool).
  LlmServer(std::string server_dir, std::string work_dir, int concurrency = 2)
      : server_dir_(std::move(server_dir)), work_dir_(std::move(work_dir)), concurrency_(std::to_string(concurrency)) {
    model_path_ = work_dir_ + "/tiny-llama.gguf";
    const std::string cmd = "node '" + server_dir_ + "/write_tiny_gguf.mjs' '" + model_path_ + "'";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("could not write the test GGUF: " + cmd);
  }
  ~LlmServer() { stop(); }

  /// Starts on `port` (0 = a free one) and returns once /openai/v1/models answers; throws with the
  /// server's log when it does not come up within 90 s.
  void start(int port = 0) {
    port_ = port ? port : free_local_port();
    const std::string script = server_dir_ + "/serve.mjs", port_text = std::to_string(port_),
                      cache = work_dir_ + "/server-cache", log = work_dir_ + "/server.log";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    const char* argv[] = {"node", script.c_str(), "--model", model_path_.c_str(), "--port", port_text.c_str(),
                          "--cache-dir", cache.c_str(), "--concurrency", concurrency_.c_str(), nullptr};
    const int rc = posix_spawnp(&pid_, "node", &actions, nullptr, const_cast<char* const*>(argv), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("could not start node: " + std::string(strerror(rc)));
    wait_until_ready(log);
  }

  /// SIGTERM, then SIGKILL after 5 s; waits for the process to go.
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  int port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/openai/v1"; }
  const std::string& model_path() const { return model_path_; }

 private:
  void wait_until_ready(const std::string& log) {
    httplib::Client client("127.0.0.1", port_);
    client.set_connection_timeout(1, 0);
    for (int i = 0; i < 900; ++i) {
      if (auto res = client.Get("/openai/v1/models"); res && res->status == 200) return;
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("the LLM test server exited at start; its log:\n" + read_text(log));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    stop();
    throw std::runtime_error("the LLM test server did not answer /openai/v1/models within 90 s; its log:\n" + read_text(log));
  }

  static std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  std::string server_dir_, work_dir_, concurrency_, model_path_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace cir::testing
