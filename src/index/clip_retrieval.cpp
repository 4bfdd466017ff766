// clip-retrieval interoperability: its embedding folder layout (img_emb/img_emb_N.npy, fp16,
// L2-normalised) with our JSON-lines stand-in for its parquet metadata (no parquet dependency).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <regex>
#include <set>
#include <string_view>

#include <nlohmann/json.hpp>

#include "index/store_impl.h"
#include "index/util.h"

namespace cir::index {

using detail::LiveItem;
using detail::Stmt;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// Length of the valid UTF-8 sequence at s[i] (no overlongs, surrogates or code points past
// U+10FFFF: what nlohmann::json accepts), or 0 when the byte there does not start one.
size_t utf8_sequence_length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n = 0;
  unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size() || b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k)
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  return n;
}

bool is_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// The export's escaping of text that is not UTF-8 (JSON cannot hold it): valid sequences are
// kept, '%' and every byte outside a valid sequence become %HH. The row lists such fields in
// "escaped_fields", so the escaping is reversible and applies to nothing else.
std::string percent_escape(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_sequence_length(s, i);
    if (n == 0 || s[i] == '%') {
      const auto c = static_cast<unsigned char>(s[i]);
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string percent_unescape(std::string_view s, const std::string& where) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    const int hi = i + 1 < s.size() ? hex_value(s[i + 1]) : -1;
    const int lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
    if (hi < 0 || lo < 0) throw Error(ErrorCode::kInvalidArgument, where + ": bad %-escape in an escaped field");
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

// `text` as a JSON string, escaped (and `field` listed in `escaped`) when it is not UTF-8.
json text_field(const std::string& text, const std::string& field, json& escaped) {
  if (is_utf8(text)) return text;
  escaped.push_back(field);
  return percent_escape(text);
}

}  // namespace

int64_t Store::export_clip_retrieval(const std::string& out_dir) const {
  const Impl& s = *impl_;
  if (s.manifest.vectors_per_item != 1)
    throw Error(ErrorCode::kUnsupported, "export_clip_retrieval: index '" + s.dir + "' keeps " +
                                             std::to_string(s.manifest.vectors_per_item) +
                                             " vectors per item; the clip-retrieval layout holds one");
  std::shared_lock lock(s.mutex);
  s.check_vectors();
  const int dim = s.manifest.embed_dim;
  std::error_code ec;
  fs::create_directories(fs::path(out_dir) / "img_emb", ec);
  fs::create_directories(fs::path(out_dir) / "metadata", ec);
  if (ec) throw Error(ErrorCode::kIo, "cannot create '" + out_dir + "': " + ec.message());

  const int64_t n = static_cast<int64_t>(s.live.size());
  std::vector<uint16_t> halves(static_cast<size_t>(n) * dim);
  std::vector<float> row(static_cast<size_t>(dim));
  for (int64_t i = 0; i < n; ++i) {
    s.vectors->read_rows(s.live[static_cast<size_t>(i)].row, 1, row.data());
    normalize_in_place(row);
    detail::float_to_half_n(row.data(), halves.data() + i * dim, static_cast<size_t>(dim));
  }
  write_npy_raw((fs::path(out_dir) / "img_emb" / "img_emb_0.npy").string(), {n, dim}, "<f2",
                {reinterpret_cast<const uint8_t*>(halves.data()), halves.size() * sizeof(uint16_t)});

  std::string lines;
  {
    std::lock_guard db_lock(s.db_mutex);
    Stmt items(*s.db, "SELECT id, external_id, caption, content_hash FROM items WHERE status = 'ok' ORDER BY id");
    Stmt meta(*s.db,
              "SELECT m.item_id, m.key, m.value_text, m.value_num FROM metadata m JOIN items i ON i.id = m.item_id "
              "WHERE i.status = 'ok' ORDER BY m.item_id");
    bool meta_row = meta.step();
    int64_t i = 0;
    while (items.step()) {
      const int64_t id = items.col_int(0);
      if (i >= n || s.live[static_cast<size_t>(i)].id != id)
        throw Error(ErrorCode::kInternal, "export: SQLite and the in-memory item list disagree");
      json escaped = json::array();
      json obj = {{"image_path", text_field(items.col_text(1), "image_path", escaped)},
                  {"id", id},
                  {"caption", text_field(items.col_text(2), "caption", escaped)},
                  {"content_hash", text_field(items.col_text(3), "content_hash", escaped)},
                  {"metadata", json::object()}};
      while (meta_row && meta.col_int(0) < id) meta_row = meta.step();
      while (meta_row && meta.col_int(0) == id) {
        json key_escaped = json::array();
        const std::string key = text_field(meta.col_text(1), "", key_escaped).get<std::string>();
        if (!key_escaped.empty()) escaped.push_back("metadata key " + key);
        obj["metadata"][key] =
            meta.col_is_null(2) ? json(meta.col_double(3)) : text_field(meta.col_text(2), "metadata." + key, escaped);
        meta_row = meta.step();
      }
      if (!escaped.empty()) obj["escaped_fields"] = escaped;
      lines += obj.dump() + "\n";
      ++i;
    }
  }
  write_file_atomic((fs::path(out_dir) / "metadata" / "metadata_0.jsonl").string(), lines);
  return n;
}

int64_t Store::import_clip_retrieval(const std::string& dir) {
  impl_->require_writable();
  const int dim = impl_->manifest.embed_dim;
  const fs::path emb_dir = fs::path(dir) / "img_emb";
  std::vector<std::pair<int, fs::path>> files;
  std::error_code ec;
  const std::regex pattern(R"(img_emb_(\d+)\.npy)");
  if (fs::is_directory(emb_dir, ec)) {
    for (const auto& entry : fs::directory_iterator(emb_dir)) {
      std::smatch m;
      const std::string name = entry.path().filename().string();
      if (std::regex_match(name, m, pattern)) files.emplace_back(std::stoi(m[1].str()), entry.path());
    }
  }
  if (files.empty()) throw Error(ErrorCode::kNotFound, "no img_emb/img_emb_N.npy files under '" + dir + "'");
  std::sort(files.begin(), files.end());

  int64_t total = 0;
  for (const auto& [number, path] : files) {
    const NpyArray arr = read_npy(path.string());
    if (arr.shape.size() != 2 || arr.shape[1] != dim)
      throw Error(ErrorCode::kInvalidArgument, "'" + path.string() + "': expected shape (n, " + std::to_string(dim) +
                                                   ") for this index, found " + std::to_string(arr.shape.size()) +
                                                   "-d array" +
                                                   (arr.shape.size() == 2 ? " with " + std::to_string(arr.shape[1]) + " columns" : ""));
    std::vector<float> values = arr.as_floats();
    const int64_t n = arr.shape[0];
    for (int64_t r = 0; r < n; ++r) normalize_in_place({values.data() + r * dim, static_cast<size_t>(dim)});

    std::vector<NewItem> items(static_cast<size_t>(n));
    const fs::path meta_path = fs::path(dir) / "metadata" / ("metadata_" + std::to_string(number) + ".jsonl");
    const std::string file_name = path.filename().string();
    if (fs::exists(meta_path, ec)) {
      std::istringstream in(read_file_text(meta_path.string()));  // RegularFile: no hang on a FIFO
      std::string line;
      int64_t r = 0;
      while (std::getline(in, line)) {
        if (line.empty()) continue;
        std::string where = "'";  // built by appends: GCC 12 misfires -Wrestrict on "'" + string
        where += meta_path.string();
        where += "' line " + std::to_string(r + 1);
        if (r >= n) throw Error(ErrorCode::kInvalidArgument, where + ": more metadata lines than the " + std::to_string(n) + " rows of '" + path.string() + "'");
        check_json_depth(line, where);
        json obj;
        try {
          obj = json::parse(line);
        } catch (const json::exception& e) {
          throw Error(ErrorCode::kInvalidArgument, where + ": not valid JSON: " + e.what());
        }
        if (!obj.is_object()) throw Error(ErrorCode::kInvalidArgument, where + ": expected a JSON object");
        NewItem& item = items[static_cast<size_t>(r)];
        // Fields our export escaped because they were not UTF-8 (see percent_escape).
        std::set<std::string> escaped;
        if (auto e = obj.find("escaped_fields"); e != obj.end() && e->is_array())
          for (const json& f : *e)
            if (f.is_string()) escaped.insert(f.get<std::string>());
        auto text = [&](const std::string& field, const json& v) {
          return escaped.count(field) ? percent_unescape(v.get<std::string>(), where) : v.get<std::string>();
        };
        for (auto it = obj.begin(); it != obj.end(); ++it) {
          const std::string& key = it.key();
          const json& v = it.value();
          if (key == "escaped_fields") continue;
          if ((key == "image_path" || key == "url") && v.is_string()) {
            if (item.external_id.empty() || key == "image_path") item.external_id = text(key, v);
          } else if (key == "caption" && v.is_string()) {
            item.caption = text(key, v);
          } else if (key == "content_hash" && v.is_string()) {
            item.content_hash = text(key, v);
          } else if (key == "metadata" && v.is_object()) {
            for (auto m = v.begin(); m != v.end(); ++m) {
              const std::string name =
                  escaped.count("metadata key " + m.key()) ? percent_unescape(m.key(), where) : m.key();
              if (m.value().is_string()) item.metadata[name] = text("metadata." + m.key(), m.value());
              if (m.value().is_number()) item.metadata[name] = m.value().get<double>();
            }
          } else if (key != "id" && v.is_string()) {
            item.metadata[key] = v.get<std::string>();
          } else if (key != "id" && v.is_number()) {
            item.metadata[key] = v.get<double>();
          }
        }
        if (item.external_id.empty())
          throw Error(ErrorCode::kInvalidArgument, where + ": no \"image_path\" or \"url\" field");
        ++r;
      }
      if (r != n)
        throw Error(ErrorCode::kInvalidArgument, "'" + meta_path.string() + "' has " + std::to_string(r) +
                                                     " lines but '" + path.string() + "' has " + std::to_string(n) + " rows");
    } else {
      for (int64_t r = 0; r < n; ++r) items[static_cast<size_t>(r)].external_id = file_name + "#" + std::to_string(r);
    }
    for (int64_t r = 0; r < n; ++r) {
      items[static_cast<size_t>(r)].vectors = values.data() + r * dim;
      items[static_cast<size_t>(r)].n_vectors = 1;
    }
    // Batches of 10k: each is one crash-safe transaction, so an interrupted import resumes.
    constexpr int64_t kBatch = 10'000;
    for (int64_t b = 0; b < n; b += kBatch) {
      std::vector<NewItem> batch(items.begin() + b, items.begin() + std::min(n, b + kBatch));
      add_items(batch);
    }
    total += n;
  }
  return total;
}

}  // namespace cir::index
