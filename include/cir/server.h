// cir server (L4): the HTTP front end — the v1 JSON API, the clip-retrieval compatible
// endpoints, Prometheus metrics and the embedded web page — over one Engine per index.
//
// Contract
// - Every query goes through engine::Engine::query_batch (one call per HTTP request, a batch for
//   /search/batch), so the API returns exactly what the CLI and the evaluation harness compute.
// - Threads: requests run on a fixed pool of `threads` workers sharing the engines (query_batch
//   is const; the store serialises its writers). Thumbnail caching and uploads are safe under
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

/// Runtime knobs of `cir serve`.
struct ServerOptions {
  std::map<std::string, std::string> indexes;  ///< index name (URL segment) -> index directory
  std::string host = "127.0.0.1";
  int port = 8080;                   ///< 0 = an ephemeral port (see Server::port())
  int threads = 0;                   ///< HTTP worker threads; 0 = default_thread_count()
  std::string model;                 ///< model override for every index ("" = manifest's)
  int encoder_threads = 0;           ///< intra-op threads per encoder call; 0 = default
  std::string queries_file;          ///< shapes-world queries/<split>.jsonl for ground truth
  bool writable = false;             ///< open indexes writable (POST/DELETE items); default read-only
  int64_t max_body_bytes = 20 << 20; ///< requests with a larger body get 413
  int64_t max_image_pixels = 40'000'000;  ///< uploaded/reference images above this get 413
  int max_limit = 1000;              ///< largest `limit` / num_images accepted per query
  int max_batch = 64;                ///< most queries in one /search/batch call
  int read_timeout_seconds = 10;
  int write_timeout_seconds = 30;
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
  /// Stops accepting, lets in-flight requests finish, and makes run() return.
  void stop();
  /// The port bound by bind() (0 before).
  int port() const;

 private:
  explicit Server(std::unique_ptr<ServerImpl> impl);
  std::unique_ptr<ServerImpl> impl_;
};

/// `cir serve`: create + bind + run until SIGINT/SIGTERM, then shut down gracefully
/// (in-flight requests complete, stores flush). Prints the listening address on stderr.
void serve(const ServerOptions& options);

}  // namespace cir::server
