// The nesting bound on outside JSON. Written by hand because the check must run before any
// parser builds (or recursively walks) a tree: nlohmann's parser callback would also see the
// depth, but not every reader of outside JSON in cir goes through one parse call.
#include <string>

#include "cir/core.h"

namespace cir {

void check_json_depth(std::string_view text, std::string_view source, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;  // the escaped character cannot end the string
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth)
        throw Error(ErrorCode::kInvalidArgument, std::string(source) + ": JSON nested deeper than " +
                                                     std::to_string(max_depth) + " levels (the limit), at byte " +
                                                     std::to_string(i));
    } else if (c == ']' || c == '}') {
      if (depth > 0) --depth;
    }
  }
}

}  // namespace cir
