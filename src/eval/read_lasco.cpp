// LaSCo reader. The repository ships lasco_<split>.json (queries) and lasco_<split>_corpus.json
// (the gallery) under downloads/; shared/benchmarks has only the val corpus. Images are matched
// by integer COCO id because the corpus paths carry a "val/" prefix the query paths lack
// (README section 4); a corpus image's path is taken from the corpus file.
#include <set>

#include "eval/json_io.h"
#include "eval/readers.h"

namespace cir::eval::detail {
namespace {

std::vector<LayoutCandidate> lasco_candidates(const std::string& file) {
  return {{file, ""}, {"downloads/" + file, ""}, {"lasco/downloads/" + file, "lasco/"}, {"lasco/" + file, "lasco/"}};
}

/// "query-image" / "target-image": [coco_id, "val2014/COCO_val2014_....jpg"].
std::pair<std::string, std::string> read_image_pair(const Json& entry, std::string_view field, const JsonWhere& where) {
  const Json& pair = require_array_field(entry, field, where);
  if (pair.size() != 2 || !pair[0].is_number_integer() || !pair[1].is_string())
    throw_field_error(where, field, "[coco_id (integer), path (string)]", pair.dump().substr(0, 80));
  return {std::to_string(pair[0].get<int64_t>()), pair[1].get<std::string>()};
}

void read_corpus(const ResolvedFile& file, BenchmarkSplit& out) {
  const Json json = load_json_file(file.path);
  if (!json.is_array()) throw_field_error({file.path, ""}, "", "a JSON list of {id, path}", json_type_name(json));
  out.gallery.reserve(json.size());
  for (size_t i = 0; i < json.size(); ++i) {
    const JsonWhere where{file.path, "entry " + std::to_string(i)};
    const std::string id = std::to_string(require_int(json[i], "id", where));
    if (!out.image_paths.emplace(id, file.base_prefix + require_string(json[i], "path", where)).second)
      throw Error(ErrorCode::kCorrupt, where.describe("id") + ": image id " + id + " appears twice in the corpus");
    out.gallery.push_back(id);
  }
}

}  // namespace

BenchmarkSplit read_lasco(const std::string& root, std::string_view split) {
  const std::string stem = "lasco_" + std::string(split);
  // The corpus is resolved first: it is the file shared/benchmarks has, so a missing query
  // file is reported after we know the layout is otherwise right.
  const ResolvedFile corpus = resolve_file(root, lasco_candidates(stem + "_corpus.json"), "LaSCo corpus file");
  const ResolvedFile queries =
      resolve_file(root, lasco_candidates(stem + ".json"),
                   "LaSCo query file (" + stem + ".json, from the LaSCo repository's downloads/)");
  BenchmarkSplit out;
  out.benchmark = "lasco";
  out.split = std::string(split);
  read_corpus(corpus, out);

  const Json json = load_json_file(queries.path);
  if (!json.is_array()) throw_field_error({queries.path, ""}, "", "a JSON list of queries", json_type_name(json));
  std::set<std::string> seen_ids;
  for (size_t i = 0; i < json.size(); ++i) {
    JsonWhere where{queries.path, "entry " + std::to_string(i)};
    require_object(json[i], where);
    EvalQuery query;
    query.id = require_id(json[i], "qid", where);
    where.entry += " (qid " + query.id + ")";
    if (!seen_ids.insert(query.id).second)
      throw Error(ErrorCode::kCorrupt, where.describe("qid") + ": qid appears twice");
    auto [reference, reference_path] = read_image_pair(json[i], "query-image", where);
    query.reference = reference;
    out.image_paths.try_emplace(reference, queries.base_prefix + reference_path);
    query.texts.push_back(require_string(json[i], "query-text", where));
    if (json[i].contains("target-image")) {
      auto [target, target_path] = read_image_pair(json[i], "target-image", where);
      out.image_paths.try_emplace(target, queries.base_prefix + target_path);
      query.targets.push_back(target);
    }
    out.queries.push_back(std::move(query));
  }
  return out;
}

}  // namespace cir::eval::detail
