// CIRCO reader. Queries come from annotations/<split>.json; the gallery is COCO 2017 unlabeled,
// listed by COCO2017_unlabeled/annotations/image_info_unlabeled2017.json (the CIRCO repo's
// layout). That list is not part of the CIRCO repository: without it the image folder is listed,
// and with neither the gallery is left empty and scoring skips the membership check.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>

#include "eval/json_io.h"
#include "eval/readers.h"

namespace cir::eval::detail {
namespace {

constexpr const char* kImageInfo = "COCO2017_unlabeled/annotations/image_info_unlabeled2017.json";
constexpr const char* kImageFolder = "COCO2017_unlabeled/unlabeled2017";

/// COCO's file name for an id: 12-digit zero-padded.
std::string coco_file_name(const std::string& id) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%012lld.jpg", std::stoll(id));
  return buffer;
}

std::string join_list(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

EvalQuery read_circo_entry(const Json& entry, size_t index, const std::string& file) {
  JsonWhere where{file, "entry " + std::to_string(index)};
  require_object(entry, where);
  EvalQuery query;
  query.id = std::to_string(require_int(entry, "id", where));
  where.entry += " (id " + query.id + ")";
  query.reference = std::to_string(require_int(entry, "reference_img_id", where));
  query.texts.push_back(require_string(entry, "relative_caption", where));
  query.extra["shared_concept"] = require_string(entry, "shared_concept", where);
  if (entry.contains("gt_img_ids")) {
    // Kept exactly as annotated: the official AP divides by len(gt_img_ids).
    query.targets = require_int_id_list(entry, "gt_img_ids", where);
    // The official Recall@K looks for target_img_id only (README: always gt_img_ids[0]).
    query.extra["target_img_id"] = std::to_string(require_int(entry, "target_img_id", where));
  }
  if (entry.contains("semantic_aspects"))
    query.extra["semantic_aspects"] = join_list(require_id_list(entry, "semantic_aspects", where));
  return query;
}

/// Gallery from image_info_unlabeled2017.json when present ({"images": [{id, file_name}]}).
bool read_coco_image_info(const std::string& root, const std::string& base_prefix, BenchmarkSplit& out) {
  const std::string path = join_path(root, base_prefix + kImageInfo);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  const Json json = load_json_file(path);
  const JsonWhere where{path, ""};
  const Json& images = require_array_field(json, "images", where);
  out.gallery.reserve(images.size());
  for (size_t i = 0; i < images.size(); ++i) {
    const JsonWhere item{path, "images[" + std::to_string(i) + "]"};
    const std::string id = std::to_string(require_int(images[i], "id", item));
    out.gallery.push_back(id);
    out.image_paths[id] = base_prefix + kImageFolder + "/" + require_string(images[i], "file_name", item);
  }
  return true;
}

/// Without COCO's image list, the downloaded folder itself (<12-digit id>.jpg files) is the
/// gallery, sorted by id so every run sees the same order.
bool list_coco_image_folder(const std::string& root, const std::string& base_prefix, BenchmarkSplit& out) {
  const std::string folder = join_path(root, base_prefix + kImageFolder);
  std::error_code ec;
  if (!std::filesystem::is_directory(folder, ec)) return false;
  std::vector<std::pair<int64_t, std::string>> images;
  for (const auto& entry : std::filesystem::directory_iterator(folder, ec)) {
    const std::filesystem::path& path = entry.path();
    const std::string stem = path.stem().string();
    if (path.extension() != ".jpg" || stem.empty() || stem.find_first_not_of("0123456789") != std::string::npos ||
        stem.size() > 18)
      continue;
    images.emplace_back(std::stoll(stem), path.filename().string());
  }
  if (ec) throw Error(ErrorCode::kIo, "cannot list " + folder + ": " + ec.message());
  std::sort(images.begin(), images.end());
  for (const auto& [id, file_name] : images) {
    out.gallery.push_back(std::to_string(id));
    out.image_paths[out.gallery.back()] = base_prefix + kImageFolder + "/" + file_name;
  }
  return true;
}

}  // namespace

BenchmarkSplit read_circo(const std::string& root, std::string_view split) {
  const std::string name = std::string(split) + ".json";
  const ResolvedFile annotations = resolve_file(
      root, {{"annotations/" + name, ""}, {"circo/annotations/" + name, "circo/"}}, "CIRCO annotation file");

  BenchmarkSplit out;
  out.benchmark = "circo";
  out.split = std::string(split);
  if (!read_coco_image_info(root, annotations.base_prefix, out))
    list_coco_image_folder(root, annotations.base_prefix, out);

  const Json json = load_json_file(annotations.path);
  if (!json.is_array()) throw_field_error({annotations.path, ""}, "", "a JSON list of queries", json_type_name(json));
  std::set<std::string> seen_ids;
  for (size_t i = 0; i < json.size(); ++i) {
    EvalQuery query = read_circo_entry(json[i], i, annotations.path);
    if (!seen_ids.insert(query.id).second)
      throw Error(ErrorCode::kCorrupt,
                  annotations.path + ": entry " + std::to_string(i) + ": query id " + query.id + " appears twice");
    out.queries.push_back(std::move(query));
  }
  // Without the COCO list, still give the driver paths for every image the annotations name.
  for (const EvalQuery& query : out.queries) {
    out.image_paths.try_emplace(query.reference, "");
    for (const std::string& id : query.targets) out.image_paths.try_emplace(id, "");
  }
  for (auto& [id, path] : out.image_paths)
    if (path.empty()) path = annotations.base_prefix + kImageFolder + "/" + coco_file_name(id);
  return out;
}

}  // namespace cir::eval::detail
