// JSON <-> engine types for the search endpoints: request bodies to engine::QueryRequest and
// engine::QueryResult to response bodies.
#pragma once

#include <string>

#include "server_impl.h"

namespace cir::server {

/// One parsed search: the engine request plus the response options around it.
struct SearchCall {
  engine::QueryRequest request;
  bool with_payload = true;
  bool with_vector = false;
  std::vector<std::string> ignored;  ///< accepted but unsupported knobs (reported back)
};

/// Parses a v1 search body (see docs/http-api.md). kInvalidArgument naming the field on bad
/// input, kResourceExhausted for over-limit images or limits, kUnsupported for image_url fetches.
SearchCall parse_search_body(const json& body, const ServerOptions& options);

/// The v1 response for one query of `call` on index `h`.
json search_response(const IndexHandle& h, const SearchCall& call, const engine::QueryResult& result,
                     const GroundTruth& ground_truth);

/// Texts of a field that may be a string or an array of strings ("" and absent give none).
std::vector<std::string> string_list(const json& body, const std::string& field);
/// Ids of a field holding one id or an array of ids (strings or {"b64": ...}, see put_id);
/// kInvalidArgument naming the field when it lists more than `max_ids`.
std::vector<std::string> id_list(const json& body, const std::string& field, int max_ids);
/// kInvalidArgument (400) naming the known methods unless `method` is registered.
void check_method(const std::string& method);

/// The integer o[key] (def when absent or null), within [lo, hi]; 400 naming `path` otherwise.
int int_field(const json& o, const std::string& key, const std::string& path, int def, int lo, int hi);
/// kInvalidArgument when texts + negative texts exceed options.max_texts or one text
/// exceeds options.max_text_bytes; messages name the fields `prefix` + "text" / "negative_text".
void check_texts(const std::vector<std::string>& texts, const std::vector<std::string>& negative,
                 const ServerOptions& options, const std::string& prefix);

}  // namespace cir::server
