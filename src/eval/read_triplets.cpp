// Custom-domain triplets: the smallest format that carries a composed query, so users can score
// cir on their own data with the same harness. One JSON object per line:
//   {"id": "q1", "reference": "shoes/a.jpg", "text": "in red", "targets": ["shoes/b.jpg"]}
// "texts" (a list) may replace "text"; "target" (one string) may replace "targets"; "id" defaults
// to the query's position. Image ids are paths relative to the file's folder.
#include <filesystem>
#include <set>
#include <sstream>
#include <unordered_set>

#include "eval/json_io.h"
#include "eval/readers.h"

namespace cir::eval::detail {
namespace {

std::vector<std::string> read_texts(const Json& entry, const JsonWhere& where) {
  if (entry.contains("text")) return {require_string(entry, "text", where)};
  std::vector<std::string> texts = require_id_list(entry, "texts", where);
  if (texts.empty()) throw_field_error(where, "texts", "at least one text", "an empty list");
  return texts;
}

std::vector<std::string> read_targets(const Json& entry, const JsonWhere& where) {
  if (entry.contains("target")) return {require_string(entry, "target", where)};
  if (entry.contains("targets")) return require_id_list(entry, "targets", where);
  return {};
}

EvalQuery read_triplet(const JsonLine& line, size_t index, const std::string& file) {
  JsonWhere where{file, "line " + std::to_string(line.line_number)};
  require_object(line.value, where);
  EvalQuery query;
  query.id = line.value.contains("id") ? require_id(line.value, "id", where) : std::to_string(index);
  query.reference = require_string(line.value, "reference", where);
  query.texts = read_texts(line.value, where);
  query.targets = read_targets(line.value, where);
  return query;
}

std::vector<std::string> read_gallery_list(const std::string& path) {
  std::istringstream stream(read_file_text(path));
  std::vector<std::string> gallery;
  std::unordered_set<std::string> seen;
  std::string line;
  while (std::getline(stream, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.front() == '#') continue;
    if (seen.insert(line).second) gallery.push_back(line);
  }
  return gallery;
}

}  // namespace
}  // namespace cir::eval::detail

namespace cir::eval {

using detail::JsonLine;

BenchmarkSplit read_triplets(const std::string& path) {
  BenchmarkSplit out;
  out.benchmark = "triplets";
  out.split = std::filesystem::path(path).stem().string();
  std::set<std::string> seen_ids;
  const std::vector<JsonLine> lines = detail::load_jsonl_file(path);
  for (size_t i = 0; i < lines.size(); ++i) {
    EvalQuery query = detail::read_triplet(lines[i], i, path);
    if (!seen_ids.insert(query.id).second)
      throw Error(ErrorCode::kCorrupt, path + ": line " + std::to_string(lines[i].line_number) + ": query id '" +
                                           query.id + "' appears twice");
    out.queries.push_back(std::move(query));
  }
  const std::string gallery_file = (std::filesystem::path(path).parent_path() / "gallery.txt").string();
  std::error_code ec;
  if (std::filesystem::is_regular_file(gallery_file, ec)) {
    out.gallery = detail::read_gallery_list(gallery_file);
  } else {
    std::unordered_set<std::string> seen;
    auto add = [&](const std::string& id) {
      if (seen.insert(id).second) out.gallery.push_back(id);
    };
    for (const EvalQuery& query : out.queries) {
      add(query.reference);
      for (const std::string& id : query.targets) add(id);
    }
  }
  for (const std::string& id : out.gallery) out.image_paths[id] = id;
  for (const EvalQuery& query : out.queries) {
    out.image_paths.try_emplace(query.reference, query.reference);
    for (const std::string& id : query.targets) out.image_paths.try_emplace(id, id);
  }
  return out;
}

}  // namespace cir::eval

namespace cir::eval::detail {

BenchmarkSplit read_triplets_split(const std::string& root, std::string_view split) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(root, ec)) {
    BenchmarkSplit out = read_triplets(root);
    out.split = std::string(split);
    return out;
  }
  const ResolvedFile file = resolve_file(root, {{std::string(split) + ".jsonl", ""}}, "triplet file");
  BenchmarkSplit out = read_triplets(file.path);
  out.split = std::string(split);
  return out;
}

}  // namespace cir::eval::detail
