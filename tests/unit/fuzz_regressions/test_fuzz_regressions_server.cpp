// Regression tests for the server's request codec (fuzz target search_codec, fuzz/README.md).
#include <gtest/gtest.h>

#include <string>

#include "cir/core.h"
#include "server_impl.h"

namespace {

// search_codec (crash-cd5d67fa): a number too large for a double ("1E400") makes nlohmann throw
// json::out_of_range, not json::parse_error; parse_json_body caught only the latter, so the
// exception escaped as something other than the documented kInvalidArgument (400).
TEST(FuzzRegressionSearchCodec, NumberOverflowIsInvalidArgument) {
  for (const char* body : {"88888888888888E88888888888888888888888888888888888", "{\"limit\": 1E400}"}) {
    httplib::Request req;
    req.body = body;
    try {
      cir::server::parse_json_body(req, 64);
      ADD_FAILURE() << "accepted " << body;
    } catch (const cir::Error& e) {
      EXPECT_EQ(e.code(), cir::ErrorCode::kInvalidArgument) << body;
    }
  }
}

}  // namespace
