// cir server (L4): the HTTP front end — the v1 JSON API, the clip-retrieval compatible
// endpoints, Prometheus metrics and the embedded web page — over one Engine per index.
//
// Contract
// - Every query goes through engine::Engine::query_batch (one call per HTTP request, a batch for
//   /search/batch), so the API returns exactly what the CLI and the evaluation harness compute.
// - Threads: every connection gets a thread of a pool of max_connections (+ a few to refuse
//   extras quickly), so slow clients cannot starve fast ones; at most `threads` requests do
//   index or model work at once (a semaphore), sharing the engines (query_batch is const; the
//   store serialises its writers). Thumbnail caching and uploads are safe under
//   concurrency (atomic file writes; the store's own lock).
// - Files: only files of indexed items are served. The path is the gallery root (or the index's
//   uploads/ folder) joined with the stored external id, canonicalised and checked to stay inside
//   that root; nothing taken from the request URL is ever used as a path.
// - Errors: cir::Error codes map to HTTP statuses in one function (status_for_error); bodies are
//   {"error": {"code", "message"}}. No httplib or JSON type crosses this header.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "cir/core.h"
#include "cir/engine.h"

namespace cir::server {

/// Runtime knobs of `cir serve`. Every limit is documented in docs/http-api.md ("Limits").
struct ServerOptions {
  std::map<std::string, std::string> indexes;  ///< index name (URL segment) -> index directory
  std::string host = "127.0.0.1";
  int port = 8080;                   ///< 0 = an ephemeral port (see Server::port())
  /// Requests doing index or model work at once (search, upload, items...); 0 =
  /// default_thread_count(). Health, metrics and listings do not wait for these slots.
  int threads = 0;
  std::string model;                 ///< model override for every index ("" = manifest's)
  int encoder_threads = 0;           ///< intra-op threads per encoder call; 0 = default
  std::string queries_file;          ///< shapes-world queries/<split>.jsonl for ground truth
  bool writable = false;             ///< open indexes writable (POST/DELETE items); default read-only
  int64_t max_body_bytes = 20 << 20; ///< larger bodies get 413, enforced while reading (chunked too)
  int64_t max_image_pixels = 40'000'000;  ///< uploaded/reference images above this get 413
  int max_limit = 1000;              ///< largest `limit` / num_images accepted per query
  int max_batch = 64;                ///< most queries in one /search/batch call, items in one upload
  int max_texts = 16;                ///< most texts (text + negative_text) in one query
  int max_text_bytes = 4096;         ///< longest single text (bytes)
  int max_ids = 10'000;              ///< most ids in exclude_ids, candidate_ids, /metadata, DELETE
  int max_json_depth = 64;           ///< deepest nesting of a JSON request body
  int max_connections = 64;          ///< open connections served at once; more get 503
  int max_connections_per_ip = 32;   ///< open connections per client address; more get 429 (0 = no cap)
  int header_timeout_seconds = 10;   ///< the request line and headers must arrive within this
  int body_timeout_seconds = 60;     ///< the whole body must arrive within this
  int read_timeout_seconds = 10;     ///< longest silence while reading one request
  int write_timeout_seconds = 30;
  int keep_alive_timeout_seconds = 5;  ///< an idle keep-alive connection is closed after this
  /// A request still waiting for a work slot after this gets 503; a query holding one stops at
  /// its next stage once this has passed since it started (503, "deadline passed").
  int request_timeout_seconds = 30;
  int shutdown_timeout_seconds = 10; ///< SIGTERM: in-flight requests get this long, then serve() exits
  int thumbnail_size = 256;          ///< longest side of generated thumbnails (pixels)
  /// Captioner/editor for SEIZE, LDRE and CIReVL queries (default: replay the index's stored
  /// texts). An empty provider cache path becomes <index>/llm-cache.sqlite per index.
  engine::GenerationOptions generation;
};

/// HTTP status for an ErrorCode: the ONE place the mapping lives (400, 404, 501, 413, 500...).
int status_for_error(ErrorCode code);

class ServerImpl;

/// A configured server: engines open, routes installed, not yet listening.
class Server {
 public:
  /// Opens every index (Engine::open; kNotFound/kCorrupt/kIo as it throws) and the queries file.
  static std::unique_ptr<Server> create(const ServerOptions& options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds host:port (port 0 picks a free one); returns the bound port. kIo when binding fails.
  int bind();
  /// Serves until stop() is called (from any thread or a signal watcher). Call bind() first.
  void run();
  /// Stops accepting, lets in-flight requests finish, and makes run() return (idle keep-alive
  /// connections are closed at once).
  void stop();
  /// stop(), then waits up to `grace_seconds` for run() to return. False when requests were
  /// still in flight at the deadline (run() keeps waiting for them).
  bool shutdown(int grace_seconds);
  /// The port bound by bind() (0 before).
  int port() const;

 private:
  explicit Server(std::unique_ptr<ServerImpl> impl);
  std::unique_ptr<ServerImpl> impl_;
};

/// `cir serve`: create + bind + run until SIGINT/SIGTERM, then shut down gracefully
/// (in-flight requests get shutdown_timeout_seconds to complete; past that the process exits
/// with status 1 — committed store writes are safe, the batch in flight is lost). Prints the listening address on stderr.
void serve(const ServerOptions& options);

}  // namespace cir::server
