// Method options arrive as strings (CLI --method-opt key=value, HTTP JSON): parse them in one
// place so every method reports a bad value the same way.
#include <cstdlib>
#include <filesystem>

#include "cir/model.h"

#include "compose/methods.h"

namespace cir::compose::detail {

std::optional<std::string> find_option(const ComposeContext& context, const std::string& name) {
  const auto it = context.options.find(name);
  if (it == context.options.end()) return std::nullopt;
  return it->second;
}

std::string require_option(const ComposeContext& context, const std::string& method, const std::string& name,
                           const std::string& what) {
  auto value = find_option(context, name);
  if (!value || value->empty())
    throw Error(ErrorCode::kInvalidArgument, "method '" + method + "' needs option '" + name + "' (" + what +
                                                 "): pass --method-opt " + name + "=<value>");
  return *value;
}

std::string head_option(const ComposeContext& context, const std::string& method, const std::string& name,
                        const std::string& default_file, const std::string& what) {
  if (auto value = find_option(context, name); value && !value->empty()) return *value;
  std::string looked_at;
  if (context.model) {
    const std::filesystem::path model_dir(context.model->spec().path);
    const std::filesystem::path shipped = model_dir / "heads" / default_file;
    if (std::filesystem::is_directory(model_dir) && std::filesystem::exists(shipped)) return shipped.string();
    looked_at = " (no " + shipped.string() + " either)";
  }
  throw Error(ErrorCode::kInvalidArgument, "method '" + method + "' needs option '" + name + "' (" + what +
                                               "): pass --method-opt " + name + "=<value>" + looked_at);
}

double number_option(const ComposeContext& context, const std::string& method, const std::string& name,
                     double default_value) {
  const auto value = find_option(context, name);
  if (!value) return default_value;
  char* end = nullptr;
  const double x = std::strtod(value->c_str(), &end);
  if (value->empty() || end != value->c_str() + value->size())
    throw Error(ErrorCode::kInvalidArgument,
                "method '" + method + "': option '" + name + "' must be a number, found '" + *value + "'");
  return x;
}

bool bool_option(const ComposeContext& context, const std::string& method, const std::string& name, bool default_value) {
  const auto value = find_option(context, name);
  if (!value) return default_value;
  for (const char* yes : {"1", "true", "yes", "on"})
    if (*value == yes) return true;
  for (const char* no : {"0", "false", "no", "off"})
    if (*value == no) return false;
  throw Error(ErrorCode::kInvalidArgument,
              "method '" + method + "': option '" + name + "' must be 1/0 (true/false, yes/no, on/off), found '" + *value + "'");
}

}  // namespace cir::compose::detail
