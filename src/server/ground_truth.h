// Ground truth of a shapes-world query split (queries/<split>.jsonl), so the web page can mark
// the targets of a (reference, text) pair while browsing a benchmark split.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace cir::server {

/// The query a (reference, text) pair matches, with its target ids.
struct GroundTruthQuery {
  std::string query_id;
  std::set<std::string> targets;  ///< scene ids (file stems)
};

/// Lookup of queries by reference scene id and modification text.
class GroundTruth {
 public:
  /// Loads a queries JSONL (fields id, reference|reference_id, text, targets|target_ids);
  /// kNotFound / kCorrupt naming the file and line.
  void load(const std::string& path);
  bool empty() const { return queries_.empty(); }
  size_t size() const { return queries_.size(); }
  /// The query whose reference is `reference_id` (compared by file stem, so "s1.png" matches
  /// scene "s1") and whose text equals `text` (surrounding whitespace ignored).
  std::optional<GroundTruthQuery> find(const std::string& reference_id, const std::string& text) const;
  /// True when the item `external_id` (by stem) is one of `q`'s targets.
  static bool is_target(const GroundTruthQuery& q, const std::string& external_id);

 private:
  std::map<std::string, GroundTruthQuery> queries_;  ///< key: stem + '\n' + trimmed text
};

}  // namespace cir::server
