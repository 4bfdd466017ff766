#include "text/unicode.h"

#include <utf8proc.h>

#include <cstdlib>
#include <memory>

namespace cir::text::detail {
namespace {

constexpr char32_t kReplacement = 0xFFFD;

// Lead byte -> (number of continuation bytes, allowed range of the first continuation byte).
// The narrowed ranges for E0/ED/F0/F4 reject overlongs, surrogates and values past U+10FFFF at
// the second byte, which is what makes Python report the lead byte alone as the bad subpart.
struct LeadInfo {
  int n_continuation;
  uint8_t first_lo;
  uint8_t first_hi;
};

bool lead_info(uint8_t b, LeadInfo& info) {
  if (b >= 0xC2 && b <= 0xDF)
    info = {1, 0x80, 0xBF};
  else if (b == 0xE0)
    info = {2, 0xA0, 0xBF};
  else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF)
    info = {2, 0x80, 0xBF};
  else if (b == 0xED)
    info = {2, 0x80, 0x9F};
  else if (b == 0xF0)
    info = {3, 0x90, 0xBF};
  else if (b >= 0xF1 && b <= 0xF3)
    info = {3, 0x80, 0xBF};
  else if (b == 0xF4)
    info = {3, 0x80, 0x8F};
  else
    return false;
  return true;
}

bool is_category(char32_t cp, std::initializer_list<utf8proc_category_t> cats) {
  const utf8proc_category_t c = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  for (auto want : cats)
    if (c == want) return true;
  return false;
}

// Python's Final_Sigma test needs "cased" and "case-ignorable" (Unicode derived properties that
// utf8proc does not expose). Cased is approximated by the letter case categories plus anything
// with a case mapping (covers Other_Lowercase/Other_Uppercase letters such as circled letters);
// case-ignorable by its definition: Mn, Me, Cf, Lm, Sk plus the MidLetter/MidNumLet/Single_Quote
// word-break characters listed explicitly.
bool is_cased(char32_t cp) {
  if (is_category(cp, {UTF8PROC_CATEGORY_LU, UTF8PROC_CATEGORY_LL, UTF8PROC_CATEGORY_LT})) return true;
  const auto c = static_cast<utf8proc_int32_t>(cp);
  return utf8proc_tolower(c) != c || utf8proc_toupper(c) != c;
}

bool is_case_ignorable(char32_t cp) {
  switch (cp) {
    case 0x27:
    case 0x2E:
    case 0x3A:
    case 0xB7:
    case 0x387:
    case 0x55F:
    case 0x5F4:
    case 0x2018:
    case 0x2019:
    case 0x2024:
    case 0x2027:
    case 0xFE13:
    case 0xFE52:
    case 0xFE55:
    case 0xFF07:
    case 0xFF0E:
    case 0xFF1A:
      return true;
    default:
      break;
  }
  return is_category(cp, {UTF8PROC_CATEGORY_MN, UTF8PROC_CATEGORY_ME, UTF8PROC_CATEGORY_CF, UTF8PROC_CATEGORY_LM,
                          UTF8PROC_CATEGORY_SK});
}

bool sigma_is_final(const CodePoints& text, size_t i) {
  size_t j = i;
  bool cased_before = false;
  while (j > 0) {
    --j;
    if (!is_case_ignorable(text[j])) {
      cased_before = is_cased(text[j]);
      break;
    }
  }
  if (!cased_before) return false;
  for (size_t k = i + 1; k < text.size(); ++k)
    if (!is_case_ignorable(text[k])) return !is_cased(text[k]);
  return true;
}

// Runs utf8proc_map over the UTF-8 form of `text` with the given options.
CodePoints map_with_utf8proc(const CodePoints& text, utf8proc_option_t options) {
  const std::string utf8 = encode_utf8(text);
  utf8proc_uint8_t* mapped = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(utf8.data()),
                                          static_cast<utf8proc_ssize_t>(utf8.size()), &mapped, options);
  // utf8proc only fails on invalid input or memory exhaustion; our text is valid by construction,
  // so on failure we keep the text unnormalised rather than lose it.
  if (n < 0) return text;
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owner(mapped, &std::free);
  CodePoints out;
  decode_utf8(std::string_view(reinterpret_cast<const char*>(mapped), static_cast<size_t>(n)), out);
  return out;
}

}  // namespace

void decode_utf8(std::string_view bytes, CodePoints& out) {
  out.reserve(out.size() + bytes.size());
  const auto* s = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t n = bytes.size();
  size_t i = 0;
  while (i < n) {
    const uint8_t b = s[i];
    if (b < 0x80) {
      out.push_back(b);
      ++i;
      continue;
    }
    LeadInfo info;
    if (!lead_info(b, info)) {
      out.push_back(kReplacement);
      ++i;
      continue;
    }
    char32_t cp = b & (info.n_continuation == 1 ? 0x1F : info.n_continuation == 2 ? 0x0F : 0x07);
    size_t j = i + 1;
    bool ok = true;
    for (int k = 0; k < info.n_continuation; ++k, ++j) {
      const uint8_t lo = k == 0 ? info.first_lo : 0x80;
      const uint8_t hi = k == 0 ? info.first_hi : 0xBF;
      if (j >= n || s[j] < lo || s[j] > hi) {
        ok = false;
        break;
      }
      cp = (cp << 6) | (s[j] & 0x3F);
    }
    // On failure j points at the offending byte: bytes [i, j) are the maximal subpart that gets
    // one U+FFFD, and decoding resumes at j.
    out.push_back(ok ? cp : kReplacement);
    i = j;
  }
}

void append_utf8(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

void append_utf8(const char32_t* begin, const char32_t* end, std::string& out) {
  for (const char32_t* p = begin; p != end; ++p) append_utf8(*p, out);
}

std::string encode_utf8(const CodePoints& text) {
  std::string out;
  out.reserve(text.size());
  append_utf8(text.data(), text.data() + text.size(), out);
  return out;
}

bool is_letter(char32_t cp) {
  if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
  return is_category(cp, {UTF8PROC_CATEGORY_LU, UTF8PROC_CATEGORY_LL, UTF8PROC_CATEGORY_LT, UTF8PROC_CATEGORY_LM,
                          UTF8PROC_CATEGORY_LO});
}

bool is_number(char32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  return is_category(cp, {UTF8PROC_CATEGORY_ND, UTF8PROC_CATEGORY_NL, UTF8PROC_CATEGORY_NO});
}

// Both whitespace sets are fixed lists in Python and the `regex` module; spelling them out keeps
// us independent of how a utf8proc version classifies, e.g., U+180E.
bool is_regex_space(char32_t cp) {
  if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
  switch (cp) {
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

bool is_python_space(char32_t cp) { return is_regex_space(cp) || (cp >= 0x1C && cp <= 0x1F); }

void to_lower_python(CodePoints& text) {
  bool ascii = true;
  for (char32_t c : text) {
    if (c >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) {
    for (char32_t& c : text)
      if (c >= 'A' && c <= 'Z') c += 32;
    return;
  }
  CodePoints out;
  out.reserve(text.size() + 4);
  for (size_t i = 0; i < text.size(); ++i) {
    const char32_t c = text[i];
    if (c == 0x130) {  // the one unconditional multi-character lowercase mapping
      out.push_back(U'i');
      out.push_back(0x307);
    } else if (c == 0x3A3) {
      out.push_back(sigma_is_final(text, i) ? 0x3C2 : 0x3C3);
    } else {
      out.push_back(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
    }
  }
  text.swap(out);
}

bool normalize_nfc(CodePoints& text) {
  bool below_combining = true;
  for (char32_t c : text) {
    if (c >= 0x300) {
      below_combining = false;
      break;
    }
  }
  // Nothing below U+0300 decomposes or combines, so such text is already NFC.
  if (below_combining) return false;
  CodePoints normalized = map_with_utf8proc(text, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (normalized == text) return false;
  text.swap(normalized);
  return true;
}

CodePoints nfkc_of(char32_t cp) {
  return map_with_utf8proc(CodePoints(1, cp),
                           static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT));
}

}  // namespace cir::text::detail
