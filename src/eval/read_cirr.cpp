// CIRR rc2 reader. The split file's keys are the retrieval gallery (README section 1); queries
// come from the captions file. The standard layout (Cuberick-Orion/CIRR) puts annotations in
// <root>/cirr/ and images in <root>/dev/, <root>/test1/, <root>/train/<n>/, which is also the
// shared/benchmarks layout; --root pointing at the inner cirr/ folder is accepted too.
#include <set>

#include "eval/json_io.h"
#include "eval/readers.h"

namespace cir::eval::detail {
namespace {

std::vector<LayoutCandidate> cirr_candidates(std::string_view folder, std::string_view file) {
  const std::string relative = std::string(folder) + "/" + std::string(file);
  return {{"cirr/" + relative, ""}, {relative, "../"}};
}

/// Reads split.rc2.<split>.json: {image name: "./dev/....png"}.
void read_cirr_image_split(const ResolvedFile& file, BenchmarkSplit& out) {
  const Json json = load_json_file(file.path);
  const JsonWhere where{file.path, ""};
  require_object(json, where);
  out.gallery.reserve(json.size());
  for (const auto& [name, path] : json.items()) {
    if (!path.is_string()) throw_field_error(where, name, "a relative image path (string)", json_type_name(path));
    out.gallery.push_back(name);
    out.image_paths[name] = file.base_prefix + strip_dot_slash(path.get<std::string>());
  }
}

std::map<std::string, double> read_soft_targets(const Json& entry, const JsonWhere& where) {
  std::map<std::string, double> soft;
  const auto it = entry.find("target_soft");
  if (it == entry.end()) return soft;
  if (!it->is_object()) throw_field_error(where, "target_soft", "an object {image: score}", json_type_name(*it));
  for (const auto& [name, score] : it->items()) {
    if (!score.is_number()) throw_field_error(where, "target_soft." + name, "a number", json_type_name(score));
    soft[name] = score.get<double>();
  }
  return soft;
}

EvalQuery read_cirr_entry(const Json& entry, size_t index, const std::string& file) {
  JsonWhere where{file, "entry " + std::to_string(index)};
  require_object(entry, where);
  EvalQuery query;
  query.id = std::to_string(require_int(entry, "pairid", where));
  where.entry += " (pairid " + query.id + ")";
  query.reference = require_string(entry, "reference", where);
  // Blank captions (test1 pairid 27098 is " ") are kept: the official pipelines encode them as is.
  query.texts.push_back(require_string(entry, "caption", where));
  const Json& img_set = require_object_field(entry, "img_set", where);
  query.extra["img_set_id"] = std::to_string(require_int(img_set, "id", where));
  query.group = require_id_list(img_set, "members", where);
  if (entry.contains("target_hard")) query.targets.push_back(require_string(entry, "target_hard", where));
  query.soft_targets = read_soft_targets(entry, where);
  return query;
}

}  // namespace

BenchmarkSplit read_cirr(const std::string& root, std::string_view split) {
  const std::string captions_name = "cap.rc2." + std::string(split) + ".json";
  const std::string split_name = "split.rc2." + std::string(split) + ".json";
  const ResolvedFile captions = resolve_file(root, cirr_candidates("captions", captions_name), "CIRR captions file");
  const ResolvedFile image_split =
      resolve_file(root, cirr_candidates("image_splits", split_name), "CIRR image split file");

  BenchmarkSplit out;
  out.benchmark = "cirr";
  out.split = std::string(split);
  read_cirr_image_split(image_split, out);

  const Json json = load_json_file(captions.path);
  if (!json.is_array()) throw_field_error({captions.path, ""}, "", "a JSON list of queries", json_type_name(json));
  std::set<std::string> seen_ids;
  out.queries.reserve(json.size());
  for (size_t i = 0; i < json.size(); ++i) {
    EvalQuery query = read_cirr_entry(json[i], i, captions.path);
    if (!seen_ids.insert(query.id).second)
      throw Error(ErrorCode::kCorrupt, captions.path + ": entry " + std::to_string(i) + ": pairid " + query.id +
                                           " appears twice; pairids must be unique");
    out.queries.push_back(std::move(query));
  }
  return out;
}

}  // namespace cir::eval::detail
