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

/// One image file found under the gallery root (or named by a list file).
struct ScannedFile {
  std::string path;         ///< absolute or as given
  std::string external_id;  ///< path relative to the root, '/'-separated: the stable item id
  int64_t size_bytes = 0;
  int64_t mtime_ns = 0;
  /// Why this entry cannot be indexed, found without opening it (a dangling symlink, a symlink
  /// loop, a FIFO, a device, an over-long path, a missing listed file); empty for a regular file.
  /// Ingestion records it as a failure (failures table and failures.jsonl) instead of reading.
  std::string problem;
  /// Reached through a symlink whose target lies outside the gallery root: a failure to read or
  /// decode it is recorded without the decoder's message, which may quote the file's first bytes
  /// (a link to /etc/shadow must not copy its content into failures.jsonl).
  bool outside_root = false;
};

/// Size and mtime of one path, its external id relative to `root`. Symlinks are followed; a path
/// that is not (or does not lead to) a regular file comes back with `problem` set.
ScannedFile stat_file(const std::filesystem::path& path, const std::filesystem::path& root);

/// Where a gallery's items come from, as recorded in the index's gallery.json.
struct GallerySource {
  std::string root;       ///< absolute directory external ids are relative to
  std::string list_file;  ///< absolute path of the list file the index was built from; empty for a directory
};

/// Recursively lists image files under `images` (a directory; symlinks to directories are not
/// followed, so link loops cannot recurse), or reads `images` as a list file (one path per line,
/// relative to `list_root`, default the list's folder, unless absolute). Sorted by external id.
/// Fills `source` with the root and, for a list, the list file's absolute path.
std::vector<ScannedFile> scan_gallery(const std::string& images, GallerySource& source, const std::string& list_root = "");

/// The source recorded in `index_dir`/gallery.json (nullopt without one). Records written before
/// the source was named are classified from their "images" value; kInvalidArgument when that is
/// ambiguous, kCorrupt for a malformed file.
std::optional<GallerySource> read_gallery_source(const std::string& index_dir);

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
