// Gallery scanning and metadata sources for ingestion (private to the engine).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cir/index.h"

namespace cir::engine {

/// One image file found under the gallery root.
struct ScannedFile {
  std::string path;         ///< absolute or as given
  std::string external_id;  ///< path relative to the root, '/'-separated: the stable item id
  int64_t size_bytes = 0;
  int64_t mtime_ns = 0;
};

/// Size and mtime of one regular file, its external id relative to `root`; nullopt if it is not
/// a readable regular file.
std::optional<ScannedFile> stat_file(const std::filesystem::path& path, const std::filesystem::path& root);

/// Recursively lists image files under `root` (a directory), or reads `root` as a list file
/// (one path per line, relative to the list's folder unless absolute). Sorted by external id.
/// Returns the root directory that external ids are relative to in `root_dir`; `list_root`
/// overrides a list file's directory as that root.
std::vector<ScannedFile> scan_gallery(const std::string& images, std::string& root_dir, const std::string& list_root = "");

/// Scalar metadata: strings and numbers (JSON numbers and booleans become numbers; CSV cells
/// that parse fully as numbers become numbers).
using Metadata = std::map<std::string, index::MetaValue>;

/// Hidden metadata key (the "cir:" prefix is never shown to users) holding an item's raw feature
/// norm: stored vectors are normalised, but methods such as SEARLE's phi take the unnormalised
/// feature, norm * vector. Written by ingestion, read by the query path.
inline constexpr const char* kFeatureNormKey = "cir:feature_norm";

/// Metadata and caption from the sidecars beside an image: `name.json` (an object of
/// scalar fields; nested values are kept as JSON text) and `name.txt` (the caption).
/// Throws cir::Error naming the sidecar when it is malformed.
void read_sidecars(const std::string& image_path, Metadata& metadata, std::string& caption);

/// Metadata keyed by external id from a CSV (header row; a `path` or `file` column is the
/// key; quoted fields per RFC 4180) or JSONL (`path` or `file` key) file.
std::map<std::string, Metadata> read_metadata_file(const std::string& path);

}  // namespace cir::engine
