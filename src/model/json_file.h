// Private to cir_model: reading a checkpoint's JSON config files (config.json,
// preprocessor_config.json, open_clip_config.json) for both model families.
#pragma once

#include <array>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cir/core.h"

namespace cir::model::detail {

/// The parsed file; kCorrupt naming the file when it is not valid JSON (read errors as
/// read_file_text reports them).
inline nlohmann::json parse_json_file(const std::string& path) {
  const std::string text = read_file_text(path);
  check_json_depth(text, "'" + path + "'");
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::kCorrupt, "'" + path + "' is not valid JSON: " + e.what());
  }
}

/// Typed access to a JSON object's fields; errors (kModel) name the file, the dotted field path,
/// what was expected and what was found.
struct JsonFields {
  const nlohmann::json& obj;
  std::string file;
  std::string prefix;  // "vision_config." etc.

  std::string where(const std::string& key) const { return "'" + file + "' field " + prefix + key; }
  bool has(const std::string& key) const { return obj.is_object() && obj.contains(key) && !obj.at(key).is_null(); }

  [[noreturn]] void wrong_type(const std::string& key, const char* expected) const {
    throw Error(ErrorCode::kModel, where(key) + ": expected " + expected + ", found " + obj.at(key).dump());
  }
  [[noreturn]] void missing(const std::string& key, const char* expected) const {
    throw Error(ErrorCode::kModel, where(key) + " is missing (expected " + expected + ")");
  }

  /// An integer in [1, 2^24], the sizes get_int accepts: no real model is larger, and bigger
  /// values would truncate in get<int>() or overflow the sums and products built from them.
  static bool is_positive_int(const nlohmann::json& v) {
    if (!v.is_number_integer()) return false;
    const int64_t value = v.get<int64_t>();  // past int64 (unsigned) wraps negative: refused
    return value > 0 && value <= (1 << 24);
  }

  /// A positive integer (at most 2^24); without a fallback the field is required.
  int get_int(const std::string& key, std::optional<int> fallback = std::nullopt) const {
    if (!has(key)) {
      if (fallback) return *fallback;
      missing(key, "an integer");
    }
    const nlohmann::json& v = obj.at(key);
    if (!v.is_number_integer()) wrong_type(key, "an integer");
    if (!is_positive_int(v)) wrong_type(key, "a positive integer");
    return v.get<int>();
  }
  double get_number(const std::string& key, double fallback) const {
    if (!has(key)) return fallback;
    if (!obj.at(key).is_number()) wrong_type(key, "a number");
    return obj.at(key).get<double>();
  }
  bool get_bool(const std::string& key, bool fallback) const {
    if (!has(key)) return fallback;
    if (!obj.at(key).is_boolean()) wrong_type(key, "true or false");
    return obj.at(key).get<bool>();
  }
  std::string get_string(const std::string& key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    if (!obj.at(key).is_string()) wrong_type(key, "a string");
    return obj.at(key).get<std::string>();
  }
  std::array<float, 3> get_triple(const std::string& key, const std::array<float, 3>& fallback) const {
    if (!has(key)) return fallback;
    const nlohmann::json& v = obj.at(key);
    if (!v.is_array() || v.size() != 3) wrong_type(key, "an array of 3 numbers");
    std::array<float, 3> out{};
    for (size_t i = 0; i < 3; ++i) {
      if (!v[i].is_number()) wrong_type(key, "an array of 3 numbers");
      out[i] = v[i].get<float>();
    }
    return out;
  }
  /// A required sub-object.
  JsonFields object(const std::string& key) const {
    if (!has(key)) missing(key, "an object");
    if (!obj.at(key).is_object()) wrong_type(key, "an object");
    return JsonFields{obj.at(key), file, prefix + key + "."};
  }
  /// An optional sub-object: absent reads as empty, so every field takes its fallback.
  JsonFields child(const std::string& key) const {
    static const nlohmann::json kEmpty = nlohmann::json::object();
    if (!has(key)) return JsonFields{kEmpty, file, prefix + key + "."};
    return object(key);
  }
};

}  // namespace cir::model::detail
