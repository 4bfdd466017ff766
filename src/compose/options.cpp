// Method options arrive as strings (CLI --method-opt key=value, HTTP JSON): parse them in one
// place so every method reports a bad value the same way.
#include <cstdlib>

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

}  // namespace cir::compose::detail
