// clip-retrieval interoperability: its embedding folder layout (img_emb/img_emb_N.npy, fp16,
// L2-normalised) with our JSON-lines stand-in for its parquet metadata (no parquet dependency).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>

#include <nlohmann/json.hpp>

#include "index/store_impl.h"
#include "index/util.h"

namespace cir::index {

using detail::LiveItem;
using detail::Stmt;
using nlohmann::json;
namespace fs = std::filesystem;

int64_t Store::export_clip_retrieval(const std::string& out_dir) const {
  const Impl& s = *impl_;
  if (s.manifest.vectors_per_item != 1)
    throw Error(ErrorCode::kUnsupported, "export_clip_retrieval: index '" + s.dir + "' keeps " +
                                             std::to_string(s.manifest.vectors_per_item) +
                                             " vectors per item; the clip-retrieval layout holds one");
  std::shared_lock lock(s.mutex);
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
      json obj = {{"image_path", items.col_text(1)}, {"id", id}, {"caption", items.col_text(2)},
                  {"content_hash", items.col_text(3)}, {"metadata", json::object()}};
      while (meta_row && meta.col_int(0) < id) meta_row = meta.step();
      while (meta_row && meta.col_int(0) == id) {
        obj["metadata"][meta.col_text(1)] = meta.col_is_null(2) ? json(meta.col_double(3)) : json(meta.col_text(2));
        meta_row = meta.step();
      }
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
      std::ifstream in(meta_path);
      std::string line;
      int64_t r = 0;
      while (std::getline(in, line)) {
        if (line.empty()) continue;
        std::string where = "'";  // built by appends: GCC 12 misfires -Wrestrict on "'" + string
        where += meta_path.string();
        where += "' line " + std::to_string(r + 1);
        if (r >= n) throw Error(ErrorCode::kInvalidArgument, where + ": more metadata lines than the " + std::to_string(n) + " rows of '" + path.string() + "'");
        json obj;
        try {
          obj = json::parse(line);
        } catch (const json::exception& e) {
          throw Error(ErrorCode::kInvalidArgument, where + ": not valid JSON: " + e.what());
        }
        if (!obj.is_object()) throw Error(ErrorCode::kInvalidArgument, where + ": expected a JSON object");
        NewItem& item = items[static_cast<size_t>(r)];
        for (auto it = obj.begin(); it != obj.end(); ++it) {
          const std::string& key = it.key();
          const json& v = it.value();
          if ((key == "image_path" || key == "url") && v.is_string()) {
            if (item.external_id.empty() || key == "image_path") item.external_id = v.get<std::string>();
          } else if (key == "caption" && v.is_string()) {
            item.caption = v.get<std::string>();
          } else if (key == "content_hash" && v.is_string()) {
            item.content_hash = v.get<std::string>();
          } else if (key == "metadata" && v.is_object()) {
            for (auto m = v.begin(); m != v.end(); ++m) {
              if (m.value().is_string()) item.metadata[m.key()] = m.value().get<std::string>();
              if (m.value().is_number()) item.metadata[m.key()] = m.value().get<double>();
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
