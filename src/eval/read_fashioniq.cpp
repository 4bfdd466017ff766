// FashionIQ reader, one category per split. Standard layout (XiaoxiaoGuo/fashion-iq as used by
// CLIP4Cir and SEARLE): <root>/captions/, <root>/image_splits/, <root>/images/<asin>.png; the
// shared/benchmarks layout has the same tree under <root>/fashioniq/.
#include <filesystem>

#include "eval/json_io.h"
#include "eval/readers.h"

namespace cir::eval::detail {
namespace {

std::vector<LayoutCandidate> fashioniq_candidates(const std::string& relative) {
  return {
      {relative, ""}, {"fashioniq/" + relative, "fashioniq/"}, {"fashionIQ_dataset/" + relative, "fashionIQ_dataset/"}};
}

/// CLIP4Cir and SEARLE load images/<asin>.png; raw downloads are often .jpg. Probe the first
/// gallery image once so the driver gets paths that exist when the images are there.
std::string pick_image_extension(const std::string& root, const std::string& base_prefix,
                                 const std::vector<std::string>& gallery) {
  if (gallery.empty()) return ".png";
  std::error_code ec;
  const std::string stem = join_path(root, base_prefix + "images/" + gallery.front());
  if (!std::filesystem::exists(stem + ".png", ec) && std::filesystem::exists(stem + ".jpg", ec)) return ".jpg";
  return ".png";
}

std::vector<std::string> read_gallery(const std::string& path) {
  const Json json = load_json_file(path);
  const JsonWhere where{path, ""};
  if (!json.is_array()) throw_field_error(where, "", "a JSON list of image ids", json_type_name(json));
  std::vector<std::string> gallery;
  gallery.reserve(json.size());
  for (size_t i = 0; i < json.size(); ++i)
    gallery.push_back(id_from_value(json[i], "[" + std::to_string(i) + "]", where));
  return gallery;
}

EvalQuery read_fashioniq_entry(const Json& entry, size_t index, const std::string& file, std::string_view category) {
  const JsonWhere where{file, "entry " + std::to_string(index)};
  require_object(entry, where);
  EvalQuery query;
  // FashionIQ has no query ids; the position in the category file is stable and unique.
  query.id = std::to_string(index);
  query.reference = require_string(entry, "candidate", where);
  const Json& captions = require_array_field(entry, "captions", where);
  if (captions.size() != 2)
    throw_field_error(where, "captions", "2 captions", std::to_string(captions.size()) + " captions");
  for (size_t c = 0; c < captions.size(); ++c) {
    // Empty captions (1 in shirt val, 2 in toptee val) are kept: the conventions join them as is.
    if (!captions[c].is_string())
      throw_field_error(where, "captions[" + std::to_string(c) + "]", "a string", json_type_name(captions[c]));
    query.texts.push_back(captions[c].get<std::string>());
  }
  if (entry.contains("target")) query.targets.push_back(require_string(entry, "target", where));
  query.extra["category"] = std::string(category);
  return query;
}

}  // namespace

BenchmarkSplit read_fashioniq(const std::string& root, std::string_view category, std::string_view split) {
  const std::string suffix = std::string(category) + "." + std::string(split) + ".json";
  const ResolvedFile captions =
      resolve_file(root, fashioniq_candidates("captions/cap." + suffix), "FashionIQ captions file");
  const ResolvedFile image_split =
      resolve_file(root, fashioniq_candidates("image_splits/split." + suffix), "FashionIQ image split file");

  BenchmarkSplit out;
  out.benchmark = "fashioniq-" + std::string(category);
  out.split = std::string(split);
  out.gallery = read_gallery(image_split.path);

  const Json json = load_json_file(captions.path);
  if (!json.is_array()) throw_field_error({captions.path, ""}, "", "a JSON list of triplets", json_type_name(json));
  out.queries.reserve(json.size());
  for (size_t i = 0; i < json.size(); ++i)
    out.queries.push_back(read_fashioniq_entry(json[i], i, captions.path, category));

  const std::string extension = pick_image_extension(root, captions.base_prefix, out.gallery);
  auto add_path = [&](const std::string& id) {
    out.image_paths.try_emplace(id, captions.base_prefix + "images/" + id + extension);
  };
  for (const std::string& id : out.gallery) add_path(id);
  for (const EvalQuery& query : out.queries) {
    add_path(query.reference);
    for (const std::string& id : query.targets) add_path(id);
  }
  return out;
}

}  // namespace cir::eval::detail
