// Private helpers of cir_eval: loading annotation files and reading typed fields with error
// messages that name the file, the entry and the field, plus locating files in the layouts we
// accept. Only src/eval includes this (JSON types stay out of the public header).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace cir::eval::detail {

// ordered_json keeps object keys in file order, so galleries and submissions keep their order.
using Json = nlohmann::ordered_json;

/// Parses a whole JSON file; kNotFound/kIo from the read, kCorrupt with the parser's position.
Json load_json_file(const std::string& path);

/// One parsed line of a JSON Lines file with its 1-based line number (blank lines skipped).
struct JsonLine {
  int64_t line_number = 0;
  Json value;
};
std::vector<JsonLine> load_jsonl_file(const std::string& path);

/// Where a value sits, for messages: "<file>: <entry>" (entry like "entry 12 (pairid 3456)").
struct JsonWhere {
  std::string file;
  std::string entry;
  std::string describe(std::string_view field) const;
};

/// The JSON type name of a value ("string", "number", "array", ...), for messages.
std::string json_type_name(const Json& value);

/// Throws kCorrupt "<file>: <entry>: field '<field>': expected <expected>, found <found>".
[[noreturn]] void throw_field_error(const JsonWhere& where, std::string_view field, std::string_view expected,
                                    std::string_view found);

/// Requires `value` to be an object / array; kCorrupt otherwise.
void require_object(const Json& value, const JsonWhere& where);
const Json& require_array_field(const Json& object, std::string_view field, const JsonWhere& where);
const Json& require_object_field(const Json& object, std::string_view field, const JsonWhere& where);
/// A required string field.
std::string require_string(const Json& object, std::string_view field, const JsonWhere& where);
/// A required integer field.
int64_t require_int(const Json& object, std::string_view field, const JsonWhere& where);
/// An image or query id given as an integer or a string, returned as a string.
std::string require_id(const Json& object, std::string_view field, const JsonWhere& where);
/// Element `index` of an array as an id (int or string); `field` names the array in messages.
std::string id_from_value(const Json& value, std::string_view field, const JsonWhere& where);
/// A list of ids ([int|str]); kCorrupt naming the bad element.
std::vector<std::string> require_id_list(const Json& object, std::string_view field, const JsonWhere& where);
/// A list of integer ids (COCO ids), returned as decimal strings; kCorrupt naming the bad element.
std::vector<std::string> require_int_id_list(const Json& object, std::string_view field, const JsonWhere& where);

/// One place a benchmark's annotation file may sit under --root, and where that layout puts the
/// dataset's own root (images are addressed relative to it).
struct LayoutCandidate {
  std::string relative_file;  ///< annotation file relative to --root
  std::string base_prefix;    ///< prefix from --root to the dataset root ("", "circo/", "../")
};

/// The first candidate whose file exists under `root`.
struct ResolvedFile {
  std::string path;         ///< root + "/" + relative_file
  std::string base_prefix;  ///< copied from the matching candidate
};

/// Finds the first existing candidate; kNotFound naming `what` and every path tried.
ResolvedFile resolve_file(const std::string& root, const std::vector<LayoutCandidate>& candidates,
                          std::string_view what);

/// root + "/" + relative (root "" or "." keeps relative as is).
std::string join_path(const std::string& root, std::string_view relative);

/// Drops a leading "./" from a relative path ("./dev/x.png" -> "dev/x.png").
std::string strip_dot_slash(std::string_view path);

}  // namespace cir::eval::detail
