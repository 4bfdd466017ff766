// Loading and matching shapes-world queries for ground-truth marking.
#include "ground_truth.h"

#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cir/core.h"

namespace cir::server {
namespace {

std::string stem_of(const std::string& id) {
  return std::filesystem::path(id).stem().string();
}

std::string key_of(const std::string& reference, const std::string& text) {
  return stem_of(reference) + "\n" + trim_space(text);
}

std::string string_field(const nlohmann::json& j, const char* a, const char* b) {
  if (j.contains(a) && j[a].is_string()) return j[a].get<std::string>();
  if (j.contains(b) && j[b].is_string()) return j[b].get<std::string>();
  return "";
}

}  // namespace

void GroundTruth::load(const std::string& path) {
  // read_file_text opens through RegularFile: a FIFO or directory fails at once, naming the path.
  std::istringstream in(read_file_text(path));
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (trim_space(line).empty()) continue;
    const std::string where = "'" + path + "' line " + std::to_string(line_no);
    check_json_depth(line, where);
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw Error(ErrorCode::kCorrupt, where + " is not a JSON object");
    const std::string reference = string_field(j, "reference", "reference_id");
    const std::string text = string_field(j, "text", "text");
    if (reference.empty()) throw Error(ErrorCode::kCorrupt, where + " has no 'reference' (or 'reference_id')");
    GroundTruthQuery q;
    q.query_id = string_field(j, "id", "id");
    const char* targets_key = j.contains("targets") ? "targets" : "target_ids";
    if (j.contains(targets_key) && j[targets_key].is_array())
      for (const auto& t : j[targets_key])
        if (t.is_string()) q.targets.insert(stem_of(t.get<std::string>()));
    queries_[key_of(reference, text)] = std::move(q);
  }
}

std::optional<GroundTruthQuery> GroundTruth::find(const std::string& reference_id, const std::string& text) const {
  auto it = queries_.find(key_of(reference_id, text));
  if (it == queries_.end()) return std::nullopt;
  return it->second;
}

bool GroundTruth::is_target(const GroundTruthQuery& q, const std::string& external_id) {
  return q.targets.count(stem_of(external_id)) > 0;
}

}  // namespace cir::server
