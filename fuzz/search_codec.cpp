// The server's v1 search body codec (src/server/search_codec.cpp) as a request reaches it:
// parse_json_body on an httplib::Request, then parse_search_body with default ServerOptions.
// Both throw cir::Error for bad input (mapped to HTTP statuses in one place).
#include <cstdint>

#include "fuzz_util.h"
#include "search_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const cir::server::ServerOptions options;
  httplib::Request req;
  req.body.assign(reinterpret_cast<const char*>(data), size);
  try {
    const cir::server::json body = cir::server::parse_json_body(req);
    (void)cir::server::parse_search_body(body, options);
  } catch (const cir::Error&) {
  }
  return 0;
}
