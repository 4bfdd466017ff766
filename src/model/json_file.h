// Private to cir_model: reading a checkpoint's JSON config files (config.json,
// preprocessor_config.json) for both model families.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "cir/core.h"

namespace cir::model::detail {

/// The parsed file; kCorrupt naming the file when it is not valid JSON (read errors as
/// read_file_text reports them).
inline nlohmann::json parse_json_file(const std::string& path) {
  const std::string text = read_file_text(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::kCorrupt, "'" + path + "' is not valid JSON: " + e.what());
  }
}

}  // namespace cir::model::detail
