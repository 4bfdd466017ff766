// Helpers shared by the routes: the ErrorCode -> HTTP status mapping (the one place it lives),
// exception-to-JSON translation, base64 and data: URLs, and resolving an item's file safely.
#include <charconv>
#include <chrono>
#include <filesystem>

#include "cir/image.h"
#include "server_impl.h"

namespace cir::server {
namespace fs = std::filesystem;

int status_for_error(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return 400;
    case ErrorCode::kNotFound: return 404;
    case ErrorCode::kUnsupported: return 501;
    case ErrorCode::kResourceExhausted: return 413;
    case ErrorCode::kCorrupt: return 422;  // the client's image (or a stored file) is damaged
    case ErrorCode::kIo: return 503;       // e.g. the index is locked or the disk refused
    case ErrorCode::kModel:
    case ErrorCode::kInternal: return 500;
  }
  return 500;
}

json error_body(std::string_view code, const std::string& message) {
  return {{"error", {{"code", code}, {"message", message}}}};
}

namespace {

// Holds one of ServerImpl::work_slots for the lifetime of a kWork request.
class WorkSlot {
 public:
  explicit WorkSlot(ServerImpl& s) : slots_(*s.work_slots) {
    const auto wait = std::chrono::seconds(s.options.request_timeout_seconds);
    if (!slots_.try_acquire_for(wait)) {
      s.metrics.record_rejection("busy");
      throw Error(ErrorCode::kIo, "server busy: no work slot freed within " + std::to_string(s.options.request_timeout_seconds) +
                                      " s (--request-timeout; " + std::to_string(s.options.threads) +
                                      " requests run at once, --threads); retry later");
    }
  }
  ~WorkSlot() { slots_.release(); }
  WorkSlot(const WorkSlot&) = delete;
  WorkSlot& operator=(const WorkSlot&) = delete;

 private:
  std::counting_semaphore<>& slots_;
};

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

bool is_inside(const fs::path& root, const fs::path& file) {
  auto r = root.begin(), f = file.begin();
  for (; r != root.end(); ++r, ++f)
    if (f == file.end() || *r != *f) return false;
  return f != file.end();
}

}  // namespace

IndexHandle& ServerImpl::index(const std::string& name) {
  auto it = indexes.find(name);
  if (it != indexes.end()) return *it->second;
  std::string names;
  for (const auto& [n, h] : indexes) names += (names.empty() ? "" : ", ") + n;
  throw Error(ErrorCode::kNotFound, "no index named '" + name + "' (served: " + names + ")");
}

Handler guarded(ServerImpl& s, const std::string& route, Handler handler, RouteCost cost) {
  return [&s, route, cost, handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    const auto t0 = std::chrono::steady_clock::now();
    try {
      std::optional<WorkSlot> slot;
      if (cost == RouteCost::kWork) slot.emplace(s);
      handler(req, res);
    } catch (const Error& e) {
      send_json(res, error_body(error_code_name(e.code()), e.what()), status_for_error(e.code()));
    } catch (const json::exception& e) {
      send_json(res, error_body("invalid_argument", std::string("bad JSON value: ") + e.what()), 400);
    } catch (const std::exception& e) {
      send_json(res, error_body("internal", e.what()), 500);
    }
    s.metrics.record_request(route, res.status, ms_since(t0));
  };
}

void send_json(httplib::Response& res, const json& body, int status) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

engine::QueryRequest with_deadline(engine::QueryRequest request, const ServerImpl& s) {
  request.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(s.options.request_timeout_seconds);
  return request;
}

json parse_json_body(const httplib::Request& req, int max_depth) {
  if (req.body.empty()) throw Error(ErrorCode::kInvalidArgument, "request body is empty; expected a JSON object");
  // Before parsing: the parser is iterative, but everything that walks the parsed document
  // (dump, filter conversion, field readers) recurses, so depth is bounded at the door.
  check_json_depth(req.body, "request body (limit set by --max-json-depth)", max_depth);
  try {
    return json::parse(req.body);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for numbers like 1E400
    throw Error(ErrorCode::kInvalidArgument, std::string("request body is not valid JSON: ") + e.what());
  }
}

std::vector<uint8_t> decode_base64(std::string_view text, const std::string& field) {
  std::vector<uint8_t> out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=' || c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    const int v = base64_value(c);
    if (v < 0) throw Error(ErrorCode::kInvalidArgument, "'" + field + "' is not valid base64 (found '" + std::string(1, c) + "')");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>((acc >> bits) & 0xFF));
    }
  }
  if (out.empty()) throw Error(ErrorCode::kInvalidArgument, "'" + field + "' is empty");
  return out;
}

bool is_valid_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    size_t n_cont;  // continuation bytes after the lead byte
    uint32_t cp;
    if (lead < 0x80) n_cont = 0, cp = lead;
    else if ((lead & 0xE0) == 0xC0) n_cont = 1, cp = lead & 0x1F;
    else if ((lead & 0xF0) == 0xE0) n_cont = 2, cp = lead & 0x0F;
    else if ((lead & 0xF8) == 0xF0) n_cont = 3, cp = lead & 0x07;
    else return false;
    if (i + n_cont >= text.size() && n_cont > 0) return false;
    for (size_t k = 1; k <= n_cont; ++k) {
      const auto c = static_cast<unsigned char>(text[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8 either.
    static constexpr uint32_t kSmallest[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kSmallest[n_cont] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n_cont + 1;
  }
  return true;
}

std::string encode_base64url(std::string_view bytes) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 63];
  return out;
}

void put_id(json& row, const std::string& key, const std::string& id) {
  row[key] = id;
  if (!is_valid_utf8(id)) row[key + "_b64"] = encode_base64url(id);
}

std::string id_from_json(const json& v, const std::string& field) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.size() == 1 && v.contains("b64") && v["b64"].is_string()) {
    const auto bytes = decode_base64(v["b64"].get<std::string>(), field + ".b64");
    return std::string(bytes.begin(), bytes.end());
  }
  throw Error(ErrorCode::kInvalidArgument, "'" + field + "' must be an id string or {\"b64\": \"...\"} (found " +
                                               std::string(v.type_name()) + ")");
}

std::vector<uint8_t> image_bytes_from_url(const std::string& url, const std::string& field) {
  if (url.rfind("data:", 0) == 0) {
    const auto comma = url.find(',');
    if (comma == std::string::npos || url.substr(0, comma).find(";base64") == std::string::npos)
      throw Error(ErrorCode::kInvalidArgument, "'" + field + "': only base64 data: URLs are accepted (data:image/png;base64,...)");
    return decode_base64(std::string_view(url).substr(comma + 1), field);
  }
  throw Error(ErrorCode::kUnsupported, "'" + field + "': fetching image URLs is not supported by this server (it makes no "
                                       "outbound requests); send the bytes as base64 in 'image' or as a data: URL");
}

void check_image_pixels(const std::vector<uint8_t>& bytes, int64_t max_pixels, const std::string& field) {
  const image::ImageInfo info = image::probe_image(bytes, field);
  const int64_t pixels = int64_t{info.width} * info.height;
  if (pixels > max_pixels)
    throw Error(ErrorCode::kResourceExhausted, "'" + field + "' has " + std::to_string(info.width) + "x" +
                                                   std::to_string(info.height) + " pixels; the limit is " +
                                                   std::to_string(max_pixels));
}

std::optional<std::string> item_file(const IndexHandle& h, const index::ItemRecord& rec) {
  const bool uploaded = rec.external_id.rfind(kUploadPrefix, 0) == 0;
  const std::string root = uploaded ? h.uploads_dir : h.gallery_root;
  if (root.empty() || rec.removed) return std::nullopt;
  const std::string relative = uploaded ? rec.external_id.substr(std::string(kUploadPrefix).size()) : rec.external_id;
  if (relative.empty() || fs::path(relative).is_absolute()) return std::nullopt;
  std::error_code ec;
  const fs::path file = fs::weakly_canonical(fs::path(root) / relative, ec);
  if (ec || !is_inside(fs::path(root), file) || !fs::is_regular_file(file, ec)) return std::nullopt;
  return file.string();
}

std::string url_encode(const std::string& text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string item_url(const std::string& index_name, const std::string& external_id, const std::string& what) {
  return "/v1/indexes/" + url_encode(index_name) + "/items/" + url_encode(external_id) + "/" + what;
}

json meta_to_json(const index::MetaValue& v) {
  if (std::holds_alternative<double>(v)) return std::get<double>(v);
  return std::get<std::string>(v);
}

json item_payload(const std::string& caption, const std::map<std::string, index::MetaValue>& metadata) {
  json p = json::object();
  for (const auto& [k, v] : metadata)
    if (k.rfind("cir:", 0) != 0) p[k] = meta_to_json(v);
  if (!caption.empty()) p["caption"] = caption;
  return p;
}

int64_t int_param(const httplib::Request& req, const std::string& name, int64_t def, int64_t lo, int64_t hi) {
  if (!req.has_param(name)) return def;
  const std::string text = req.get_param_value(name);
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < lo || value > hi)
    throw Error(ErrorCode::kInvalidArgument, "query parameter '" + name + "' must be an integer in [" + std::to_string(lo) +
                                                 ", " + std::to_string(hi) + "] (found '" + text.substr(0, 40) + "')");
  return value;
}

}  // namespace cir::server
