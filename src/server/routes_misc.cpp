// Health, metrics, index listing/description and the embedded web page.
#include <set>

#include "cir/compose.h"
#include "server_impl.h"
#include "web_assets.h"

namespace cir::server {
namespace {

json index_summary(const IndexHandle& h) {
  const auto& store = h.engine->store();
  const auto& m = store.manifest();
  return {{"name", h.name},
          {"count", store.count()},
          {"dim", m.embed_dim},
          {"model", {{"family", m.model.family}, {"format", m.model.format}, {"path", m.model.path}}},
          {"index_key", m.index_key},
          {"vector_dtype", index::vector_dtype_name(m.dtype)},
          {"has_gallery_root", !h.gallery_root.empty()}};
}

// Metadata fields seen on the first items, with up to 30 distinct values each: what the web
// page offers as filters. A sample keeps this cheap on large indexes.
json metadata_fields(const IndexHandle& h) {
  index::ListRequest lr;
  lr.limit = 500;
  std::map<std::string, std::set<std::string>> text_values;
  std::map<std::string, std::pair<double, double>> ranges;
  for (const auto& rec : h.engine->store().list_items(lr))
    for (const auto& [k, v] : rec.metadata) {
      if (k.rfind("cir:", 0) == 0) continue;
      if (std::holds_alternative<double>(v)) {
        auto [it, fresh] = ranges.try_emplace(k, std::get<double>(v), std::get<double>(v));
        it->second.first = std::min(it->second.first, std::get<double>(v));
        it->second.second = std::max(it->second.second, std::get<double>(v));
      } else if (text_values[k].size() < 30) {
        text_values[k].insert(std::get<std::string>(v));
      }
    }
  json fields = json::array();
  for (const auto& [k, values] : text_values) fields.push_back({{"key", k}, {"type", "text"}, {"values", values}});
  for (const auto& [k, r] : ranges) fields.push_back({{"key", k}, {"type", "number"}, {"min", r.first}, {"max", r.second}});
  return fields;
}

void serve_asset(httplib::Response& res, const std::string& path) {
  for (size_t i = 0; i < kWebAssetCount; ++i)
    if (path == kWebAssets[i].path) {
      res.set_content(reinterpret_cast<const char*>(kWebAssets[i].data), kWebAssets[i].size, kWebAssets[i].content_type);
      res.set_header("Cache-Control", "no-cache");
      return;
    }
  throw Error(ErrorCode::kNotFound, "no such page '" + path + "'");
}

json verify_report_json(const index::VerifyReport& report) {
  json problems = json::array();
  for (const index::VerifyProblem& p : report.problems)
    problems.push_back({{"file", p.file}, {"byte_offset", p.byte_offset}, {"message", p.message}});
  return {{"ok", report.ok()},          {"n_blocks", report.n_blocks}, {"n_rows", report.n_rows},
          {"n_items", report.n_items}, {"uncommitted_bytes", report.uncommitted_bytes}, {"problems", std::move(problems)}};
}

}  // namespace

void install_misc_routes(ServerImpl& s) {
  s.http.Get("/healthz", guarded(s, "/healthz", [&s](const auto&, auto& res) {
               send_json(res, {{"status", "ok"}, {"indexes", s.indexes.size()}});
             }, RouteCost::kLight));
  s.http.Get("/metrics", guarded(s, "/metrics", [&s](const auto&, auto& res) {
               std::vector<std::pair<std::string, engine::GenerationStats>> generation;
               for (const auto& [name, h] : s.indexes) generation.emplace_back(name, h->engine->generation_stats());
               res.set_content(s.metrics.render() + render_generation_metrics(generation), "text/plain; version=0.0.4");
             }, RouteCost::kLight));
  s.http.Get("/v1/indexes", guarded(s, "/v1/indexes", [&s](const auto&, auto& res) {
               json list = json::array();
               for (const auto& [name, h] : s.indexes) list.push_back(index_summary(*h));
               send_json(res, {{"indexes", std::move(list)},
                               {"writable", s.options.writable},
                               {"methods", compose::method_names()},
                               {"ground_truth_queries", s.ground_truth.size()}});
             }, RouteCost::kLight));
  s.http.Get(R"(/v1/indexes/([^/]+))", guarded(s, "/v1/indexes/{index}", [&s](const auto& req, auto& res) {
               IndexHandle& h = s.index(req.matches[1]);
               json out = index_summary(h);
               out["fields"] = metadata_fields(h);
               send_json(res, out);
             }));
  // A full integrity check (every vector block read and CRC-checked, SQLite integrity_check,
  // item/row consistency): heavy, so it takes a work slot like a search.
  s.http.Get(R"(/v1/indexes/([^/]+)/verify)", guarded(s, "/v1/indexes/{index}/verify", [&s](const auto& req, auto& res) {
               IndexHandle& h = s.index(req.matches[1]);
               send_json(res, verify_report_json(h.engine->store().verify()));
             }));
  s.http.Get("/", guarded(s, "/", [](const auto&, auto& res) { serve_asset(res, "index.html"); }, RouteCost::kLight));
  s.http.Get(R"(/(index\.html|app\.js|style\.css))",
             guarded(s, "/{asset}", [](const auto& req, auto& res) { serve_asset(res, req.matches[1]); }, RouteCost::kLight));
}

}  // namespace cir::server
