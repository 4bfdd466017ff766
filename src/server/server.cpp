// Server lifecycle: opening one Engine per index, configuring httplib (thread pool, limits,
// timeouts), binding, and graceful shutdown on SIGINT/SIGTERM.
#include <atomic>
#include <chrono>
#include <csignal>
#include <strings.h>
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

// The message and status of a request the connection layer cut short (transport.h).
std::pair<int, std::string> cut_error(CutReason cut, const ServerOptions& o) {
  switch (cut) {
    case CutReason::kBodyTooLarge:
      return {413, "request body exceeds the server's limit of " + std::to_string(o.max_body_bytes) +
                       " bytes (--max-body-mb; chunked bodies are counted with their framing)"};
    case CutReason::kHeaderTimeout:
      return {408, "request headers did not arrive within " + std::to_string(o.header_timeout_seconds) +
                       " s (--header-timeout)"};
    case CutReason::kBodyTimeout:
      return {408, "request body did not arrive within " + std::to_string(o.body_timeout_seconds) + " s (--body-timeout)"};
    case CutReason::kNone: break;
  }
  return {400, "bad request"};
}

// Unknown routes and httplib-level failures (oversize body: 413; header/body deadline: 408;
// bad request line: 400) get the same JSON error shape as handler errors.
void install_error_handler(ServerImpl& s) {
  s.http.set_error_handler([&s](const httplib::Request& req, httplib::Response& res) {
    ConnectionContext* connection = current_connection();
    if (connection && connection->cut != CutReason::kNone) {
      const auto [status, message] = cut_error(connection->cut, s.options);
      res.set_header("Connection", "close");
      send_json(res, error_body(status == 413 ? "resource_exhausted" : "invalid_argument", message), status);
      return;
    }
    if (!res.body.empty()) return;
    const char* code = res.status == 404 ? "not_found" : res.status == 413 ? "resource_exhausted" : "invalid_argument";
    std::string message = res.status == 404 ? "no route for " + req.method + " " + req.path
                          : res.status == 413 ? "request body exceeds the server's limit"
                                              : "bad request";
    send_json(res, error_body(code, message), res.status);
  });
}

// Refuses, before any body byte is read, bodies the server cannot bound or frame safely. The
// connection is closed after the answer, since the unread body would be parsed as a request.
httplib::Server::HandlerResponse refuse_body(ServerImpl& s, httplib::Response& res, int status, const char* code,
                                             const std::string& message, const char* reason) {
  s.metrics.record_rejection(reason);
  if (ConnectionContext* connection = current_connection()) connection->close_after_response = true;
  res.set_header("Connection", "close");
  send_json(res, error_body(code, message), status);
  return httplib::Server::HandlerResponse::Handled;
}

void install_body_checks(ServerImpl& s) {
  const uint64_t limit = static_cast<uint64_t>(s.options.max_body_bytes);
  s.http.set_pre_routing_handler([&s, limit](const httplib::Request& req, httplib::Response& res) {
    using R = httplib::Server::HandlerResponse;
    const bool has_length = req.has_header("Content-Length");
    const bool has_encoding = req.has_header("Transfer-Encoding");
    const bool chunked = strcasecmp(req.get_header_value("Transfer-Encoding").c_str(), "chunked") == 0;
    if (has_encoding && (has_length || !chunked))
      return refuse_body(s, res, 400, "invalid_argument",
                         "Transfer-Encoding must be exactly 'chunked' and not combined with Content-Length", "bad_framing");
    const std::string content_encoding = req.get_header_value("Content-Encoding");
    if (!content_encoding.empty() && content_encoding != "identity")
      // A compressed body would be inflated past every size limit (httplib decompresses it).
      return refuse_body(s, res, 415, "unsupported",
                         "compressed request bodies (Content-Encoding: " + content_encoding + ") are not accepted", "compressed_body");
    if (has_length && req.get_header_value<uint64_t>("Content-Length") > limit)
      return refuse_body(s, res, 413, "resource_exhausted",
                         "request body of " + req.get_header_value("Content-Length") + " bytes exceeds the server's limit of " +
                             std::to_string(limit) + " bytes (--max-body-mb)", "body_too_large");
    // httplib would read a POST without either header until the client closes the connection.
    const bool carries_body = req.method == "POST" || req.method == "PUT" || req.method == "PATCH";
    if (carries_body && !has_length && !has_encoding)
      return refuse_body(s, res, 411, "invalid_argument",
                         "a request body needs Content-Length or Transfer-Encoding: chunked", "length_required");
    return R::Unhandled;
  });
}

// A client announcing a body above the limit (curl does for bodies over 1 KB with
// "Expect: 100-continue") hears 413 before sending it, instead of uploading it all to be refused.
void install_expect_handler(ServerImpl& s) {
  const uint64_t limit = static_cast<uint64_t>(s.options.max_body_bytes);
  s.http.set_expect_100_continue_handler([limit](const httplib::Request& req, httplib::Response& res) {
    const uint64_t announced = req.get_header_value<uint64_t>("Content-Length");
    if (announced <= limit) return 100;
    if (ConnectionContext* connection = current_connection()) connection->close_after_response = true;
    send_json(res,
              {{"error",
                {{"code", "resource_exhausted"},
                 {"message", "request body of " + std::to_string(announced) + " bytes exceeds the server's limit of " +
                                 std::to_string(limit) + " bytes (--max-body-mb)"}}}},
              413);
    return 413;
  });
}

TransportLimits transport_limits(const ServerOptions& o) {
  using std::chrono::seconds;
  TransportLimits t;
  t.max_body_bytes = static_cast<uint64_t>(o.max_body_bytes);
  t.max_connections = o.max_connections;
  t.max_connections_per_ip = o.max_connections_per_ip;
  t.header_timeout = seconds(o.header_timeout_seconds);
  t.body_timeout = seconds(o.body_timeout_seconds);
  t.read_idle_timeout = seconds(o.read_timeout_seconds);
  t.write_timeout = seconds(o.write_timeout_seconds);
  t.keep_alive_timeout = seconds(o.keep_alive_timeout_seconds);
  return t;
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
  s.options.threads = options.threads > 0 ? options.threads : std::max(2, default_thread_count());
  s.work_slots = std::make_unique<std::counting_semaphore<>>(s.options.threads);
  s.http.configure(transport_limits(s.options), &s.metrics);
  install_search_routes(s);
  install_item_routes(s);
  install_clip_retrieval_routes(s);
  install_misc_routes(s);
  install_error_handler(s);
  install_body_checks(s);
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
  {
    std::lock_guard lock(impl_->run_mutex);
    impl_->running = true;
  }
  impl_->http.listen_after_bind();  // returns once every connection thread has finished
  {
    std::lock_guard lock(impl_->run_mutex);
    impl_->running = false;
  }
  impl_->run_done.notify_all();
}

void Server::stop() {
  if (impl_ && impl_->http.is_running()) impl_->http.stop();
}

bool Server::shutdown(int grace_seconds) {
  stop();
  std::unique_lock lock(impl_->run_mutex);
  return impl_->run_done.wait_for(lock, std::chrono::seconds(grace_seconds), [&] { return !impl_->running; });
}

int Server::port() const { return impl_->port; }

void serve(const ServerOptions& options) {
  auto server = Server::create(options);
  const int port = server->bind();
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGPIPE, SIG_IGN);
  std::atomic<bool> done{false};
  // Signal handlers may only set a flag; this thread turns it into a graceful stop with a
  // deadline: a request still running after shutdown_timeout_seconds does not keep the process
  // alive (committed store writes are durable; the batch in flight is lost).
  std::thread watcher([&] {
    while (!done.load() && g_signal.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (done.load()) return;
    if (server->shutdown(options.shutdown_timeout_seconds)) return;
    std::cerr << "cir serve: requests still in flight after " << options.shutdown_timeout_seconds
              << " s (--shutdown-timeout); exiting" << std::endl;
    std::_Exit(1);
  });
  std::cerr << "cir serve: listening on http://" << options.host << ":" << port << "/ (" << options.indexes.size()
            << " index(es))" << std::endl;
  server->run();
  done.store(true);
  watcher.join();
  if (g_signal.load() != 0) std::cerr << "cir serve: signal " << g_signal.load() << ", shut down cleanly" << std::endl;
}

}  // namespace cir::server
