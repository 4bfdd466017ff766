#include "gen/transport.h"

#include <httplib.h>

#include <algorithm>
#include <cmath>

namespace cir::gen {

namespace {

// httplib takes (seconds, microseconds).
void split_seconds(double seconds, time_t& whole, time_t& micros) {
  seconds = std::max(seconds, 0.001);
  whole = static_cast<time_t>(std::floor(seconds));
  micros = static_cast<time_t>((seconds - std::floor(seconds)) * 1e6);
}

// Connection-level failures a resend can fix; TLS set-up and certificate failures cannot.
bool retryable_transport_error(httplib::Error error) {
  switch (error) {
    case httplib::Error::Connection:
    case httplib::Error::ConnectionTimeout:
    case httplib::Error::Read:
    case httplib::Error::Write:
    case httplib::Error::Unknown:
      return true;
    default:
      return false;
  }
}

std::string describe_transport_error(httplib::Error error, double connect_timeout_s, double read_timeout_s) {
  switch (error) {
    case httplib::Error::Connection:
      return "could not connect (is the server running and listening there?)";
    case httplib::Error::ConnectionTimeout:
      return "connect timed out after " + std::to_string(connect_timeout_s) + " s";
    case httplib::Error::Read:
      return "no complete response within the read timeout of " + std::to_string(read_timeout_s) +
             " s, or the server closed the connection";
    case httplib::Error::Write:
      return "the connection broke while sending the request";
    case httplib::Error::SSLConnection:
      return "TLS handshake failed (is it an https server?)";
    case httplib::Error::SSLServerVerification:
      return "the server's TLS certificate did not verify (set SSL_CERT_FILE to a CA bundle that signs it)";
    case httplib::Error::SSLLoadingCerts:
      return "could not load the system's CA certificates";
    default:
      return "request failed: " + httplib::to_string(error);
  }
}

}  // namespace

HttpTransport::HttpTransport(wire::ApiUrl url, TransportOptions options)
    : url_(std::move(url)), options_(std::move(options)), slots_(std::max(1, options_.max_concurrency)) {}

HttpTransport::~HttpTransport() = default;

std::unique_ptr<httplib::Client> HttpTransport::lease_client() {
  {
    std::lock_guard lock(idle_mutex_);
    if (!idle_.empty()) {
      auto client = std::move(idle_.back());
      idle_.pop_back();
      return client;
    }
  }
  auto client = std::make_unique<httplib::Client>(url_.origin);
  time_t s, us;
  split_seconds(options_.connect_timeout_s, s, us);
  client->set_connection_timeout(s, us);
  client->set_keep_alive(true);
  if (url_.scheme == "https") client->enable_server_certificate_verification(true);
  return client;
}

void HttpTransport::return_client(std::unique_ptr<httplib::Client> client) {
  std::lock_guard lock(idle_mutex_);
  idle_.push_back(std::move(client));
}

retry::HttpOutcome HttpTransport::post_json(const std::string& path, const std::string& body, double read_timeout_s) {
  slots_.acquire();
  struct Release {
    std::counting_semaphore<>& slots;
    ~Release() { slots.release(); }
  } release{slots_};

  std::unique_ptr<httplib::Client> client = lease_client();
  time_t s, us;
  split_seconds(read_timeout_s, s, us);
  client->set_read_timeout(s, us);
  client->set_write_timeout(s, us);

  httplib::Headers headers = {{"Accept", "application/json"}};
  if (!options_.api_key.empty()) headers.emplace("Authorization", "Bearer " + options_.api_key);
  httplib::Result result = client->Post(url_.path_prefix + path, headers, body, "application/json");

  retry::HttpOutcome outcome;
  if (!result) {
    outcome.transport_failed = true;
    outcome.transport_retryable = retryable_transport_error(result.error());
    outcome.transport_error = describe_transport_error(result.error(), options_.connect_timeout_s, read_timeout_s);
    return outcome;  // the client is dropped: its connection state is unknown
  }
  outcome.status = result->status;
  outcome.body = std::move(result->body);
  for (const auto& [name, value] : result->headers) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    outcome.headers[lower] = value;
  }
  return_client(std::move(client));
  return outcome;
}

}  // namespace cir::gen
