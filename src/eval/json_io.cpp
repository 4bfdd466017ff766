#include "eval/json_io.h"

#include <filesystem>
#include <sstream>

#include "cir/core.h"

namespace cir::eval::detail {

Json load_json_file(const std::string& path) {
  const std::string text = read_file_text(path);
  check_json_depth(text, path);
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    // The parser's message carries the byte offset, which is what a user needs to find the typo.
    throw Error(ErrorCode::kCorrupt, path + ": malformed JSON: " + e.what());
  }
}

std::vector<JsonLine> load_jsonl_file(const std::string& path) {
  const std::string text = read_file_text(path);
  std::vector<JsonLine> lines;
  std::istringstream stream(text);
  std::string line;
  int64_t line_number = 0;
  while (std::getline(stream, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    check_json_depth(line, path + ": line " + std::to_string(line_number));
    try {
      lines.push_back({line_number, Json::parse(line)});
    } catch (const Json::parse_error& e) {
      throw Error(ErrorCode::kCorrupt,
                  path + ": line " + std::to_string(line_number) + ": malformed JSON: " + e.what());
    }
  }
  return lines;
}

std::string JsonWhere::describe(std::string_view field) const {
  std::string text = file;
  if (!entry.empty()) text += ": " + entry;
  if (!field.empty()) text += ": field '" + std::string(field) + "'";
  return text;
}

std::string json_type_name(const Json& value) {
  if (value.is_number_integer()) return "integer " + value.dump();
  if (value.is_number()) return "number " + value.dump();
  if (value.is_string()) {
    std::string shown = value.get<std::string>();
    if (shown.size() > 40) shown = shown.substr(0, 40) + "...";
    return "string \"" + shown + "\"";
  }
  return value.type_name();
}

void throw_field_error(const JsonWhere& where, std::string_view field, std::string_view expected,
                       std::string_view found) {
  throw Error(ErrorCode::kCorrupt,
              where.describe(field) + ": expected " + std::string(expected) + ", found " + std::string(found));
}

void require_object(const Json& value, const JsonWhere& where) {
  if (!value.is_object()) throw_field_error(where, "", "a JSON object", json_type_name(value));
}

namespace {

const Json& require_field(const Json& object, std::string_view field, const JsonWhere& where) {
  require_object(object, where);
  auto it = object.find(field);
  if (it == object.end()) throw_field_error(where, field, "the field to be present", "it missing");
  return *it;
}

}  // namespace

const Json& require_array_field(const Json& object, std::string_view field, const JsonWhere& where) {
  const Json& value = require_field(object, field, where);
  if (!value.is_array()) throw_field_error(where, field, "an array", json_type_name(value));
  return value;
}

const Json& require_object_field(const Json& object, std::string_view field, const JsonWhere& where) {
  const Json& value = require_field(object, field, where);
  if (!value.is_object()) throw_field_error(where, field, "an object", json_type_name(value));
  return value;
}

std::string require_string(const Json& object, std::string_view field, const JsonWhere& where) {
  const Json& value = require_field(object, field, where);
  if (!value.is_string()) throw_field_error(where, field, "a string", json_type_name(value));
  return value.get<std::string>();
}

int64_t require_int(const Json& object, std::string_view field, const JsonWhere& where) {
  const Json& value = require_field(object, field, where);
  if (!value.is_number_integer()) throw_field_error(where, field, "an integer", json_type_name(value));
  return value.get<int64_t>();
}

std::string id_from_value(const Json& value, std::string_view field, const JsonWhere& where) {
  if (value.is_number_integer()) return std::to_string(value.get<int64_t>());
  if (value.is_string()) return value.get<std::string>();
  throw_field_error(where, field, "an id (integer or string)", json_type_name(value));
}

std::string require_id(const Json& object, std::string_view field, const JsonWhere& where) {
  return id_from_value(require_field(object, field, where), field, where);
}

std::vector<std::string> require_id_list(const Json& object, std::string_view field, const JsonWhere& where) {
  const Json& array = require_array_field(object, field, where);
  std::vector<std::string> ids;
  ids.reserve(array.size());
  for (size_t i = 0; i < array.size(); ++i)
    ids.push_back(id_from_value(array[i], std::string(field) + "[" + std::to_string(i) + "]", where));
  return ids;
}

std::vector<std::string> require_int_id_list(const Json& object, std::string_view field, const JsonWhere& where) {
  const Json& array = require_array_field(object, field, where);
  std::vector<std::string> ids;
  ids.reserve(array.size());
  for (size_t i = 0; i < array.size(); ++i) {
    if (!array[i].is_number_integer())
      throw_field_error(where, std::string(field) + "[" + std::to_string(i) + "]", "an integer id",
                        json_type_name(array[i]));
    ids.push_back(std::to_string(array[i].get<int64_t>()));
  }
  return ids;
}

std::string join_path(const std::string& root, std::string_view relative) {
  if (root.empty() || root == ".") return std::string(relative);
  if (root.back() == '/') return root + std::string(relative);
  return root + "/" + std::string(relative);
}

std::string strip_dot_slash(std::string_view path) {
  while (path.starts_with("./")) path.remove_prefix(2);
  return std::string(path);
}

ResolvedFile resolve_file(const std::string& root, const std::vector<LayoutCandidate>& candidates,
                          std::string_view what) {
  std::string tried;
  for (const LayoutCandidate& candidate : candidates) {
    const std::string path = join_path(root, candidate.relative_file);
    std::error_code ec;
    if (std::filesystem::is_regular_file(path, ec)) return {path, candidate.base_prefix};
    tried += (tried.empty() ? "" : ", ") + path;
  }
  throw Error(ErrorCode::kNotFound, std::string(what) + " not found under root '" + root + "' (tried " + tried +
                                        "); see docs/benchmarks.md for the expected layout");
}

}  // namespace cir::eval::detail
