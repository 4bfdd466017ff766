// Item endpoints: listing and reading items, serving their image files and cached thumbnails,
// uploading new items (file kept under <index>/uploads/) and removing items.
//
// Files are found ONLY through the store: the URL's id is looked up as an external id, and the
// file path is rebuilt from the stored record (item_file), so a crafted id such as
// "../../etc/passwd" is simply an unknown item.
#include <limits>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "cir/image.h"
#include "search_codec.h"

namespace cir::server {
namespace fs = std::filesystem;
namespace {

constexpr const char* kItemsPattern = R"(/v1/indexes/([^/]+)/items)";
constexpr const char* kNormKey = "cir:feature_norm";  // same hidden key the ingestion writes

index::ItemRecord live_item(const IndexHandle& h, const std::string& external_id) {
  auto rec = h.engine->store().find_by_external_id(external_id);
  if (!rec || rec->removed) throw Error(ErrorCode::kNotFound, "no item '" + external_id + "' in index '" + h.name + "'");
  return *rec;
}

std::string content_type_for(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext == ".jpg" || ext == ".jpeg") return "image/jpeg";
  if (ext == ".png") return "image/png";
  if (ext == ".webp") return "image/webp";
  if (ext == ".gif") return "image/gif";
  if (ext == ".bmp") return "image/bmp";
  return "application/octet-stream";
}

std::string file_of(const IndexHandle& h, const index::ItemRecord& rec) {
  auto file = item_file(h, rec);
  if (!file) throw Error(ErrorCode::kNotFound, "item '" + rec.external_id + "' has no image file on this server");
  return *file;
}

json item_json(const IndexHandle& h, const index::ItemRecord& rec) {
  json out = {{"internal_id", rec.id},
              {"payload", item_payload(rec.caption, rec.metadata)},
              {"added_at", rec.added_at},
              {"thumbnail_url", item_url(h.name, rec.external_id, "thumbnail")},
              {"image_url", item_url(h.name, rec.external_id, "image")}};
  put_id(out, "id", rec.external_id);
  return out;
}

image::ImageU8 thumbnail_of(const image::ImageU8& img, int size) {
  const int longest = std::max(img.width, img.height);
  if (longest <= size) return img;
  const double scale = static_cast<double>(size) / longest;
  return image::resize_bicubic(img, std::max(1, static_cast<int>(std::lround(img.width * scale))),
                               std::max(1, static_cast<int>(std::lround(img.height * scale))));
}

// Cached by internal id and content hash, so a replaced file never shows a stale thumbnail.
std::string thumbnail_bytes(const IndexHandle& h, const index::ItemRecord& rec, const ServerOptions& options) {
  const std::string name = std::to_string(rec.id) + "-" + rec.content_hash.substr(0, 12) + "-" +
                           std::to_string(options.thumbnail_size) + ".jpg";
  const fs::path cached = fs::path(h.thumbnails_dir) / name;
  std::error_code ec;
  if (fs::is_regular_file(cached, ec)) return read_file_text(cached.string());
  // The file is one the index accepted, so it decodes under the limits ingestion used (the
  // default DecodeOptions), not the smaller --max-image-pixels meant for client uploads: a
  // gallery image between the two would otherwise have no thumbnail.
  const auto bytes = image::encode_jpeg(thumbnail_of(image::decode_image_file(file_of(h, rec)), options.thumbnail_size), 85);
  std::string out(bytes.begin(), bytes.end());
  try {
    fs::create_directories(h.thumbnails_dir);
    write_file_atomic(cached.string(), out);
  } catch (const std::exception& e) {  // a read-only index directory still serves thumbnails
    log(LogLevel::kWarn, std::string("thumbnail cache not written: ") + e.what());
  }
  return out;
}

void handle_list(ServerImpl& s, const httplib::Request& req, httplib::Response& res) {
  IndexHandle& h = s.index(req.matches[1]);
  index::ListRequest lr;
  lr.limit = int_param(req, "limit", 100, 1, s.options.max_limit);
  lr.after_id = int_param(req, "after", 0, 0, std::numeric_limits<int64_t>::max());
  if (req.has_param("filter")) lr.filter = index::parse_filter(req.get_param_value("filter"));
  lr.limit += 1;  // one extra row tells whether a next page exists
  auto items = h.engine->store().list_items(lr);
  const bool more = static_cast<int64_t>(items.size()) == lr.limit;
  if (more) items.pop_back();
  json rows = json::array();
  for (const auto& rec : items) rows.push_back(item_json(h, rec));
  send_json(res, {{"items", std::move(rows)},
                  {"next_after", more ? json(items.back().id) : json(nullptr)},
                  {"count", h.engine->store().count()}});
}

void handle_get(ServerImpl& s, const httplib::Request& req, httplib::Response& res) {
  IndexHandle& h = s.index(req.matches[1]);
  json out = item_json(h, live_item(h, req.matches[2]));
  if (req.has_param("with_vector") && req.get_param_value("with_vector") == "true")
    out["vector"] = h.engine->store().get_vectors({out["internal_id"].get<int64_t>()}).data;
  send_json(res, out);
}

void handle_image(ServerImpl& s, const httplib::Request& req, httplib::Response& res) {
  IndexHandle& h = s.index(req.matches[1]);
  const std::string file = file_of(h, live_item(h, req.matches[2]));
  res.set_header("Cache-Control", "private, max-age=300");
  res.set_content(read_file_text(file), content_type_for(file).c_str());
}

void handle_thumbnail(ServerImpl& s, const httplib::Request& req, httplib::Response& res) {
  IndexHandle& h = s.index(req.matches[1]);
  res.set_header("Cache-Control", "private, max-age=300");
  res.set_content(thumbnail_bytes(h, live_item(h, req.matches[2]), s.options), "image/jpeg");
}

std::map<std::string, index::MetaValue> payload_metadata(const json& item) {
  std::map<std::string, index::MetaValue> out;
  if (!item.contains("payload") || item["payload"].is_null()) return out;
  if (!item["payload"].is_object()) throw Error(ErrorCode::kInvalidArgument, "'items[].payload' must be an object");
  for (const auto& [k, v] : item["payload"].items()) {
    if (k == "caption" || k.rfind("cir:", 0) == 0) continue;
    if (v.is_number()) out[k] = v.get<double>();
    else if (v.is_string()) out[k] = v.get<std::string>();
    else if (v.is_boolean()) out[k] = std::string(v.get<bool>() ? "true" : "false");
    else throw Error(ErrorCode::kInvalidArgument, "'items[].payload." + k + "' must be a string, number or boolean");
  }
  return out;
}

// A string field of an uploaded item; a present field of another type is the client's mistake.
std::string optional_string(const json& item, const char* key) {
  if (!item.contains(key) || item[key].is_null()) return "";
  if (!item[key].is_string())
    throw Error(ErrorCode::kInvalidArgument, std::string("'items[].") + key + "' must be a string (found " +
                                                 item[key].type_name() + ")");
  return item[key].get<std::string>();
}

// Decodes, encodes and stores one upload; the file name is derived from the content hash, never
// from the request.
index::NewItem prepare_upload(IndexHandle& h, const json& item, const ServerOptions& options, std::vector<float>& feature) {
  if (!item.is_object() || !item.contains("image") || !item["image"].is_string())
    throw Error(ErrorCode::kInvalidArgument, "each item needs 'image' (base64 string)");
  const std::string b64 = item["image"].get<std::string>();
  const auto bytes = b64.rfind("data:", 0) == 0 ? image_bytes_from_url(b64, "items[].image") : decode_base64(b64, "items[].image");
  check_image_pixels(bytes, options.max_image_pixels, "items[].image");
  const auto info = image::probe_image(bytes, "items[].image");
  image::DecodeOptions decode;
  decode.max_pixels = options.max_image_pixels;
  const image::ImageU8 img = image::decode_image(bytes, "items[].image", decode);
  // The gallery rows ingestion writes: one normalised CLIP vector (raw norm kept as metadata),
  // or a BLIP-2 image's n_query_tokens rows.
  engine::ImageRows rows = h.engine->encoder().encode_image_rows({img});
  feature = std::move(rows.rows.data);
  const std::string hash = sha256_hex(bytes);
  const std::string file_name = hash.substr(0, 24) + "." + (info.format == "jpeg" ? "jpg" : info.format);
  fs::create_directories(h.uploads_dir);
  write_file_atomic((fs::path(h.uploads_dir) / file_name).string(), std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  index::NewItem out;
  out.external_id = std::string(kUploadPrefix) + file_name;
  out.content_hash = hash;
  out.size_bytes = static_cast<int64_t>(bytes.size());
  out.mtime = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  out.caption = optional_string(item, "caption");
  out.metadata = payload_metadata(item);
  if (const std::string name = optional_string(item, "filename"); !name.empty()) out.metadata["filename"] = name;
  if (!rows.norms.empty()) out.metadata[kNormKey] = rows.norms[0];
  out.n_vectors = rows.vectors_per_image;
  return out;
}

void require_writable(const ServerImpl& s) {
  if (!s.options.writable)
    throw Error(ErrorCode::kUnsupported, "this server opened its indexes read-only; restart `cir serve` with --writable");
}

void handle_upload(ServerImpl& s, const httplib::Request& req, httplib::Response& res) {
  require_writable(s);
  IndexHandle& h = s.index(req.matches[1]);
  const json body = parse_json_body(req, s.options.max_json_depth);
  const json list = body.is_object() && body.contains("items") ? body["items"] : json::array({body});
  if (!list.is_array() || list.empty()) throw Error(ErrorCode::kInvalidArgument, "'items' must be a non-empty array");
  if (static_cast<int64_t>(list.size()) > s.options.max_batch)
    throw Error(ErrorCode::kInvalidArgument, "'items' holds " + std::to_string(list.size()) + " items; the limit is " +
                                                 std::to_string(s.options.max_batch) + " per upload (--max-batch)");
  std::lock_guard lock(h.upload_mutex);
  std::vector<std::vector<float>> features(list.size());
  std::vector<index::NewItem> items;
  for (size_t i = 0; i < list.size(); ++i) {
    items.push_back(prepare_upload(h, list[i], s.options, features[i]));
    items.back().vectors = features[i].data();
  }
  const auto ids = h.engine->store().add_items(items);
  json out = json::array();
  for (size_t i = 0; i < items.size(); ++i)
    out.push_back({{"id", items[i].external_id}, {"internal_id", ids[i]},
                   {"thumbnail_url", item_url(h.name, items[i].external_id, "thumbnail")}});
  send_json(res, {{"items", std::move(out)}, {"count", h.engine->store().count()}}, 201);
}

// After an item is removed: its uploaded file (uploads are the server's own copies; gallery files
// belong to the user and stay) and its cached thumbnails. Failures are logged, not fatal: the
// item is already gone from the index.
void remove_item_files(const IndexHandle& h, const index::ItemRecord& rec) {
  std::error_code ec;
  if (rec.external_id.rfind(kUploadPrefix, 0) == 0)
    if (const auto file = item_file(h, rec)) {
      fs::remove(*file, ec);
      if (ec) log(LogLevel::kWarn, "uploaded file " + *file + " not removed: " + ec.message());
    }
  const std::string prefix = std::to_string(rec.id) + "-";
  if (!fs::is_directory(h.thumbnails_dir, ec)) return;
  for (const auto& entry : fs::directory_iterator(h.thumbnails_dir, ec))
    if (entry.path().filename().string().rfind(prefix, 0) == 0) fs::remove(entry.path(), ec);
}

void handle_delete(ServerImpl& s, const httplib::Request& req, httplib::Response& res) {
  require_writable(s);
  IndexHandle& h = s.index(req.matches[1]);
  const json body = parse_json_body(req, s.options.max_json_depth);
  const auto ids = id_list(body, "ids", s.options.max_ids);
  if (ids.empty()) throw Error(ErrorCode::kInvalidArgument, "'ids' must list the external ids to remove");
  std::lock_guard lock(h.upload_mutex);  // an upload of the same bytes must not race the file removal
  std::vector<index::ItemRecord> before;
  for (const auto& id : ids)
    if (auto rec = h.engine->store().find_by_external_id(id); rec && !rec->removed) before.push_back(*rec);
  const int64_t removed = h.engine->store().remove_by_external_ids(ids);
  for (const auto& rec : before) remove_item_files(h, rec);
  send_json(res, {{"removed", removed}, {"count", h.engine->store().count()}});
}

}  // namespace

void install_item_routes(ServerImpl& s) {
  const std::string items = kItemsPattern;
  auto wrap = [&s](const char* route, void (*fn)(ServerImpl&, const httplib::Request&, httplib::Response&)) {
    return guarded(s, route, [&s, fn](const auto& req, auto& res) { fn(s, req, res); });
  };
  // The suffix routes come first: an external id may itself contain '/'. [\s\S] rather than '.',
  // which std::regex never matches against '\n' or '\r' (ids may contain both).
  s.http.Get(items + R"(/([\s\S]+)/image)", wrap("/v1/indexes/{index}/items/{id}/image", handle_image));
  s.http.Get(items + R"(/([\s\S]+)/thumbnail)", wrap("/v1/indexes/{index}/items/{id}/thumbnail", handle_thumbnail));
  s.http.Get(items + R"(/([\s\S]+))", wrap("/v1/indexes/{index}/items/{id}", handle_get));
  s.http.Get(items, wrap("/v1/indexes/{index}/items", handle_list));
  s.http.Post(items, wrap("/v1/indexes/{index}/items", handle_upload));
  s.http.Delete(items, wrap("/v1/indexes/{index}/items", handle_delete));
}

}  // namespace cir::server
