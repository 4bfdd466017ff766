// HttpServer's connection loop and ConnectionStream (see transport.h for why they exist).
#include "transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <thread>

#include <nlohmann/json.hpp>

namespace cir::server {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

thread_local ConnectionContext* t_connection = nullptr;

// Threads beyond max_connections: they pick up connections over the cap and refuse them at
// once, so a refused client hears 503 instead of waiting in the pool's queue.
constexpr size_t kRefusalThreads = 4;
// How long (and how much) a refused or cut connection is drained before closing (see
// close_after_answer).
constexpr milliseconds kRefusalDrain{200};
constexpr size_t kMaxDrainBytes = 8 << 20;
constexpr size_t kRequestsPerConnection = 1000;
// Keep-alive waits poll in slices this long so stop() closes idle connections promptly.
constexpr milliseconds kIdleSlice{100};

std::string address_of(const sockaddr_storage& addr) {
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET)
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(addr).sin_addr, text, sizeof text);
  else if (addr.ss_family == AF_INET6)
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(addr).sin6_addr, text, sizeof text);
  return text;
}

int port_of(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(addr).sin_port);
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(addr).sin6_port);
  return -1;
}

std::string peer_address(int sock) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getpeername(sock, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "";
  return address_of(addr);
}

int poll_for(int sock, short events, milliseconds timeout) {
  pollfd p{sock, events, 0};
  int n;
  do {
    n = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, timeout.count())));
  } while (n < 0 && errno == EINTR);
  return n;
}

// httplib's Stream over one accepted socket, buffered (httplib reads request lines a byte at a
// time), with an absolute deadline per phase and the body size limit counted on the bytes
// handed to httplib after the headers (chunk framing included; bodies are never decompressed,
// see the pre-routing handler).
class ConnectionStream : public httplib::Stream {
 public:
  ConnectionStream(int sock, const TransportLimits& limits, ConnectionContext& context)
      : sock_(sock), limits_(limits), context_(context) {}

  /// Waiting for the first byte of the next request on a keep-alive connection.
  bool has_buffered_bytes() const { return off_ < len_; }
  void begin_headers() {
    phase_ = Phase::kHeaders;
    deadline_ = Clock::now() + limits_.header_timeout;
  }
  void begin_body() {
    phase_ = Phase::kBody;
    deadline_ = Clock::now() + limits_.body_timeout;
    body_read_ = 0;
  }
  void end_request() { phase_ = Phase::kIdle; }

  bool is_readable() const override { return has_buffered_bytes() || poll_for(sock_, POLLIN, limits_.read_idle_timeout) > 0; }
  bool is_writable() const override { return poll_for(sock_, POLLOUT, limits_.write_timeout) > 0; }

  ssize_t read(char* ptr, size_t size) override {
    if (phase_ == Phase::kBody) {
      // httplib never asks for bytes past the body it expects, so a read at the limit means
      // the body is larger than the limit.
      if (body_read_ >= limits_.max_body_bytes) return cut(CutReason::kBodyTooLarge);
      size = static_cast<size_t>(std::min<uint64_t>(size, limits_.max_body_bytes - body_read_));
    }
    if (!has_buffered_bytes()) {
      const ssize_t filled = fill();
      if (filled <= 0) return filled;
    }
    const size_t n = std::min(size, len_ - off_);
    std::memcpy(ptr, buffer_.data() + off_, n);
    off_ += n;
    if (phase_ == Phase::kBody) body_read_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (poll_for(sock_, POLLOUT, limits_.write_timeout) <= 0) return -1;
    ssize_t n;
    do {
      n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override { name_of(::getpeername, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { name_of(::getsockname, ip, port); }
  socket_t socket() const override { return sock_; }

 private:
  enum class Phase { kIdle, kHeaders, kBody };

  CutReason deadline_reason() const {
    return phase_ == Phase::kHeaders ? CutReason::kHeaderTimeout : CutReason::kBodyTimeout;
  }

  ssize_t cut(CutReason reason) {
    context_.cut = reason;
    context_.close_after_response = true;
    return -1;
  }

  // One recv into the buffer, waiting at most the idle timeout and never past the deadline.
  ssize_t fill() {
    milliseconds wait = limits_.read_idle_timeout;
    bool waiting_for_deadline = false;  // the phase deadline comes before the idle timeout
    if (phase_ != Phase::kIdle) {
      const auto left = std::chrono::ceil<milliseconds>(deadline_ - Clock::now());
      if (left.count() <= 0) return cut(deadline_reason());
      waiting_for_deadline = left <= wait;
      wait = std::min(wait, left);
    }
    const int ready = poll_for(sock_, POLLIN, wait);
    if (ready <= 0) {
      // Decided by which wait ran out, not by re-reading the clock: poll may wake a little early.
      if (ready == 0 && waiting_for_deadline) return cut(deadline_reason());
      context_.close_after_response = true;  // silent past the idle timeout, or a poll error
      return -1;
    }
    ssize_t n;
    do {
      n = ::recv(sock_, buffer_.data(), buffer_.size(), 0);
    } while (n < 0 && errno == EINTR);
    off_ = 0;
    len_ = n > 0 ? static_cast<size_t>(n) : 0;
    return n;
  }

  template <class GetName>
  void name_of(GetName get_name, std::string& ip, int& port) const {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (get_name(sock_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return;
    ip = address_of(addr);
    port = port_of(addr);
  }

  int sock_;
  const TransportLimits& limits_;
  ConnectionContext& context_;
  std::array<char, 16384> buffer_{};
  size_t off_ = 0, len_ = 0;
  Phase phase_ = Phase::kIdle;
  Clock::time_point deadline_{};
  uint64_t body_read_ = 0;
};

// Releases a ConnectionTracker slot when the connection ends, however it ends.
class Admitted {
 public:
  Admitted(ConnectionTracker& tracker, std::string address) : tracker_(tracker), address_(std::move(address)) {}
  ~Admitted() { tracker_.release(address_); }
  Admitted(const Admitted&) = delete;
  Admitted& operator=(const Admitted&) = delete;

 private:
  ConnectionTracker& tracker_;
  std::string address_;
};

// Closes after an answer sent while request bytes may still be arriving (a refused or cut
// request): closing with unread bytes makes the kernel send RST, which can destroy the answer
// before the client reads it. So: stop writing, drain briefly (bounded in time and bytes), close.
void close_after_answer(int sock) {
  ::shutdown(sock, SHUT_WR);
  const auto until = Clock::now() + kRefusalDrain;
  std::array<char, 16384> sink{};
  size_t drained = 0;
  while (drained < kMaxDrainBytes && Clock::now() < until &&
         poll_for(sock, POLLIN, std::chrono::duration_cast<milliseconds>(until - Clock::now())) > 0) {
    const ssize_t n = ::recv(sock, sink.data(), sink.size(), 0);
    if (n <= 0) break;
    drained += static_cast<size_t>(n);
  }
  ::close(sock);
}

void close_socket(int sock) {
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
}

}  // namespace

ConnectionContext* current_connection() { return t_connection; }

ConnectionTracker::Admission ConnectionTracker::admit(const std::string& address, int max_total, int max_per_address) {
  std::lock_guard lock(mutex_);
  if (total_ >= max_total) return Admission::kTooManyTotal;
  int& mine = per_address_[address];
  if (max_per_address > 0 && mine >= max_per_address) {
    if (mine == 0) per_address_.erase(address);
    return Admission::kTooManyFromAddress;
  }
  ++mine;
  ++total_;
  return Admission::kAdmitted;
}

void ConnectionTracker::release(const std::string& address) {
  std::lock_guard lock(mutex_);
  --total_;
  auto it = per_address_.find(address);
  if (it != per_address_.end() && --it->second <= 0) per_address_.erase(it);
}

int ConnectionTracker::open_total() const {
  std::lock_guard lock(mutex_);
  return total_;
}

void HttpServer::configure(const TransportLimits& limits, Metrics* metrics) {
  limits_ = limits;
  metrics_ = metrics;
  // httplib reads these in its accept loop (SO_RCVTIMEO/SO_SNDTIMEO) and the Keep-Alive header.
  set_read_timeout(std::chrono::duration_cast<std::chrono::seconds>(limits.read_idle_timeout).count(), 0);
  set_write_timeout(std::chrono::duration_cast<std::chrono::seconds>(limits.write_timeout).count(), 0);
  set_keep_alive_timeout(std::chrono::duration_cast<std::chrono::seconds>(limits.keep_alive_timeout).count());
  // httplib's default of 5 requests per connection would make keep-alive clients reconnect
  // every 5 requests; idle and per-client caps bound what a long-lived connection can hold.
  set_keep_alive_max_count(kRequestsPerConnection);
  // Accepted sockets inherit TCP_NODELAY from the listening socket on Linux; the connection
  // loop sets it again on each accepted socket so the fix does not depend on that.
  set_tcp_nodelay(true);
  // Also keeps httplib's own Content-Length check in place (it is skipped for chunked bodies,
  // which ConnectionStream limits).
  set_payload_max_length(limits.max_body_bytes);
  new_task_queue = [n = pool_size()] { return new httplib::ThreadPool(n); };
}

size_t HttpServer::pool_size() const { return static_cast<size_t>(std::max(1, limits_.max_connections)) + kRefusalThreads; }

void HttpServer::refuse(socket_t sock, int status, const std::string& message) {
  const std::string body =
      nlohmann::json{{"error", {{"code", "resource_exhausted"}, {"message", message}}}}.dump();
  const std::string response = "HTTP/1.1 " + std::to_string(status) + (status == 429 ? " Too Many Requests" : " Service Unavailable") +
                               "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                               "\r\nConnection: close\r\nRetry-After: 1\r\n\r\n" + body;
  ::send(sock, response.data(), response.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  close_after_answer(sock);
}

bool HttpServer::process_and_close_socket(socket_t sock) {
  const std::string address = peer_address(sock);
  switch (tracker_.admit(address, limits_.max_connections, limits_.max_connections_per_ip)) {
    case ConnectionTracker::Admission::kTooManyTotal:
      if (metrics_) metrics_->record_rejection("connection_cap_total");
      refuse(sock, 503, "the server has " + std::to_string(limits_.max_connections) +
                            " open connections, its limit (--max-connections); retry later");
      return true;
    case ConnectionTracker::Admission::kTooManyFromAddress:
      if (metrics_) metrics_->record_rejection("connection_cap_per_ip");
      refuse(sock, 429, "this address has " + std::to_string(limits_.max_connections_per_ip) +
                            " open connections, the limit per client (--max-connections-per-ip)");
      return true;
    case ConnectionTracker::Admission::kAdmitted: break;
  }
  Admitted admitted(tracker_, address);
  const int one = 1;
  ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  ConnectionContext context;
  ConnectionStream stream(sock, limits_, context);
  t_connection = &context;
  bool ok = true;
  for (size_t left = keep_alive_max_count_; left > 0 && !stopping(); --left) {
    // Idle between requests: wait in slices so stop() (draining) closes the connection.
    bool readable = stream.has_buffered_bytes();
    for (auto waited = milliseconds(0); !readable && waited < limits_.keep_alive_timeout && !stopping(); waited += kIdleSlice)
      readable = poll_for(sock, POLLIN, std::min(kIdleSlice, limits_.keep_alive_timeout - waited)) > 0;
    if (!readable) break;
    stream.begin_headers();
    bool connection_closed = false;
    ok = process_request(stream, left == 1 || stopping(), connection_closed,
                         [&stream](httplib::Request&) { stream.begin_body(); });
    stream.end_request();
    if (metrics_ && context.cut == CutReason::kHeaderTimeout) metrics_->record_rejection("header_timeout");
    if (metrics_ && context.cut == CutReason::kBodyTimeout) metrics_->record_rejection("body_timeout");
    if (metrics_ && context.cut == CutReason::kBodyTooLarge) metrics_->record_rejection("body_too_large");
    if (!ok || connection_closed || context.close_after_response) break;
  }
  t_connection = nullptr;
  if (context.close_after_response) close_after_answer(sock);
  else close_socket(sock);
  return ok;
}

}  // namespace cir::server
