// clip-retrieval compatible endpoints (/knn-service, /metadata, /indices-list) with its field
// names, so its clients switch by changing one URL. Both `image` and `text` given = a composed
// query (the "sum" method unless `method` says otherwise). Knobs cir does not implement are
// accepted and listed in the X-Cir-Ignored response header (the body must stay a plain list).
#include "search_codec.h"

namespace cir::server {
namespace {

// clip-retrieval filters that cir has no model for; accepted so existing clients keep working.
const char* const kIgnoredKnobs[] = {"use_safety_model", "use_violence_detector", "aesthetic_score",
                                     "aesthetic_weight", "use_mclip", "deduplicate", "num_result_ids"};

IndexHandle& chosen_index(ServerImpl& s, const json& body) {
  if (body.contains("indice_name") && body["indice_name"].is_string() && !body["indice_name"].get<std::string>().empty())
    return s.index(body["indice_name"].get<std::string>());
  if (s.indexes.empty()) throw Error(ErrorCode::kNotFound, "no index is served");
  return *s.indexes.begin()->second;
}

std::vector<std::string> ignored_knobs(const json& body) {
  std::vector<std::string> out;
  for (const char* knob : kIgnoredKnobs)
    if (body.contains(knob) && !body[knob].is_null() && body[knob] != false && body[knob] != "" && body[knob] != 0)
      out.push_back(knob);
  if (body.contains("modality") && body["modality"] != "image") out.push_back("modality");
  return out;
}

engine::QueryRequest knn_request(const json& body, const ServerOptions& options) {
  engine::QueryRequest r;
  r.texts = string_list(body, "text");
  if (body.contains("image") && body["image"].is_string() && !body["image"].get<std::string>().empty())
    r.reference.bytes = decode_base64(body["image"].get<std::string>(), "image");
  else if (body.contains("image_url") && body["image_url"].is_string() && !body["image_url"].get<std::string>().empty())
    r.reference.bytes = image_bytes_from_url(body["image_url"].get<std::string>(), "image_url");
  if (body.contains("embedding_input") && body["embedding_input"].is_array())
    for (const auto& x : body["embedding_input"]) r.reference.embedding.push_back(x.get<float>());
  if (!r.reference.bytes.empty()) check_image_pixels(r.reference.bytes, options.max_image_pixels, "image");
  if (r.reference.empty() && r.texts.empty())
    throw Error(ErrorCode::kInvalidArgument, "knn-service needs 'text', 'image', 'image_url' or 'embedding_input'");
  check_texts(r.texts, {}, options, "");
  if (body.contains("method") && !body["method"].is_null()) {
    if (!body["method"].is_string()) throw Error(ErrorCode::kInvalidArgument, "'method' must be a string");
    r.method = body["method"].get<std::string>();
  }
  check_method(r.method);  // the same 400 as the v1 route
  // clip-retrieval's default is 40; 0, a negative count or a non-integer is a 400, not a silent 40.
  r.k = int_field(body, "num_images", "num_images", 40, 1, options.max_limit);
  return r;
}

json knn_row(const IndexHandle& h, const engine::QueryHit& hit) {
  json row = {{"id", hit.id},
              {"similarity", hit.score},
              {"url", item_url(h.name, hit.external_id, "image")},
              {"caption", hit.caption}};
  put_id(row, "image_path", hit.external_id);
  for (const auto& [k, v] : hit.metadata)
    if (!row.contains(k)) row[k] = meta_to_json(v);
  return row;
}

void handle_knn(ServerImpl& s, const httplib::Request& req, httplib::Response& res) {
  const json body = parse_json_body(req, s.options.max_json_depth);
  if (!body.is_object()) throw Error(ErrorCode::kInvalidArgument, "knn-service body must be a JSON object");
  IndexHandle& h = chosen_index(s, body);
  const auto results = h.engine->query_batch({with_deadline(knn_request(body, s.options), s)});
  s.metrics.record_stages(results.at(0).took_ms);
  json out = json::array();
  for (const auto& hit : results.at(0).hits) out.push_back(knn_row(h, hit));
  std::string ignored;
  for (const auto& k : ignored_knobs(body)) ignored += (ignored.empty() ? "" : ",") + k;
  if (!ignored.empty()) res.set_header("X-Cir-Ignored", ignored);
  send_json(res, out);
}

void handle_metadata(ServerImpl& s, const httplib::Request& req, httplib::Response& res) {
  const json body = parse_json_body(req, s.options.max_json_depth);
  if (!body.is_object() || !body.contains("ids") || !body["ids"].is_array())
    throw Error(ErrorCode::kInvalidArgument, "metadata body must be {\"ids\": [...], \"indice_name\": ...}");
  if (static_cast<int64_t>(body["ids"].size()) > s.options.max_ids)
    throw Error(ErrorCode::kInvalidArgument, "'ids' lists " + std::to_string(body["ids"].size()) + " ids; the limit is " +
                                                 std::to_string(s.options.max_ids) + " (--max-ids)");
  IndexHandle& h = chosen_index(s, body);
  json out = json::array();
  for (const auto& id : body["ids"]) {
    if (!id.is_number_integer()) throw Error(ErrorCode::kInvalidArgument, "'ids[]' must be integers (knn-service ids)");
    const auto rec = h.engine->store().get_item(id.get<int64_t>());
    if (!rec || rec->removed) continue;
    json meta = item_payload(rec->caption, rec->metadata);
    put_id(meta, "image_path", rec->external_id);
    meta["url"] = item_url(h.name, rec->external_id, "image");
    meta["caption"] = rec->caption;
    out.push_back({{"id", rec->id}, {"metadata", std::move(meta)}});
  }
  send_json(res, out);
}

}  // namespace

void install_clip_retrieval_routes(ServerImpl& s) {
  s.http.Post("/knn-service", guarded(s, "/knn-service", [&s](const auto& req, auto& res) { handle_knn(s, req, res); }));
  s.http.Post("/metadata", guarded(s, "/metadata", [&s](const auto& req, auto& res) { handle_metadata(s, req, res); }));
  s.http.Get("/indices-list", guarded(s, "/indices-list", [&s](const auto&, auto& res) {
               json names = json::array();
               for (const auto& [name, h] : s.indexes) names.push_back(name);
               send_json(res, names);
             }, RouteCost::kLight));
}

}  // namespace cir::server
