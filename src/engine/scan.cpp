#include "scan.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "cir/core.h"
#include "cir/image.h"
#include "cir/regular_file.h"

namespace cir::engine {
namespace fs = std::filesystem;

namespace {

// Linux's PATH_MAX: a longer path cannot be opened by name at all.
constexpr size_t kMaxPathBytes = 4096;

std::string too_long(const fs::path& p, const char* what) {
  return std::string(what) + " path is " + std::to_string(p.native().size()) + " bytes, longer than the system limit (" +
         std::to_string(kMaxPathBytes) + ")";
}

// The canonical form of the gallery root, for "does this symlink lead out of it" checks.
fs::path canonical_root(const fs::path& root) {
  std::error_code ec;
  fs::path c = fs::canonical(root, ec);
  return ec ? root : c;
}

bool is_within(const fs::path& p, const fs::path& root) {
  const std::string rel = p.lexically_relative(root).generic_string();
  return !rel.empty() && rel != ".." && rel.rfind("../", 0) != 0;
}

// What a symlink leads to, when it is not a regular file (its target already stat()ed failed or
// is something else); empty when it is fine.
std::string link_problem(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0)
    return S_ISREG(st.st_mode) ? "" : "symbolic link to a " + std::string(file_type_name(st.st_mode)) + ", not a regular file";
  if (errno == ENOENT) return "dangling symbolic link (its target does not exist)";
  if (errno == ELOOP) return "symbolic link loop (too many levels of symbolic links)";
  return std::string("symbolic link cannot be followed: ") + std::strerror(errno);
}

ScannedFile stat_under(const fs::path& path, const fs::path& root, const fs::path& real_root) {
  ScannedFile f;
  f.path = path.string();
  f.external_id = path.lexically_relative(root).generic_string();
  if (path.native().size() >= kMaxPathBytes) {
    f.problem = too_long(path, "file");
    return f;
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    f.problem = errno == ENOENT ? "file does not exist" : std::string("cannot stat: ") + std::strerror(errno);
    return f;
  }
  if (S_ISLNK(st.st_mode)) {
    f.problem = link_problem(path);
    if (!f.problem.empty() || ::stat(path.c_str(), &st) != 0) return f;
  } else if (!S_ISREG(st.st_mode)) {
    f.problem = std::string(file_type_name(st.st_mode)) + ", not a regular file";
    return f;
  }
  // A link anywhere on the path (the file or a directory above it) may lead out of the gallery.
  std::error_code ec;
  const fs::path real = fs::canonical(path, ec);
  f.outside_root = ec || !is_within(real, real_root);
  f.size_bytes = st.st_size;
  f.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  return f;
}

ScannedFile directory_problem(const fs::path& dir, const fs::path& root, std::string problem) {
  ScannedFile f;
  f.path = dir.string();
  f.external_id = dir.lexically_relative(root).generic_string();
  f.problem = std::move(problem);
  return f;
}

// Depth-first walk that never follows directory symlinks (no loops) and reports what it cannot
// enter instead of skipping it silently.
void walk_directory(const fs::path& dir, const fs::path& root, const fs::path& real_root, std::vector<ScannedFile>& files) {
  if (dir.native().size() >= kMaxPathBytes) {
    files.push_back(directory_problem(dir, root, too_long(dir, "directory") + ": not scanned"));
    return;
  }
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    if (dir == root) throw Error(ErrorCode::kIo, "cannot scan '" + root.string() + "': " + ec.message());
    files.push_back(directory_problem(dir, root, "cannot list directory: " + ec.message()));
    return;
  }
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const fs::path& p = it->path();
    std::error_code type_ec;
    const fs::file_status status = it->symlink_status(type_ec);
    if (type_ec) {
      // Unknown type (ENAMETOOLONG past 4096 bytes, above all): possibly a directory of images.
      files.push_back(directory_problem(
          p, root, p.native().size() >= kMaxPathBytes ? too_long(p, "entry") + ": not scanned" : "cannot stat: " + type_ec.message()));
    } else if (fs::is_directory(status)) {
      walk_directory(p, root, real_root, files);
    } else if (image::has_image_extension(p.string())) {
      files.push_back(stat_under(p, root, real_root));
    }
  }
  if (ec) files.push_back(directory_problem(dir, root, "listing stopped: " + ec.message()));
}

std::vector<ScannedFile> scan_directory(const fs::path& root) {
  std::vector<ScannedFile> files;
  walk_directory(root, root, canonical_root(root), files);
  return files;
}

std::vector<ScannedFile> scan_list_file(const fs::path& list, const fs::path& root) {
  const std::string text = read_file_text(list.string());
  const fs::path real_root = canonical_root(root);
  std::vector<ScannedFile> files;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    fs::path p(line);
    if (p.is_relative()) p = root / p;
    // Listed but unusable (missing, a FIFO...): kept so ingestion reports it instead of hiding it.
    ScannedFile f = stat_under(p.lexically_normal(), root, real_root);
    if (f.problem == "file does not exist") f.problem = "listed file does not exist";
    files.push_back(std::move(f));
  }
  return files;
}

}  // namespace

ScannedFile stat_file(const fs::path& path, const fs::path& root) { return stat_under(path, root, canonical_root(root)); }

namespace {

index::MetaValue meta_from_json(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number()) return v.get<double>();
  if (v.is_boolean()) return v.get<bool>() ? 1.0 : 0.0;
  return v.dump();  // nested values are kept as their JSON text
}

index::MetaValue meta_from_text(const std::string& s) {
  if (!s.empty()) {
    char* end = nullptr;
    const double d = std::strtod(s.c_str(), &end);
    if (end && *end == '\0') return d;
  }
  return s;
}

std::map<std::string, Metadata> read_metadata_csv(const std::string& path, const std::string& text) {
  size_t pos = 0;
  const auto header = parse_csv_record(text, pos, "metadata file '" + path + "'");
  auto key_col = std::find_if(header.begin(), header.end(), [](const std::string& h) { return h == "path" || h == "file"; });
  if (key_col == header.end())
    throw Error(ErrorCode::kInvalidArgument, "metadata file '" + path + "': header needs a 'path' or 'file' column");
  const size_t key_index = static_cast<size_t>(key_col - header.begin());
  std::map<std::string, Metadata> out;
  int line = 1;
  while (pos < text.size()) {
    ++line;
    const auto rec = parse_csv_record(text, pos, "metadata file '" + path + "'");
    if (rec.empty() || (rec.size() == 1 && rec[0].empty())) continue;
    if (rec.size() != header.size())
      throw Error(ErrorCode::kCorrupt, "metadata file '" + path + "' line " + std::to_string(line) + ": " +
                                           std::to_string(rec.size()) + " fields, header has " + std::to_string(header.size()));
    Metadata md;
    for (size_t i = 0; i < rec.size(); ++i)
      if (i != key_index) md[header[i]] = meta_from_text(rec[i]);
    out[rec[key_index]] = std::move(md);
  }
  return out;
}

std::map<std::string, Metadata> read_metadata_jsonl(const std::string& path, const std::string& text) {
  std::map<std::string, Metadata> out;
  size_t start = 0;
  int line = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string row = text.substr(start, end - start);
    start = end + 1;
    ++line;
    if (row.find_first_not_of(" \t\r") == std::string::npos) continue;
    const auto j = nlohmann::json::parse(row, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      throw Error(ErrorCode::kCorrupt, "metadata file '" + path + "' line " + std::to_string(line) + ": not a JSON object");
    const auto key = j.contains("path") ? j["path"] : (j.contains("file") ? j["file"] : nlohmann::json());
    if (!key.is_string())
      throw Error(ErrorCode::kInvalidArgument,
                  "metadata file '" + path + "' line " + std::to_string(line) + ": needs a string 'path' or 'file'");
    Metadata md;
    for (const auto& [k, v] : j.items())
      if (k != "path" && k != "file") md[k] = meta_from_json(v);
    out[key.get<std::string>()] = std::move(md);
  }
  return out;
}

}  // namespace

std::vector<ScannedFile> scan_gallery(const std::string& images, GallerySource& source, const std::string& list_root) {
  const fs::path p(images);
  std::error_code ec;
  std::vector<ScannedFile> files;
  source = {};
  if (fs::is_directory(p, ec)) {
    source.root = fs::absolute(p).lexically_normal().string();
    files = scan_directory(source.root);
  } else if (fs::is_regular_file(p, ec)) {
    const fs::path list = fs::absolute(p).lexically_normal();
    source.list_file = list.string();
    source.root = (list_root.empty() ? list.parent_path() : fs::absolute(list_root).lexically_normal()).string();
    files = scan_list_file(list, source.root);
  } else {
    throw Error(ErrorCode::kNotFound, "--images '" + images + "' is neither a directory nor a list file");
  }
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.external_id < b.external_id; });
  return files;
}

void read_sidecars(const std::string& image_path, Metadata& metadata, std::string& caption) {
  fs::path base(image_path);
  base.replace_extension();
  const std::string json_path = base.string() + ".json";
  const std::string txt_path = base.string() + ".txt";
  std::error_code ec;
  if (fs::is_regular_file(json_path, ec)) {
    const auto j = nlohmann::json::parse(read_file_text(json_path), nullptr, false);
    if (j.is_discarded() || !j.is_object())
      throw Error(ErrorCode::kCorrupt, "sidecar '" + json_path + "' is not a JSON object");
    for (const auto& [k, v] : j.items()) metadata[k] = meta_from_json(v);
    if (j.contains("caption") && j["caption"].is_string()) caption = j["caption"].get<std::string>();
  }
  if (fs::is_regular_file(txt_path, ec)) {
    caption = read_file_text(txt_path);
    while (!caption.empty() && (caption.back() == '\n' || caption.back() == '\r' || caption.back() == ' '))
      caption.pop_back();
  }
}

std::map<std::string, Metadata> read_metadata_file(const std::string& path) {
  const std::string text = read_file_text(path);
  const bool jsonl = path.size() >= 6 && (path.ends_with(".jsonl") || path.ends_with(".json"));
  return jsonl ? read_metadata_jsonl(path, text) : read_metadata_csv(path, text);
}

}  // namespace cir::engine
