// Focus-CoIR reader (vectorgrp/ziracle data/focus_coir/queries.jsonl). Each query re-ranks only
// its own 500 labelled candidates; the split's gallery is every image any query touches, so the
// driver can embed them once. Images live in BDD100K's 100k tree; like ZIRACLE's embedder we
// look in train/, test/, val/ in that order.
#include <array>
#include <filesystem>
#include <set>
#include <unordered_set>

#include "eval/json_io.h"
#include "eval/readers.h"

namespace cir::eval::detail {
namespace {

constexpr const char* kBddFolder = "bdd100k/images/100k";
constexpr std::array<const char*, 3> kBddSubsets = {"train", "test", "val"};

std::vector<std::pair<std::string, int>> read_labels(const Json& entry, const JsonWhere& where) {
  const Json& labels = require_array_field(entry, "labels", where);
  std::vector<std::pair<std::string, int>> candidates;
  candidates.reserve(labels.size());
  std::unordered_set<std::string> seen;
  for (size_t i = 0; i < labels.size(); ++i) {
    const Json& pair = labels[i];
    const std::string field = "labels[" + std::to_string(i) + "]";
    if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_number_integer())
      throw_field_error(where, field, "[image file name, label 0|1]", pair.dump().substr(0, 80));
    std::string name = pair[0].get<std::string>();
    if (!seen.insert(name).second)
      throw_field_error(where, field, "each candidate once", "\"" + name + "\" listed again");
    candidates.emplace_back(std::move(name), pair[1].get<int>());
  }
  return candidates;
}

EvalQuery read_focus_entry(const JsonLine& line, const std::string& file) {
  JsonWhere where{file, "line " + std::to_string(line.line_number)};
  require_object(line.value, where);
  EvalQuery query;
  query.id = require_id(line.value, "id", where);
  where.entry += " (id " + query.id + ")";
  query.reference = require_string(line.value, "query_img", where);
  // name_text is the short focusing text the paper's main runs use; desc_text is kept for
  // experiments with the annotators' long description.
  query.texts.push_back(require_string(line.value, "name_text", where));
  if (line.value.contains("desc_text")) query.extra["desc_text"] = require_string(line.value, "desc_text", where);
  query.candidates = read_labels(line.value, where);
  for (const auto& [name, label] : query.candidates)
    if (label >= 1) query.targets.push_back(name);  // ZIRACLE's relevance threshold: label >= 1
  return query;
}

/// bdd100k/images/100k/<subset>/<name> for the first subset holding the file; train/ when the
/// tree is absent or the file is nowhere (the driver then reports the missing image by path).
std::string locate_bdd_image(const std::string& root, const std::string& base_prefix, const std::string& name,
                             bool tree_present) {
  const std::string first = base_prefix + kBddFolder + "/" + kBddSubsets[0] + "/" + name;
  if (!tree_present) return first;
  std::error_code ec;
  for (const char* subset : kBddSubsets) {
    const std::string relative = base_prefix + kBddFolder + "/" + subset + "/" + name;
    if (std::filesystem::exists(join_path(root, relative), ec)) return relative;
  }
  return first;
}

}  // namespace

BenchmarkSplit read_focus_coir(const std::string& root, std::string_view split) {
  const ResolvedFile file = resolve_file(root,
                                         {{"queries.jsonl", ""},
                                          {"data/focus_coir/queries.jsonl", ""},
                                          {"focus_coir/data/focus_coir/queries.jsonl", "focus_coir/"},
                                          {"focus_coir/queries.jsonl", "focus_coir/"}},
                                         "Focus-CoIR queries.jsonl");
  BenchmarkSplit out;
  out.benchmark = "focus-coir";
  out.split = std::string(split);
  std::set<std::string> seen_ids;
  std::unordered_set<std::string> in_gallery;
  auto add_image = [&](const std::string& name) {
    if (in_gallery.insert(name).second) out.gallery.push_back(name);
  };
  for (const JsonLine& line : load_jsonl_file(file.path)) {
    EvalQuery query = read_focus_entry(line, file.path);
    if (!seen_ids.insert(query.id).second)
      throw Error(ErrorCode::kCorrupt, file.path + ": line " + std::to_string(line.line_number) + ": query id " +
                                           query.id + " appears twice");
    add_image(query.reference);
    for (const auto& candidate : query.candidates) add_image(candidate.first);
    out.queries.push_back(std::move(query));
  }
  std::error_code ec;
  const bool tree_present = std::filesystem::is_directory(join_path(root, file.base_prefix + kBddFolder), ec);
  for (const std::string& name : out.gallery)
    out.image_paths[name] = locate_bdd_image(root, file.base_prefix, name, tree_present);
  return out;
}

}  // namespace cir::eval::detail
