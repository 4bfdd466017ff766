#include "text/html_unescape.h"

#include <algorithm>
#include <iterator>
#include <optional>
#include <string_view>

#include "text/windows_1252.h"

namespace cir::text::detail {
namespace {

constexpr uint8_t kEntitySemicolon = 1;  // "&name;" is an HTML5 reference
constexpr uint8_t kEntityLegacy = 2;     // "&name" without ';' is also accepted by html.unescape
constexpr uint8_t kEntityFtfyUpper = 4;  // ftfy's all-caps alias, only in ftfy's unescape_html

struct HtmlEntity {
  const char* name;
  const char* value;
  uint8_t flags;
};

constexpr HtmlEntity kEntities[] = {
#include "text/html_entities.inc"
};

// The longest name is 31 characters; html.unescape looks at up to 32.
constexpr size_t kMaxNamedLength = 32;
constexpr size_t kMaxFtfyEntityLength = 24;

// Looks a name up (ASCII code points only; anything else cannot be a name).
const HtmlEntity* find_entity(const char32_t* begin, const char32_t* end, uint8_t need_flags) {
  const size_t n = static_cast<size_t>(end - begin);
  if (n == 0 || n > kMaxNamedLength) return nullptr;
  char name[kMaxNamedLength + 1];
  for (size_t i = 0; i < n; ++i) {
    if (begin[i] >= 0x80) return nullptr;
    name[i] = static_cast<char>(begin[i]);
  }
  const std::string_view key(name, n);
  const auto* it =
      std::lower_bound(std::begin(kEntities), std::end(kEntities), key,
                       [](const HtmlEntity& e, std::string_view k) { return std::string_view(e.name) < k; });
  if (it == std::end(kEntities) || std::string_view(it->name) != key || !(it->flags & need_flags)) return nullptr;
  return it;
}

void append_entity_value(const HtmlEntity& e, CodePoints& out) { decode_utf8(e.value, out); }

bool is_ascii_digit(char32_t c) { return c >= '0' && c <= '9'; }
bool is_ascii_hex(char32_t c) { return is_ascii_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }
bool is_ascii_alnum(char32_t c) { return is_ascii_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'); }
int hex_value(char32_t c) {
  return is_ascii_digit(c) ? static_cast<int>(c - '0') : static_cast<int>((c | 0x20) - 'a' + 10);
}

bool is_noncharacter_or_control(uint32_t num) {
  if ((num >= 0x1 && num <= 0x8) || num == 0xB || (num >= 0xE && num <= 0x1F)) return true;
  if (num >= 0x7F && num <= 0x9F) return true;
  if (num >= 0xFDD0 && num <= 0xFDEF) return true;
  return (num & 0xFFFE) == 0xFFFE;
}

// What html.unescape puts in place of a numeric reference (Python's _replace_charref). Digits
// are accumulated with saturation because Python's int() has no upper bound.
void append_numeric_reference(uint32_t num, bool too_big, CodePoints& out) {
  if (too_big || num > 0x10FFFF || (num >= 0xD800 && num <= 0xDFFF) || num == 0) {
    out.push_back(0xFFFD);
  } else if (num == 0x0D) {
    out.push_back(0x0D);
  } else if (num >= 0x80 && num <= 0x9F) {
    out.push_back(windows_1252_to_unicode(static_cast<uint8_t>(num)));
  } else if (!is_noncharacter_or_control(num)) {
    out.push_back(num);
  }
}

// Tries to match "&#[0-9]+;?" or "&#[xX][0-9a-fA-F]+;?" at text[i] == '&'. On success appends
// the replacement and returns the index after the match.
std::optional<size_t> match_numeric(const CodePoints& text, size_t i, CodePoints& out) {
  const size_t n = text.size();
  if (i + 2 >= n || text[i + 1] != '#') return std::nullopt;
  size_t j = i + 2;
  bool hex = false;
  if (!is_ascii_digit(text[j])) {
    if ((text[j] != 'x' && text[j] != 'X') || j + 1 >= n || !is_ascii_hex(text[j + 1])) return std::nullopt;
    hex = true;
    ++j;
  }
  uint32_t num = 0;
  bool too_big = false;
  while (j < n && (hex ? is_ascii_hex(text[j]) : is_ascii_digit(text[j]))) {
    const uint32_t digit = hex ? static_cast<uint32_t>(hex_value(text[j])) : static_cast<uint32_t>(text[j] - '0');
    if (!too_big) {
      num = num * (hex ? 16 : 10) + digit;
      if (num > 0x10FFFF) too_big = true;
    }
    ++j;
  }
  if (j < n && text[j] == ';') ++j;
  append_numeric_reference(num, too_big, out);
  return j;
}

bool is_named_reference_char(char32_t c) {
  return !(c == '\t' || c == '\n' || c == '\f' || c == ' ' || c == '<' || c == '&' || c == '#' || c == ';');
}

// Matches "&[^\t\n\f <&#;]{1,32};?" at text[i] == '&' and appends what html.unescape makes of it.
std::optional<size_t> match_named(const CodePoints& text, size_t i, CodePoints& out) {
  const size_t n = text.size();
  size_t j = i + 1;
  while (j < n && j - (i + 1) < kMaxNamedLength && is_named_reference_char(text[j])) ++j;
  if (j == i + 1) return std::nullopt;
  const size_t name_end = j;
  const bool semicolon = j < n && text[j] == ';';
  if (semicolon) ++j;
  const char32_t* name = text.data() + i + 1;
  const size_t name_len = name_end - (i + 1);
  if (const HtmlEntity* e = find_entity(name, name + name_len, semicolon ? kEntitySemicolon : kEntityLegacy)) {
    append_entity_value(*e, out);
    return j;
  }
  // html.unescape then tries ever shorter prefixes (at least 2 characters) of the whole match;
  // only legacy names can match a prefix, since no prefix ends in ';'.
  const size_t match_len = j - (i + 1);
  for (size_t x = match_len - 1; x >= 2; --x) {
    if (const HtmlEntity* e = find_entity(name, name + x, kEntityLegacy)) {
      append_entity_value(*e, out);
      out.append(name + x, text.data() + j);
      return j;
    }
  }
  out.append(text.data() + i, text.data() + j);
  return j;
}

}  // namespace

CodePoints python_html_unescape(const CodePoints& text) {
  if (text.find(U'&') == CodePoints::npos) return text;
  CodePoints out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '&') {
      out.push_back(text[i++]);
      continue;
    }
    std::optional<size_t> next =
        text.size() > i + 1 && text[i + 1] == '#' ? match_numeric(text, i, out) : match_named(text, i, out);
    if (next) {
      i = *next;
    } else {
      out.push_back(text[i++]);
    }
  }
  return out;
}

bool ftfy_unescape_html(CodePoints& text) {
  if (text.find(U'&') == CodePoints::npos) return false;
  CodePoints out;
  out.reserve(text.size());
  bool changed = false;
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    if (text[i] != '&') {
      out.push_back(text[i++]);
      continue;
    }
    // "&#?[0-9A-Za-z]{1,24};": the alphanumeric run must be 1..24 long and end at a ';'.
    const bool numeric = i + 1 < n && text[i + 1] == '#';
    size_t j = i + 1 + (numeric ? 1 : 0);
    const size_t run_start = j;
    while (j < n && is_ascii_alnum(text[j])) ++j;
    const size_t run = j - run_start;
    if (run == 0 || run > kMaxFtfyEntityLength || j >= n || text[j] != ';') {
      out.push_back(text[i++]);
      continue;
    }
    const size_t end = j + 1;
    const HtmlEntity* e =
        numeric ? nullptr : find_entity(text.data() + run_start, text.data() + j, kEntitySemicolon | kEntityFtfyUpper);
    if (e) {
      append_entity_value(*e, out);
      changed = true;
    } else if (numeric) {
      // ftfy keeps the reference unless html.unescape consumed all of it (no ';' left over).
      const CodePoints decoded = python_html_unescape(CodePoints(text.data() + i, text.data() + end));
      if (decoded.find(U';') == CodePoints::npos) {
        out += decoded;
        changed = true;
      } else {
        out.append(text.data() + i, text.data() + end);
      }
    } else {
      out.append(text.data() + i, text.data() + end);
    }
    i = end;
  }
  if (changed) text.swap(out);
  return changed;
}

}  // namespace cir::text::detail
