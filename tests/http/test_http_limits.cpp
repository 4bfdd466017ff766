// Limits of the connection layer and of request bodies (issue 13): bodies without a
// Content-Length, slow clients, connection caps, TCP_NODELAY, JSON depth, per-request caps.
#include <dirent.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>

#include "http_fixture.h"
#include "raw_socket.h"

namespace cir::testing {
namespace {

// Peak resident memory of this process (the server runs in it), in MB.
double peak_rss_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

std::string status_line(const std::string& response) { return response.substr(0, response.find("\r\n")); }

std::string body_of(const std::string& response) {
  const size_t head_end = response.find("\r\n\r\n");
  return head_end == std::string::npos ? "" : response.substr(head_end + 4);
}

// A private server over a copy of the shared index (the shared server holds its writer lock).
struct PrivateServer {
  TempDir copy;
  std::unique_ptr<RunningServer> running;
  explicit PrivateServer(const std::string& index_dir, const std::function<void(server::ServerOptions&)>& tune) {
    std::filesystem::copy(index_dir, copy.str("index"), std::filesystem::copy_options::recursive);
    std::filesystem::remove(copy.str("index/LOCK"));
    auto options = test_options(copy.str("index"));
    options.writable = false;
    tune(options);
    running = std::make_unique<RunningServer>(options);
  }
  int port() const { return running->port; }
};

// The server's end of the connection whose client end has local port `client_port`: found
// among this process's sockets, since the server runs in the test process.
int server_socket_for(int server_port, int client_port) {
  DIR* dir = ::opendir("/proc/self/fd");
  int found = -1;
  while (dirent* e = dir ? ::readdir(dir) : nullptr) {
    const int fd = std::atoi(e->d_name);
    struct stat st{};
    if (fd <= 2 || ::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    sockaddr_in local{}, peer{};
    socklen_t len = sizeof local;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0 || local.sin_family != AF_INET) continue;
    len = sizeof peer;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) continue;
    if (ntohs(local.sin_port) == server_port && ntohs(peer.sin_port) == client_port) found = fd;
  }
  if (dir) ::closedir(dir);
  return found;
}

const char* const kSearchHead = "POST /v1/indexes/shapes/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n";

}  // namespace

// httplib 0.11.4 reads chunked bodies whole, whatever set_payload_max_length says: the 64 MB
// sent here used to be buffered (and answered 400 once complete). Now the server answers 413
// as soon as the 2 MB limit is passed, closes the connection, and its memory does not grow by
// the body's size.
TEST_F(HttpTest, ChunkedBodyOverTheLimitGets413WhileReading) {
  const double rss_before = peak_rss_mb();
  RawSocket sock(server_->port);
  ASSERT_TRUE(sock.connected());
  ASSERT_TRUE(sock.send_all(std::string(kSearchHead) + "Transfer-Encoding: chunked\r\n\r\n"));
  const std::string chunk(64 << 10, ' ');
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk.size());
  const std::string framed = size_line + chunk + "\r\n";
  size_t sent = 0;
  while (sent < (64u << 20) && !sock.readable_within(0) && sock.send_all(framed)) sent += chunk.size();
  if (sent >= (64u << 20)) sock.send_all("0\r\n\r\n");
  bool closed = false;
  const std::string response = sock.read_to_end(&closed);
  EXPECT_EQ(status_line(response), "HTTP/1.1 413 Payload Too Large") << response.substr(0, 300);
  EXPECT_NE(body_of(response).find("2097152 bytes"), std::string::npos) << response;
  EXPECT_TRUE(closed) << "the connection stays open after the refusal";
  EXPECT_LT(sent, 64u << 20) << "the server read the whole body before answering";
  EXPECT_LT(peak_rss_mb() - rss_before, 48.0) << "server memory grew with the refused body";
  auto metrics = client().Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("cir_http_rejected_total{reason=\"body_too_large\"}"), std::string::npos);
}

// A chunked body under the limit is still accepted (and parsed like any other body).
TEST_F(HttpTest, ChunkedBodyUnderTheLimitIsServed) {
  RawSocket sock(server_->port);
  const std::string body = R"({"query": {"text": "a red disc"}, "limit": 2})";
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", body.size());
  ASSERT_TRUE(sock.send_all(std::string(kSearchHead) + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + size_line +
                            body + "\r\n0\r\n\r\n"));
  const std::string response = sock.read_to_end();
  EXPECT_EQ(status_line(response), "HTTP/1.1 200 OK") << response.substr(0, 300);
  EXPECT_EQ(json::parse(body_of(response))["results"].size(), 2u);
}

// A POST with neither Content-Length nor chunked encoding used to be read until the client
// closed the connection (so this test's client waited forever): now 411, connection closed.
TEST_F(HttpTest, BodyWithoutLengthGets411) {
  RawSocket sock(server_->port, 10);
  ASSERT_TRUE(sock.send_all(std::string(kSearchHead) + "\r\n{\"query\": {\"text\": \"red\"}}"));
  bool closed = false;
  const std::string response = sock.read_to_end(&closed);
  EXPECT_EQ(status_line(response), "HTTP/1.1 411 Length Required") << response;
  EXPECT_TRUE(closed);
}

// Compressed bodies would be inflated by httplib past every limit: refused with 415.
TEST_F(HttpTest, CompressedBodyGets415) {
  RawSocket sock(server_->port);
  ASSERT_TRUE(sock.send_all(std::string(kSearchHead) + "Content-Encoding: gzip\r\nContent-Length: 4\r\n\r\nabcd"));
  EXPECT_EQ(status_line(sock.read_response()), "HTTP/1.1 415 Unsupported Media Type");
}

// A Content-Length above the limit is refused from the headers, without reading the body.
TEST_F(HttpTest, AnnouncedBodyOverTheLimitIsRefusedUnread) {
  RawSocket sock(server_->port);
  ASSERT_TRUE(sock.send_all(std::string(kSearchHead) + "Content-Length: 1500000000\r\n\r\n"));
  bool closed = false;
  const std::string response = sock.read_to_end(&closed);
  EXPECT_EQ(status_line(response), "HTTP/1.1 413 Payload Too Large") << response;
  EXPECT_TRUE(closed);
}

// Slowloris: 6 connections (more than the server's 2 work threads) trickle their headers a byte
// at a time; /healthz must keep answering. With httplib's pool of `threads` workers, the slow
// sockets held every worker and the probes timed out.
TEST_F(HttpTest, SlowHeadersDoNotStarveOtherClients) {
  PrivateServer srv(index_->index, [](server::ServerOptions& o) {
    o.threads = 2;
    o.max_connections = 16;
    o.max_connections_per_ip = 12;
    o.header_timeout_seconds = 60;  // the slow clients must still be connected while probing
  });
  constexpr int kSlow = 6;
  std::atomic<bool> stop{false};
  std::vector<std::unique_ptr<RawSocket>> slow;
  for (int i = 0; i < kSlow; ++i) {
    slow.push_back(std::make_unique<RawSocket>(srv.port()));
    ASSERT_TRUE(slow.back()->send_all("POST /v1/indexes/shapes/search HTTP/1.1\r\n"));
  }
  std::thread trickle([&] {
    const std::string header = "X-Padding: " + std::string(4000, 'a');
    for (size_t i = 0; i < header.size() && !stop.load(); ++i) {
      for (auto& s : slow) s->send_all(std::string(1, header[i]));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the slow sockets are being served
  httplib::Client probe("127.0.0.1", srv.port());
  probe.set_read_timeout(5, 0);
  probe.set_connection_timeout(5, 0);
  int answered = 0;
  for (int i = 0; i < 5; ++i) {
    auto res = probe.Get("/healthz");
    if (res && res->status == 200) ++answered;
  }
  // A search too: it needs a work slot, which slow headers never take.
  auto res = probe.Post("/v1/indexes/shapes/search", R"({"query": {"text": "a red disc"}, "limit": 1})", "application/json");
  stop = true;
  trickle.join();
  EXPECT_EQ(answered, 5);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

// Headers still incomplete at the header deadline get 408 and the connection is closed.
TEST_F(HttpTest, HeaderDeadlineCutsSlowClients) {
  PrivateServer srv(index_->index, [](server::ServerOptions& o) { o.header_timeout_seconds = 1; });
  RawSocket sock(srv.port(), 15);
  ASSERT_TRUE(sock.send_all("GET /healthz HTTP/1.1\r\nX-Slow: "));
  // One byte every 200 ms keeps every single read well inside the 10 s idle timeout.
  for (int i = 0; i < 50 && !sock.readable_within(200); ++i) sock.send_all("a");
  bool closed = false;
  const std::string response = sock.read_to_end(&closed);
  EXPECT_EQ(status_line(response), "HTTP/1.1 408 Request Timeout") << response;
  EXPECT_TRUE(closed);
  httplib::Client c("127.0.0.1", srv.port());
  auto metrics = c.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("cir_http_rejected_total{reason=\"header_timeout\"} 1"), std::string::npos);
}

// More open connections from one address than --max-connections-per-ip: the extra one hears 429.
TEST_F(HttpTest, ConnectionsPerAddressAreCapped) {
  PrivateServer srv(index_->index, [](server::ServerOptions& o) { o.max_connections_per_ip = 2; });
  const std::string probe = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  RawSocket a(srv.port()), b(srv.port());
  // Each answered request proves its connection was admitted (and keep-alive holds it open).
  ASSERT_TRUE(a.send_all(probe));
  EXPECT_EQ(status_line(a.read_response()), "HTTP/1.1 200 OK");
  ASSERT_TRUE(b.send_all(probe));
  EXPECT_EQ(status_line(b.read_response()), "HTTP/1.1 200 OK");
  RawSocket c(srv.port());
  c.send_all(probe);
  const std::string refused = c.read_response();
  EXPECT_EQ(status_line(refused), "HTTP/1.1 429 Too Many Requests") << refused;
  EXPECT_NE(body_of(refused).find("--max-connections-per-ip"), std::string::npos);
  a.close();
  b.close();
}

// More open connections than --max-connections in total: the extra one hears 503 with
// Retry-After (the refusal threads answer it even though every connection slot is taken).
TEST_F(HttpTest, ConnectionsInTotalAreCapped) {
  PrivateServer srv(index_->index, [](server::ServerOptions& o) {
    o.max_connections = 2;
    o.max_connections_per_ip = 0;
  });
  const std::string probe = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  RawSocket a(srv.port()), b(srv.port());
  ASSERT_TRUE(a.send_all(probe));
  EXPECT_EQ(status_line(a.read_response()), "HTTP/1.1 200 OK");
  ASSERT_TRUE(b.send_all(probe));
  EXPECT_EQ(status_line(b.read_response()), "HTTP/1.1 200 OK");
  RawSocket c(srv.port());
  c.send_all(probe);
  const std::string refused = c.read_response();
  EXPECT_EQ(status_line(refused), "HTTP/1.1 503 Service Unavailable") << refused;
  EXPECT_NE(refused.find("Retry-After: 1"), std::string::npos) << refused;
  a.close();  // a freed slot admits the next connection
  httplib::Client later("127.0.0.1", srv.port());
  later.set_keep_alive(false);
  bool admitted = false;
  for (int i = 0; i < 50 && !admitted; ++i) {
    auto res = later.Get("/healthz");
    admitted = res && res->status == 200;
    if (!admitted) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(admitted);
}

// Keep-alive responses must not wait for delayed ACKs: the server's end of a connection has
// TCP_NODELAY (httplib 0.11.4 leaves Nagle on; headers and body go out in two send() calls).
TEST_F(HttpTest, AcceptedSocketsHaveTcpNoDelay) {
  RawSocket sock(server_->port);
  ASSERT_TRUE(sock.send_all("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  ASSERT_EQ(status_line(sock.read_response()), "HTTP/1.1 200 OK");
  const int server_fd = server_socket_for(server_->port, sock.local_port());
  ASSERT_GE(server_fd, 0) << "the server's end of the connection was not found";
  int nodelay = 0;
  socklen_t len = sizeof nodelay;
  ASSERT_EQ(::getsockopt(server_fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len), 0);
  EXPECT_NE(nodelay, 0);
}

// Nesting deeper than the limit is refused before parsing, with a 400 naming the limit;
// brackets inside strings do not count.
TEST_F(HttpTest, DeeplyNestedJsonIsRefused) {
  const std::string deep = R"({"query": {"text": "red", "method_options": )" + std::string(100, '[') +
                           std::string(100, ']') + "}}";
  auto res = client().Post("/v1/indexes/shapes/search", deep, "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("deeper than 64"), std::string::npos) << res->body;
  EXPECT_NO_THROW(check_json_depth(R"({"a": "[[[[{{{{", "b": [1, {"c": "\"]]"}]})", "body", 3));
  EXPECT_THROW(check_json_depth(R"({"a": "[[[[{{{{", "b": [1, {"c": "\"]]"}]})", "body", 2), Error);
  EXPECT_NO_THROW(check_json_depth(std::string(64, '[') + std::string(64, ']'), "body", 64));
  // The shared /metadata and /knn-service routes apply the same limit.
  res = client().Post("/metadata", std::string(80, '[') + std::string(80, ']'), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("--max-json-depth"), std::string::npos) << res->body;
}

// Amplification caps: texts per query, ids per list, searches per batch; each a 400 naming the
// field and the limit.
TEST_F(HttpTest, AmplificationCapsNameFieldAndLimit) {
  auto expect_cap = [](const json& body, const std::string& path, const std::string& field, const std::string& limit,
                       bool as_delete = false) {
    auto res = as_delete ? client().Delete(path.c_str(), body.dump(), "application/json")
                         : client().Post(path.c_str(), body.dump(), "application/json");
    ASSERT_TRUE(res) << field;
    EXPECT_EQ(res->status, 400) << field << ": " << res->body.substr(0, 300);
    EXPECT_NE(res->body.find("'" + field + "'"), std::string::npos) << res->body.substr(0, 300);
    EXPECT_NE(res->body.find("limit is " + limit), std::string::npos) << res->body.substr(0, 300);
  };
  expect_cap({{"query", {{"text", std::vector<std::string>(17, "red")}}}}, "/v1/indexes/shapes/search", "query.text", "16");
  expect_cap({{"query", {{"text", std::string(5000, 'a')}}}}, "/v1/indexes/shapes/search", "query.text", "4096");
  std::vector<std::string> ids(10'001, "x.png");
  expect_cap({{"query", {{"text", "red"}}}, {"exclude_ids", ids}}, "/v1/indexes/shapes/search", "exclude_ids", "10000");
  expect_cap({{"query", {{"text", "red"}}}, {"candidate_ids", ids}}, "/v1/indexes/shapes/search", "candidate_ids", "10000");
  expect_cap({{"ids", std::vector<int>(10'001, 1)}}, "/metadata", "ids", "10000");
  expect_cap({{"ids", ids}}, "/v1/indexes/shapes/items", "ids", "10000", true);
  expect_cap({{"searches", std::vector<json>(65, {{"query", {{"text", "red"}}}})}}, "/v1/indexes/shapes/search/batch",
             "searches", "64");
  expect_cap({{"text", std::vector<std::string>(17, "red")}}, "/knn-service", "text", "16");
}

}  // namespace cir::testing
