// Text helpers of the readers of outside files: whitespace trimming and CSV records (RFC 4180),
// shared by every reader of outside CSV files: gallery metadata and concept vocabularies. Hand-written (moved from the metadata reader): one record reader is
// thirty lines, less than a dependency (Debian's libcsv is a C callback API for the same job).
#include "cir/core.h"

namespace cir {

std::string trim_space(std::string_view text) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return "";
  return std::string(text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1));
}

std::vector<std::string> parse_csv_record(std::string_view text, size_t& pos, const std::string& what) {
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false, any = false;
  while (pos < text.size()) {
    const char c = text[pos++];
    any = true;
    if (quoted) {
      if (c == '"') {
        if (pos < text.size() && text[pos] == '"') {
          field += '"';
          ++pos;
        } else {
          quoted = false;
        }
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.push_back(std::move(field));
      field.clear();
    } else if (c == '\n') {
      break;
    } else if (c != '\r') {
      field += c;
    }
  }
  if (quoted) throw Error(ErrorCode::kCorrupt, what + ": unterminated quoted field");
  if (any) fields.push_back(std::move(field));
  return fields;
}

}  // namespace cir
