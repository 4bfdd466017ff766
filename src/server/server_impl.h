// Internal pieces of the HTTP server shared by the route files (not a public header).
#pragma once

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <semaphore>
#include <string>

#include <nlohmann/json.hpp>

#include "cir/engine.h"
#include "cir/server.h"
#include "ground_truth.h"
#include "metrics.h"
#include "transport.h"

namespace cir::server {

using json = nlohmann::json;

/// One served index: its engine and the folders files may be served from.
struct IndexHandle {
  std::string name;
  std::string dir;                        ///< canonical index directory
  std::unique_ptr<engine::Engine> engine;
  std::string gallery_root;               ///< canonical gallery root ("" if unknown)
  std::string uploads_dir;                ///< <index>/uploads
  std::string thumbnails_dir;             ///< <index>/thumbnails
  std::mutex upload_mutex;                ///< serialises uploads (file write + add_items)
};

/// External ids of uploaded items start with this prefix; their files live in uploads_dir.
inline constexpr const char* kUploadPrefix = "upload:";

class ServerImpl {
 public:
  ServerOptions options;
  std::map<std::string, std::unique_ptr<IndexHandle>> indexes;
  GroundTruth ground_truth;
  Metrics metrics;
  HttpServer http;
  int port = 0;
  /// Requests doing index or model work at once (options.threads).
  std::unique_ptr<std::counting_semaphore<>> work_slots;
  /// run() has returned (Server::shutdown waits on it).
  std::mutex run_mutex;
  std::condition_variable run_done;
  bool running = false;

  /// The named index; kNotFound listing the served ones.
  IndexHandle& index(const std::string& name);
};

using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

/// What a route costs: kWork routes (index or model access) wait for one of options.threads
/// slots, kLight ones (health, metrics, listings, static pages) never wait.
enum class RouteCost { kLight, kWork };

/// Wraps a handler: takes a work slot for kWork routes (503 after request_timeout_seconds
/// without one), maps exceptions to JSON errors (status_for_error) and records metrics under
/// `route` (a fixed label, never the raw path, so label cardinality stays bounded).
Handler guarded(ServerImpl& s, const std::string& route, Handler handler, RouteCost cost = RouteCost::kWork);

/// Writes `body` as application/json with `status`.
void send_json(httplib::Response& res, const json& body, int status = 200);
/// {"error": {"code", "message"}}.
json error_body(std::string_view code, const std::string& message);
/// Parses the request body as JSON; kInvalidArgument (400) naming the parse error, or the
/// nesting limit when the body nests arrays/objects deeper than `max_depth` (checked by
/// cir::check_json_depth before parsing, so no recursive code ever sees a deeper document).
json parse_json_body(const httplib::Request& req, int max_depth);
/// `request` with its deadline set --request-timeout from now (the query's own work is bounded
/// from the moment it holds a work slot).
engine::QueryRequest with_deadline(engine::QueryRequest request, const ServerImpl& s);

/// The integer query parameter `name` (def when absent), all of it a decimal integer within
/// [lo, hi]; 400 naming the parameter otherwise (as a body field would be).
int64_t int_param(const httplib::Request& req, const std::string& name, int64_t def, int64_t lo, int64_t hi);

/// Ids in JSON. A JSON string cannot carry bytes that are not UTF-8, so such an id is written as
/// `key` (with U+FFFD replacements, for display) plus `key + "_b64"` (base64url of the exact
/// bytes); requests give such an id as {"b64": "..."} wherever a string id is accepted.
bool is_valid_utf8(std::string_view text);
void put_id(json& row, const std::string& key, const std::string& id);
/// An id from a request: a string, or {"b64": "<base64 or base64url>"}; kInvalidArgument naming
/// `field` otherwise.
std::string id_from_json(const json& v, const std::string& field);
/// base64url without padding.
std::string encode_base64url(std::string_view bytes);

/// Decodes standard or URL-safe base64 (padding optional, whitespace ignored); kInvalidArgument
/// naming `field` on bad input.
std::vector<uint8_t> decode_base64(std::string_view text, const std::string& field);
/// Bytes of an image given as base64 or a data: URL; kInvalidArgument / kUnsupported otherwise.
std::vector<uint8_t> image_bytes_from_url(const std::string& url, const std::string& field);
/// Refuses (kResourceExhausted) images whose header announces more than max_pixels.
void check_image_pixels(const std::vector<uint8_t>& bytes, int64_t max_pixels, const std::string& field);

/// The canonical file of an indexed item, checked to lie inside its root; nullopt when the item
/// has no file on disk or the id would escape the root.
std::optional<std::string> item_file(const IndexHandle& h, const index::ItemRecord& rec);
/// URL of an item's thumbnail / image (ids percent-encoded).
std::string item_url(const std::string& index_name, const std::string& external_id, const std::string& what);
/// Percent-encodes everything outside the RFC 3986 unreserved set.
std::string url_encode(const std::string& text);
/// JSON value of a metadata value (string or number).
json meta_to_json(const index::MetaValue& v);
/// Public metadata of an item (hidden "cir:" keys dropped) plus caption.
json item_payload(const std::string& caption, const std::map<std::string, index::MetaValue>& metadata);

/// Route installers, one per file.
void install_search_routes(ServerImpl& s);
void install_item_routes(ServerImpl& s);
void install_clip_retrieval_routes(ServerImpl& s);
void install_misc_routes(ServerImpl& s);

}  // namespace cir::server
