// Server lifecycle: opening one Engine per index, configuring httplib (thread pool, limits,
// timeouts), binding, and graceful shutdown on SIGINT/SIGTERM.
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <thread>

#include "server_impl.h"

namespace cir::server {
namespace fs = std::filesystem;
namespace {

std::atomic<int> g_signal{0};

void on_signal(int sig) { g_signal.store(sig); }

std::unique_ptr<IndexHandle> open_index(const std::string& name, const std::string& dir, const ServerOptions& options) {
  if (name.empty() || name.find('/') != std::string::npos)
    throw Error(ErrorCode::kInvalidArgument, "index name '" + name + "' must be non-empty and contain no '/'");
  auto h = std::make_unique<IndexHandle>();
  h->name = name;
  std::error_code ec;
  h->dir = fs::weakly_canonical(dir, ec).string();
  if (ec) h->dir = dir;
  engine::EngineOptions eo;
  eo.read_only = !options.writable;
  eo.model = options.model;
  eo.encoder.n_threads = options.encoder_threads;
  eo.encoder.decode.max_pixels = options.max_image_pixels;
  h->engine = engine::Engine::open(h->dir, eo);
  engine::GenerationOptions generation = options.generation;
  if (!generation.provider.base_url.empty() && generation.provider.cache_path.empty())
    generation.provider.cache_path = (fs::path(h->dir) / "llm-cache.sqlite").string();
  h->engine->set_generation(generation);
  if (!h->engine->gallery_root().empty()) {
    h->gallery_root = fs::weakly_canonical(h->engine->gallery_root(), ec).string();
    if (ec) h->gallery_root.clear();
  }
  h->uploads_dir = (fs::path(h->dir) / "uploads").string();
  h->thumbnails_dir = (fs::path(h->dir) / "thumbnails").string();
  return h;
}

// Unknown routes and httplib-level failures (oversize body: 413; bad request line: 400) get the
// same JSON error shape as handler errors.
void install_error_handler(ServerImpl& s) {
  s.http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    const char* code = res.status == 404 ? "not_found" : res.status == 413 ? "resource_exhausted" : "invalid_argument";
    std::string message = res.status == 404 ? "no route for " + req.method + " " + req.path
                          : res.status == 413 ? "request body exceeds the server's limit"
                                              : "bad request";
    send_json(res, {{"error", {{"code", code}, {"message", message}}}}, res.status);
  });
}

// A client announcing a body above the limit (curl does for bodies over 1 KB with
// "Expect: 100-continue") hears 413 before sending it, instead of uploading it all to be refused.
void install_expect_handler(ServerImpl& s) {
  const uint64_t limit = static_cast<uint64_t>(s.options.max_body_bytes);
  s.http.set_expect_100_continue_handler([limit](const httplib::Request& req, httplib::Response& res) {
    const uint64_t announced = req.get_header_value<uint64_t>("Content-Length");
    if (announced <= limit) return 100;
    send_json(res,
              {{"error",
                {{"code", "resource_exhausted"},
                 {"message", "request body of " + std::to_string(announced) + " bytes exceeds the server's limit of " +
                                 std::to_string(limit) + " bytes (--max-body-mb)"}}}},
              413);
    return 413;
  });
}

}  // namespace

Server::Server(std::unique_ptr<ServerImpl> impl) : impl_(std::move(impl)) {}
Server::~Server() { stop(); }

std::unique_ptr<Server> Server::create(const ServerOptions& options) {
  if (options.indexes.empty()) throw Error(ErrorCode::kInvalidArgument, "serve needs at least one --index name=DIR");
  auto impl = std::make_unique<ServerImpl>();
  impl->options = options;
  for (const auto& [name, dir] : options.indexes) impl->indexes[name] = open_index(name, dir, options);
  if (!options.queries_file.empty()) impl->ground_truth.load(options.queries_file);
  ServerImpl& s = *impl;
  const int n_threads = options.threads > 0 ? options.threads : std::max(2, default_thread_count());
  s.http.new_task_queue = [n_threads] { return new httplib::ThreadPool(static_cast<size_t>(n_threads)); };
  s.http.set_payload_max_length(static_cast<size_t>(options.max_body_bytes));
  s.http.set_read_timeout(options.read_timeout_seconds, 0);
  s.http.set_write_timeout(options.write_timeout_seconds, 0);
  install_search_routes(s);
  install_item_routes(s);
  install_clip_retrieval_routes(s);
  install_misc_routes(s);
  install_error_handler(s);
  install_expect_handler(s);
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

int Server::bind() {
  const int port = impl_->options.port == 0 ? impl_->http.bind_to_any_port(impl_->options.host)
                                            : (impl_->http.bind_to_port(impl_->options.host, impl_->options.port)
                                                   ? impl_->options.port
                                                   : -1);
  if (port <= 0)
    throw Error(ErrorCode::kIo, "cannot listen on " + impl_->options.host + ":" + std::to_string(impl_->options.port));
  impl_->port = port;
  return port;
}

void Server::run() {
  if (impl_->port == 0) bind();
  impl_->http.listen_after_bind();
}

void Server::stop() {
  if (impl_ && impl_->http.is_running()) impl_->http.stop();
}

int Server::port() const { return impl_->port; }

void serve(const ServerOptions& options) {
  auto server = Server::create(options);
  const int port = server->bind();
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGPIPE, SIG_IGN);
  std::atomic<bool> done{false};
  // Signal handlers may only set a flag; this thread turns it into a graceful stop.
  std::thread watcher([&] {
    while (!done.load() && g_signal.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    server->stop();
  });
  std::cerr << "cir serve: listening on http://" << options.host << ":" << port << "/ (" << options.indexes.size()
            << " index(es))" << std::endl;
  server->run();
  done.store(true);
  watcher.join();
  if (g_signal.load() != 0) std::cerr << "cir serve: signal " << g_signal.load() << ", shut down cleanly" << std::endl;
}

}  // namespace cir::server
