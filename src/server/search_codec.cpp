// Parsing v1 search bodies and rendering their responses. Every field is type-checked here, so a
// wrong type gives a 400 naming the field rather than a generic JSON exception.
#include "search_codec.h"

#include <algorithm>

#include "cir/compose.h"

namespace cir::server {
namespace {

[[noreturn]] void bad(const std::string& field, const std::string& expected, const json& found) {
  throw Error(ErrorCode::kInvalidArgument,
              "'" + field + "' must be " + expected + " (found " + std::string(found.type_name()) + ")");
}

}  // namespace

int int_field(const json& o, const std::string& key, const std::string& path, int def, int lo, int hi) {
  if (!o.contains(key) || o[key].is_null()) return def;
  if (!o[key].is_number_integer()) bad(path, "an integer", o[key]);
  const int64_t v = o[key].get<int64_t>();
  if (v < lo || v > hi)
    throw Error(ErrorCode::kInvalidArgument, "'" + path + "' must be in [" + std::to_string(lo) + ", " +
                                                 std::to_string(hi) + "] (found " + std::to_string(v) + ")");
  return static_cast<int>(v);
}

namespace {

bool bool_field(const json& o, const std::string& key, const std::string& path, bool def) {
  if (!o.contains(key) || o[key].is_null()) return def;
  if (!o[key].is_boolean()) bad(path, "true or false", o[key]);
  return o[key].get<bool>();
}

std::string string_field(const json& o, const std::string& key, const std::string& path) {
  if (!o.contains(key) || o[key].is_null()) return "";
  if (!o[key].is_string()) bad(path, "a string", o[key]);
  return o[key].get<std::string>();
}

std::vector<float> float_list(const json& v, const std::string& path) {
  if (!v.is_array() || v.empty()) bad(path, "a non-empty array of numbers", v);
  std::vector<float> out;
  for (const auto& x : v) {
    if (!x.is_number()) bad(path + "[]", "a number", x);
    out.push_back(x.get<float>());
  }
  return out;
}

// Request-supplied method options must not name files: paths stay an operator decision.
std::string method_option_value(const std::string& key, const json& v) {
  const std::string path = "query.method_options." + key;
  std::string s;
  if (v.is_string()) s = v.get<std::string>();
  else if (v.is_number() || v.is_boolean()) s = v.dump();
  else bad(path, "a string or a number", v);
  if (s.find('/') != std::string::npos || s.find('\\') != std::string::npos || s.rfind("~", 0) == 0 || s.rfind(".", 0) == 0)
    throw Error(ErrorCode::kInvalidArgument, "'" + path + "' looks like a file path; method files are configured on the server");
  return s;
}

}  // namespace

// Texts are tokenised and encoded one by one: the count and length bound a request's work.
void check_texts(const std::vector<std::string>& texts, const std::vector<std::string>& negative, const ServerOptions& o,
                 const std::string& prefix) {
  if (static_cast<int64_t>(texts.size() + negative.size()) > o.max_texts)
    throw Error(ErrorCode::kInvalidArgument, "'" + prefix + "text' and '" + prefix + "negative_text' hold " +
                                                 std::to_string(texts.size() + negative.size()) + " texts; the limit is " +
                                                 std::to_string(o.max_texts) + " per query (--max-texts)");
  for (const auto* list : {&texts, &negative})
    for (const auto& t : *list)
      if (static_cast<int64_t>(t.size()) > o.max_text_bytes)
        throw Error(ErrorCode::kInvalidArgument, "'" + prefix + (list == &texts ? "text" : "negative_text") +
                                                     "' has a text of " + std::to_string(t.size()) + " bytes; the limit is " +
                                                     std::to_string(o.max_text_bytes) + " (--max-text-bytes)");
}

// An unknown method is the caller's mistake (400), not a missing resource.
void check_method(const std::string& method) {
  const auto names = compose::method_names();
  if (std::find(names.begin(), names.end(), method) != names.end()) return;
  std::string known;
  for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
  throw Error(ErrorCode::kInvalidArgument, "'query.method': unknown method '" + method + "' (known: " + known + ")");
}

std::vector<std::string> id_list(const json& body, const std::string& field, int max_ids) {
  if (!body.contains(field) || body[field].is_null()) return {};
  const json& v = body[field];
  if (v.is_string() || v.is_object()) return {id_from_json(v, field)};
  if (!v.is_array()) bad(field, "an id or an array of ids", v);
  if (static_cast<int64_t>(v.size()) > max_ids)
    throw Error(ErrorCode::kInvalidArgument, "'" + field + "' lists " + std::to_string(v.size()) + " ids; the limit is " +
                                                 std::to_string(max_ids) + " (--max-ids)");
  std::vector<std::string> out;
  out.reserve(v.size());
  for (const auto& x : v) out.push_back(id_from_json(x, field + "[]"));
  return out;
}

namespace {

void parse_reference(const json& ref, const ServerOptions& options, engine::ReferenceImage& out) {
  if (ref.is_string()) {  // shorthand: a gallery id
    out.gallery_id = ref.get<std::string>();
    return;
  }
  if (!ref.is_object()) bad("query.reference", "an object {id | id_b64 | image | image_url | embedding}", ref);
  int n_set = 0;
  if (ref.contains("id") && !ref["id"].is_null()) {
    out.gallery_id = id_from_json(ref["id"], "query.reference.id");
    ++n_set;
  }
  if (ref.contains("id_b64") && !ref["id_b64"].is_null()) {  // an id that is not UTF-8 (see put_id)
    const auto bytes = decode_base64(string_field(ref, "id_b64", "query.reference.id_b64"), "query.reference.id_b64");
    out.gallery_id.assign(bytes.begin(), bytes.end());
    ++n_set;
  }
  if (ref.contains("image") && !ref["image"].is_null()) {
    const std::string b64 = string_field(ref, "image", "query.reference.image");
    out.bytes = b64.rfind("data:", 0) == 0 ? image_bytes_from_url(b64, "query.reference.image")
                                          : decode_base64(b64, "query.reference.image");
    ++n_set;
  }
  if (ref.contains("image_url") && !ref["image_url"].is_null()) {
    out.bytes = image_bytes_from_url(string_field(ref, "image_url", "query.reference.image_url"), "query.reference.image_url");
    ++n_set;
  }
  if (ref.contains("embedding") && !ref["embedding"].is_null()) {
    out.embedding = float_list(ref["embedding"], "query.reference.embedding");
    ++n_set;
  }
  if (n_set > 1)
    throw Error(ErrorCode::kInvalidArgument, "'query.reference' must set exactly one of id, id_b64, image, image_url, embedding");
  if (!out.bytes.empty()) check_image_pixels(out.bytes, options.max_image_pixels, "query.reference.image");
}

void parse_query(const json& q, const ServerOptions& options, engine::QueryRequest& r) {
  if (!q.is_object()) bad("query", "an object", q);
  if (q.contains("reference") && !q["reference"].is_null()) parse_reference(q["reference"], options, r.reference);
  r.texts = string_list(q, "text");
  r.negative_texts = string_list(q, "negative_text");
  check_texts(r.texts, r.negative_texts, options, "query.");
  if (q.contains("method") && !q["method"].is_null()) r.method = string_field(q, "method", "query.method");
  check_method(r.method);
  if (q.contains("method_options")) {
    if (!q["method_options"].is_object()) bad("query.method_options", "an object", q["method_options"]);
    for (const auto& [k, v] : q["method_options"].items()) r.method_options[k] = method_option_value(k, v);
  }
  if (q.contains("template") && !q["template"].is_null())
    r.method_options["template"] = method_option_value("template", q["template"]);
  if (q.contains("weights") && !q["weights"].is_null()) {
    const json& w = q["weights"];
    if (!w.is_object()) bad("query.weights", "an object {image, text, negative}", w);
    auto weight = [&](const char* key, float& dst) {
      if (!w.contains(key)) return;
      if (!w[key].is_number()) bad(std::string("query.weights.") + key, "a number", w[key]);
      dst = w[key].get<float>();
    };
    weight("image", r.image_weight);
    weight("text", r.text_weight);
    weight("negative", r.negative_weight);
  }
  if (r.reference.empty() && r.texts.empty())
    throw Error(ErrorCode::kInvalidArgument, "'query' needs a reference, a text, or both");
}

void parse_filter(const json& body, engine::QueryRequest& r) {
  if (!body.contains("filter") || body["filter"].is_null()) return;
  const json& f = body["filter"];
  if (f.is_string()) r.parsed_filter = index::parse_filter(f.get<std::string>());
  else if (f.is_object()) r.parsed_filter = index::parse_filter_json(f.dump());
  else bad("filter", "a Qdrant-style object or a filter expression string", f);
}

void parse_params(const json& body, engine::QueryRequest& r) {
  if (!body.contains("params") || body["params"].is_null()) return;
  const json& p = body["params"];
  if (!p.is_object()) bad("params", "an object {ef, nprobe, exact}", p);
  r.ef_search = int_field(p, "ef", "params.ef", 0, 0, 1 << 16);
  r.nprobe = int_field(p, "nprobe", "params.nprobe", 0, 0, 1 << 16);
  r.exact = bool_field(p, "exact", "params.exact", false);
}

}  // namespace

std::vector<std::string> string_list(const json& body, const std::string& field) {
  if (!body.contains(field) || body[field].is_null()) return {};
  const json& v = body[field];
  if (v.is_string()) return v.get<std::string>().empty() ? std::vector<std::string>{} : std::vector{v.get<std::string>()};
  if (!v.is_array()) bad(field, "a string or an array of strings", v);
  std::vector<std::string> out;
  for (const auto& x : v) {
    if (!x.is_string()) bad(field + "[]", "a string", x);
    if (!x.get<std::string>().empty()) out.push_back(x.get<std::string>());
  }
  return out;
}

SearchCall parse_search_body(const json& body, const ServerOptions& options) {
  if (!body.is_object()) bad("body", "a JSON object", body);
  SearchCall call;
  auto& r = call.request;
  if (!body.contains("query")) throw Error(ErrorCode::kInvalidArgument, "'query' is required");
  parse_query(body["query"], options, r);
  r.k = int_field(body, "limit", "limit", 20, 1, options.max_limit);
  r.offset = int_field(body, "offset", "offset", 0, 0, 1'000'000);
  if (body.contains("score_threshold") && !body["score_threshold"].is_null()) {
    if (!body["score_threshold"].is_number()) bad("score_threshold", "a number", body["score_threshold"]);
    r.score_threshold = body["score_threshold"].get<float>();
  }
  parse_filter(body, r);
  r.exclude_ids = id_list(body, "exclude_ids", options.max_ids);
  r.candidate_ids = id_list(body, "candidate_ids", options.max_ids);
  r.include_reference = !bool_field(body, "exclude_reference", "exclude_reference", true);
  parse_params(body, r);
  call.with_payload = bool_field(body, "with_payload", "with_payload", true);
  call.with_vector = bool_field(body, "with_vector", "with_vector", false);
  if (bool_field(body, "deduplicate", "deduplicate", false)) call.ignored.push_back("deduplicate");
  return call;
}

json search_response(const IndexHandle& h, const SearchCall& call, const engine::QueryResult& result,
                     const GroundTruth& ground_truth) {
  const auto& r = call.request;
  std::optional<GroundTruthQuery> gt;
  if (!ground_truth.empty() && !r.reference.gallery_id.empty() && r.texts.size() == 1)
    gt = ground_truth.find(r.reference.gallery_id, r.texts[0]);
  json results = json::array();
  for (const auto& hit : result.hits) {
    json row = {{"score", hit.score},
                {"rank", hit.rank},
                {"thumbnail_url", item_url(h.name, hit.external_id, "thumbnail")},
                {"image_url", item_url(h.name, hit.external_id, "image")}};
    put_id(row, "id", hit.external_id);
    if (call.with_payload) row["payload"] = item_payload(hit.caption, hit.metadata);
    if (call.with_vector) {
      const FloatMatrix v = h.engine->store().get_vectors({hit.id});
      row["vector"] = v.data;
    }
    if (gt) row["ground_truth"] = GroundTruth::is_target(*gt, hit.external_id);
    results.push_back(std::move(row));
  }
  const auto& t = result.took_ms;
  const auto& store = h.engine->store();
  json out = {
      {"results", std::move(results)},
      {"next_offset", result.has_more ? json(r.offset + r.k) : json(nullptr)},
      {"filtered", {{"by_filter", result.n_filtered}, {"excluded", result.n_excluded}, {"below_threshold", result.n_below_threshold}}},
      {"took_ms", {{"decode", t.decode}, {"encode_image", t.encode_image}, {"encode_text", t.encode_text},
                   {"compose", t.compose}, {"search", t.search}, {"fetch", t.fetch}}},
      {"method", result.method},
      {"index", {{"name", h.name}, {"model", store.manifest().model.path}, {"family", store.manifest().model.family},
                 {"dim", store.manifest().embed_dim}, {"count", store.count()}}}};
  if (gt) {
    json targets = json::array();
    for (const auto& id : gt->targets) targets.push_back(id);
    out["ground_truth"] = {{"query_id", gt->query_id}, {"targets", targets}};
  }
  if (!call.ignored.empty()) out["ignored"] = call.ignored;
  // The texts SEIZE/LDRE/CIReVL searched with, so a client (the web page) can show them.
  if (const auto& g = result.generated)
    out["generated"] = {{"captioner_key", g->captioner_key}, {"editor_key", g->editor_key},
                        {"captions", g->captions},           {"edits", g->edits},
                        {"failed", g->failed},               {"n_generated", g->n_generated}};
  return out;
}

}  // namespace cir::server
