// CLIP's text cleaning: simple_tokenizer.basic_clean (ftfy.fix_text, html.unescape twice,
// strip), whitespace_clean (collapse \s+, strip) and str.lower(), reproduced on code points.
//
// ftfy 6.3.1 is reproduced for its deterministic fixers only. Not implemented: fix_encoding
// (mojibake detection, i.e. the badness heuristic with restore_byte_a0, replace_lossy_sequences
// and decode_inconsistent_utf8) - text such as "cafÃ©" keeps its mojibake here while ftfy would
// repair it. fix_surrogates has nothing to do because we never hold surrogates (invalid UTF-8
// and surrogate references already became U+FFFD).
#include "text/clean.h"

#include <utf8proc.h>

#include <string>
#include <string_view>
#include <unordered_map>

#include "cir/text.h"
#include "text/html_unescape.h"
#include "text/windows_1252.h"

namespace cir::text::detail {
namespace {

// ftfy's fix_text cuts lines longer than this many code points into separately fixed segments.
constexpr size_t kFtfyMaxDecodeLength = 1000000;
// ftfy repeats its fixers until the text stops changing. Real text settles in one or two rounds;
// the cap keeps adversarial input such as "&amp;amp;amp;..." (one level per round) linear.
// Only text nested deeper than this can differ from ftfy.
constexpr int kFtfyMaxRounds = 16;

bool fix_c1_controls(CodePoints& text) {
  bool changed = false;
  for (char32_t& c : text) {
    if (c >= 0x80 && c <= 0x9F) {
      c = windows_1252_to_unicode(static_cast<uint8_t>(c));
      changed = true;
    }
  }
  return changed;
}

// ftfy.chardata.LIGATURES: Latin typographic ligatures and legacy digraphs.
std::u32string_view latin_ligature(char32_t c) {
  switch (c) {
    case 0x132:
      return U"IJ";
    case 0x133:
      return U"ij";
    case 0x149:
      return U"\u02BCn";
    case 0x1C4:
      return U"D\u017D";
    case 0x1C5:
      return U"D\u017E";
    case 0x1C6:
      return U"d\u017E";
    case 0x1C7:
      return U"LJ";
    case 0x1C8:
      return U"Lj";
    case 0x1C9:
      return U"lj";
    case 0x1CA:
      return U"NJ";
    case 0x1CB:
      return U"Nj";
    case 0x1CC:
      return U"nj";
    case 0x1F1:
      return U"DZ";
    case 0x1F2:
      return U"Dz";
    case 0x1F3:
      return U"dz";
    case 0xFB00:
      return U"ff";
    case 0xFB01:
      return U"fi";
    case 0xFB02:
      return U"fl";
    case 0xFB03:
      return U"ffi";
    case 0xFB04:
      return U"ffl";
    case 0xFB05:
      return U"\u017Ft";
    case 0xFB06:
      return U"st";
    default:
      return {};
  }
}

// ftfy.chardata.WIDTH_MAP: U+3000 -> ' ' and NFKC of every changed code point in U+FF01..U+FFEF.
std::u32string_view width_replacement(char32_t c) {
  static const std::unordered_map<char32_t, CodePoints> table = [] {
    std::unordered_map<char32_t, CodePoints> t;
    t.emplace(0x3000, CodePoints(1, U' '));
    for (char32_t cp = 0xFF01; cp < 0xFFF0; ++cp) {
      CodePoints alt = nfkc_of(cp);
      if (alt != CodePoints(1, cp)) t.emplace(cp, std::move(alt));
    }
    return t;
  }();
  if (c != 0x3000 && (c < 0xFF01 || c >= 0xFFF0)) return {};
  const auto it = table.find(c);
  return it == table.end() ? std::u32string_view() : std::u32string_view(it->second);
}

// Python's str.translate: code points with a non-empty `lookup` result are replaced by it.
// Returns true when anything changed.
template <typename Lookup>
bool translate(CodePoints& text, Lookup lookup) {
  size_t first = 0;
  while (first < text.size() && lookup(text[first]).empty()) ++first;
  if (first == text.size()) return false;
  CodePoints out(text.data(), first);
  for (size_t i = first; i < text.size(); ++i) {
    const std::u32string_view rep = lookup(text[i]);
    if (rep.empty())
      out.push_back(text[i]);
    else
      out += rep;
  }
  text.swap(out);
  return true;
}

bool fix_latin_ligatures(CodePoints& text) {
  return translate(text, [](char32_t c) { return c < 0x132 ? std::u32string_view() : latin_ligature(c); });
}

bool fix_character_width(CodePoints& text) {
  return translate(text, [](char32_t c) { return c < 0x3000 ? std::u32string_view() : width_replacement(c); });
}

bool uncurl_quotes(CodePoints& text) {
  bool changed = false;
  for (char32_t& c : text) {
    if (c == 0x2BC || (c >= 0x2018 && c <= 0x201B)) {
      c = U'\'';
      changed = true;
    } else if (c >= 0x201C && c <= 0x201F) {
      c = U'"';
      changed = true;
    }
  }
  return changed;
}

bool fix_line_breaks(CodePoints& text) {
  bool changed = false;
  CodePoints out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char32_t c = text[i];
    if (c == U'\r' && i + 1 < text.size() && text[i + 1] == U'\n') {
      changed = true;  // "\r\n" -> "\n": the '\n' is appended on the next step
      continue;
    }
    if (c == U'\r' || c == 0x2028 || c == 0x2029 || c == 0x85) {
      out.push_back(U'\n');
      changed = true;
    } else {
      out.push_back(c);
    }
  }
  if (changed) text.swap(out);
  return changed;
}

// Python's re \d on str patterns is any Unicode decimal digit (category Nd).
bool is_decimal_digit(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  return utf8proc_category(static_cast<utf8proc_int32_t>(c)) == UTF8PROC_CATEGORY_ND;
}

// ftfy's ANSI_RE: ESC '[' (\d|;)* [a-zA-Z], removed.
bool remove_terminal_escapes(CodePoints& text) {
  if (text.find(char32_t{0x1B}) == CodePoints::npos) return false;
  bool changed = false;
  CodePoints out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == 0x1B && i + 1 < text.size() && text[i + 1] == U'[') {
      size_t j = i + 2;
      while (j < text.size() && (is_decimal_digit(text[j]) || text[j] == U';')) ++j;
      if (j < text.size() && ((text[j] | 0x20) >= U'a' && (text[j] | 0x20) <= U'z')) {
        i = j + 1;
        changed = true;
        continue;
      }
    }
    out.push_back(text[i++]);
  }
  if (changed) text.swap(out);
  return changed;
}

// ftfy.chardata.CONTROL_CHARS: C0 controls except \t \n \f \r, DEL, deprecated Arabic format
// controls, the BOM and interlinear annotation characters.
bool is_removed_control(char32_t c) {
  if (c < 0x20) return c != U'\t' && c != U'\n' && c != U'\f' && c != U'\r';
  return c == 0x7F || (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

bool remove_control_chars(CodePoints& text) {
  const size_t before = text.size();
  std::erase_if(text, is_removed_control);
  return text.size() != before;
}

// ftfy.fix_and_explain on one segment.
CodePoints fix_segment(CodePoints text, bool unescape_html) {
  for (int round = 0; round < kFtfyMaxRounds; ++round) {
    bool changed = false;
    if (unescape_html) changed |= ftfy_unescape_html(text);
    changed |= fix_c1_controls(text);
    changed |= fix_latin_ligatures(text);
    changed |= fix_character_width(text);
    changed |= uncurl_quotes(text);
    changed |= fix_line_breaks(text);
    changed |= remove_terminal_escapes(text);
    changed |= remove_control_chars(text);
    changed |= normalize_nfc(text);
    if (!changed) break;
  }
  return text;
}

void strip_python_space(CodePoints& text) {
  size_t begin = 0;
  size_t end = text.size();
  while (begin < end && is_python_space(text[begin])) ++begin;
  while (end > begin && is_python_space(text[end - 1])) --end;
  if (begin != 0 || end != text.size()) text = text.substr(begin, end - begin);
}

// whitespace_clean: re.sub(r"\s+", " ", text).strip() with the `regex` module's \s.
void collapse_whitespace(CodePoints& text) {
  size_t w = 0;
  bool in_space = false;
  for (size_t r = 0; r < text.size(); ++r) {
    if (is_regex_space(text[r])) {
      if (!in_space) text[w++] = U' ';
      in_space = true;
    } else {
      text[w++] = text[r];
      in_space = false;
    }
  }
  text.resize(w);
  strip_python_space(text);
}

// Printable ASCII plus \t \n \f \r and no '&': none of ftfy's fixers, NFC or html.unescape can
// change such text (\r only turns into \n, which whitespace_clean collapses anyway).
bool is_plain_ascii(std::string_view text) {
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7F) {
      if (c == '&') return false;
      continue;
    }
    if (c != '\t' && c != '\n' && c != '\f' && c != '\r') return false;
  }
  return true;
}

}  // namespace

CodePoints ftfy_fix_text(const CodePoints& text) {
  CodePoints out;
  out.reserve(text.size());
  bool unescape_html = true;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t newline = text.find(U'\n', pos);
    size_t end = newline == CodePoints::npos ? text.size() : newline + 1;
    if (end - pos > kFtfyMaxDecodeLength) end = pos + kFtfyMaxDecodeLength;
    CodePoints segment = text.substr(pos, end - pos);
    // A literal '<' suggests real HTML: from that segment on, entities are left alone.
    if (segment.find(U'<') != CodePoints::npos) unescape_html = false;
    out += fix_segment(std::move(segment), unescape_html);
    pos = end;
  }
  return out;
}

void clean_to_code_points(std::string_view text, CodePoints& out) {
  out.clear();
  if (is_plain_ascii(text)) {
    out.assign(text.begin(), text.end());
  } else {
    CodePoints raw;
    decode_utf8(text, raw);
    out = python_html_unescape(python_html_unescape(ftfy_fix_text(raw)));
    strip_python_space(out);
  }
  collapse_whitespace(out);
  to_lower_python(out);
}

}  // namespace cir::text::detail

namespace cir::text {

std::string clean_text(std::string_view text) {
  detail::CodePoints cleaned;
  detail::clean_to_code_points(text, cleaned);
  return detail::encode_utf8(cleaned);
}

}  // namespace cir::text
