// HTTP(S) POSTs to one provider with a bound on requests in flight. httplib's Client serialises
// the requests of one instance, so each in-flight request leases its own keep-alive client from
// a pool; a counting semaphore caps the leases at ProviderSpec::max_concurrency.
#pragma once

#include <memory>
#include <mutex>
#include <semaphore>
#include <string>
#include <vector>

#include "gen/retry.h"
#include "gen/wire.h"

namespace httplib {
class Client;
}

namespace cir::gen {

struct TransportOptions {
  double connect_timeout_s = 5;
  int max_concurrency = 4;
  std::string api_key;  ///< sent as "Authorization: Bearer"; empty = no header
};

class HttpTransport {
 public:
  HttpTransport(wire::ApiUrl url, TransportOptions options);
  ~HttpTransport();
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  /// POSTs a JSON body to url.path_prefix + path. Blocks while max_concurrency requests are in
  /// flight. Never throws for network failures: they come back as a transport_failed outcome.
  retry::HttpOutcome post_json(const std::string& path, const std::string& body, double read_timeout_s);

  const wire::ApiUrl& url() const { return url_; }

 private:
  std::unique_ptr<httplib::Client> lease_client();
  void return_client(std::unique_ptr<httplib::Client> client);

  wire::ApiUrl url_;
  TransportOptions options_;
  std::counting_semaphore<> slots_;
  std::mutex idle_mutex_;
  std::vector<std::unique_ptr<httplib::Client>> idle_;
};

}  // namespace cir::gen
