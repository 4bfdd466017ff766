// POST /v1/indexes/{index}/search and /search/batch: each HTTP request is ONE
// Engine::query_batch call, so a batch shares its text encoding and stage timings.
#include "search_codec.h"

namespace cir::server {
namespace {

constexpr const char* kIndexPattern = R"(/v1/indexes/([^/]+))";

void handle_search(ServerImpl& s, const httplib::Request& req, httplib::Response& res) {
  IndexHandle& h = s.index(req.matches[1]);
  const SearchCall call = parse_search_body(parse_json_body(req, s.options.max_json_depth), s.options);
  const auto results = h.engine->query_batch({with_deadline(call.request, s)});
  s.metrics.record_stages(results.at(0).took_ms);
  send_json(res, search_response(h, call, results.at(0), s.ground_truth));
}

void handle_batch(ServerImpl& s, const httplib::Request& req, httplib::Response& res) {
  IndexHandle& h = s.index(req.matches[1]);
  const json body = parse_json_body(req, s.options.max_json_depth);
  const json* list = &body;
  if (body.is_object() && body.contains("searches")) list = &body["searches"];
  if (!list->is_array() || list->empty())
    throw Error(ErrorCode::kInvalidArgument, "batch body must be a non-empty array of searches (or {\"searches\": [...]})");
  if (static_cast<int>(list->size()) > s.options.max_batch)
    throw Error(ErrorCode::kInvalidArgument, "'searches' holds " + std::to_string(list->size()) +
                                                 " searches; the limit is " + std::to_string(s.options.max_batch) +
                                                 " per batch (--max-batch)");
  std::vector<SearchCall> calls;
  std::vector<engine::QueryRequest> requests;
  for (const auto& item : *list) {
    calls.push_back(parse_search_body(item, s.options));
    requests.push_back(with_deadline(calls.back().request, s));
  }
  const auto results = h.engine->query_batch(requests);
  s.metrics.record_stages(results.at(0).took_ms);
  json out = json::array();
  for (size_t i = 0; i < results.size(); ++i) out.push_back(search_response(h, calls[i], results[i], s.ground_truth));
  send_json(res, {{"responses", std::move(out)}});
}

}  // namespace

void install_search_routes(ServerImpl& s) {
  s.http.Post(std::string(kIndexPattern) + "/search", guarded(s, "/v1/indexes/{index}/search",
                                                               [&s](const auto& req, auto& res) { handle_search(s, req, res); }));
  s.http.Post(std::string(kIndexPattern) + "/search/batch",
              guarded(s, "/v1/indexes/{index}/search/batch", [&s](const auto& req, auto& res) { handle_batch(s, req, res); }));
}

}  // namespace cir::server
