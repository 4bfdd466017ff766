// The connection layer under the routes: how bytes are read from and written to clients.
//
// httplib 0.11.4 enforces set_payload_max_length only for bodies with a Content-Length (chunked
// and length-less bodies are read whole into memory), bounds reads only per recv (a client
// sending one header byte every few seconds holds a worker forever), has no per-client
// connection cap, and leaves Nagle on for accepted sockets (headers and body go out in two
// send() calls, which meet delayed ACKs on keep-alive connections: ~40 ms per response).
//
// HttpServer takes over the per-connection loop (process_and_close_socket, a virtual of
// httplib::Server) and feeds httplib's own request parser (process_request) through
// ConnectionStream, which enforces an absolute header deadline, a body deadline and the body
// size limit while reading. Routing, handlers and response writing stay httplib's.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "metrics.h"

namespace cir::server {

/// Limits of the connection layer (from ServerOptions).
struct TransportLimits {
  uint64_t max_body_bytes = 20 << 20;
  int max_connections = 64;
  int max_connections_per_ip = 32;  ///< 0 = no per-address cap
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{60'000};
  std::chrono::milliseconds read_idle_timeout{10'000};
  std::chrono::milliseconds write_timeout{30'000};
  std::chrono::milliseconds keep_alive_timeout{5'000};
};

/// Why the connection layer cut a request short (reported by the error handler).
enum class CutReason { kNone, kBodyTooLarge, kHeaderTimeout, kBodyTimeout };

/// Per-connection state the pre-routing and error handlers see (they run on the connection's
/// thread, inside process_request).
struct ConnectionContext {
  CutReason cut = CutReason::kNone;
  bool close_after_response = false;  ///< the body was left unread: the stream is out of sync
};

/// The context of the connection served by the calling thread; nullptr outside HttpServer's
/// connection loop.
ConnectionContext* current_connection();

/// Counts open connections, in total and per client address.
class ConnectionTracker {
 public:
  enum class Admission { kAdmitted, kTooManyTotal, kTooManyFromAddress };
  Admission admit(const std::string& address, int max_total, int max_per_address);
  void release(const std::string& address);
  int open_total() const;

 private:
  mutable std::mutex mutex_;
  int total_ = 0;
  std::map<std::string, int> per_address_;
};

/// httplib::Server with cir's connection loop (see the file comment).
class HttpServer : public httplib::Server {
 public:
  /// Call before bind(); `metrics` must outlive the server.
  void configure(const TransportLimits& limits, Metrics* metrics);
  /// Threads of the connection pool: max_connections plus a few that only refuse extras.
  size_t pool_size() const;
  int open_connections() const { return tracker_.open_total(); }

 private:
  bool process_and_close_socket(socket_t sock) override;
  bool stopping() const { return svr_sock_ == INVALID_SOCKET; }
  void refuse(socket_t sock, int status, const std::string& message);

  TransportLimits limits_;
  Metrics* metrics_ = nullptr;
  ConnectionTracker tracker_;
};

}  // namespace cir::server
