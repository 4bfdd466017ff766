// CLIP's pre-tokenizer, matched by hand. No regex engine available to us implements \p{L} with
// the `regex` module's semantics (std::regex has no Unicode properties, and Debian's C/C++ regex
// libraries differ in case-insensitive and property details), so the pattern is written out as
// the left-to-right alternation it is, with Unicode categories from utf8proc:
//   1. "<|startoftext|>" / "<|endoftext|>"
//   2. the contractions 's 't 're 've 'm 'll 'd (first listed alternative wins)
//   3. a run of letters, 4. one number character, 5. a run of anything else except whitespace.
// Code points that match none (whitespace) are skipped, as findall skips them.
#include "text/pretokenize.h"

#include <string_view>

namespace cir::text::detail {
namespace {

// U+0345 COMBINING GREEK YPOGEGRAMMENI (Mn) case-folds to the letter U+03B9, so under
// IGNORECASE the `regex` module neither counts it as a letter nor as "not a letter": it matches
// no alternative and findall drops it. It is the only code point where IGNORECASE changes the
// classes (checked over all of Unicode).
constexpr char32_t kYpogegrammeni = 0x345;

// Case-insensitive comparison of one code point with a lowercase ASCII pattern letter, with the
// simple case folds the `regex` module applies: U+017F LONG S ~ 's', U+212A KELVIN SIGN ~ 'k'.
bool equals_ignore_case(char32_t c, char pattern) {
  const auto p = static_cast<char32_t>(pattern);
  if (c == p) return true;
  if (p >= U'a' && p <= U'z' && c == p - 32) return true;
  return (p == U's' && c == 0x17F) || (p == U'k' && c == 0x212A);
}

size_t match_literal(const CodePoints& text, size_t i, std::string_view literal) {
  if (text.size() - i < literal.size()) return 0;
  for (size_t k = 0; k < literal.size(); ++k)
    if (!equals_ignore_case(text[i + k], literal[k])) return 0;
  return literal.size();
}

// Alternatives 1 and 2; returns the match length or 0.
size_t match_fixed(const CodePoints& text, size_t i) {
  if (text[i] == U'<') {
    if (size_t n = match_literal(text, i, "<|startoftext|>")) return n;
    return match_literal(text, i, "<|endoftext|>");
  }
  if (text[i] != U'\'') return 0;
  for (std::string_view contraction : {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"})
    if (size_t n = match_literal(text, i, contraction)) return n;
  return 0;
}

bool is_other(char32_t c) { return !is_letter(c) && !is_number(c) && !is_regex_space(c) && c != kYpogegrammeni; }

}  // namespace

void pretokenize(const CodePoints& text, std::vector<Piece>& out) {
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const char32_t c = text[i];
    if (size_t len = match_fixed(text, i)) {
      out.push_back({i, i + len});
      i += len;
    } else if (is_letter(c)) {
      size_t j = i + 1;
      while (j < n && is_letter(text[j])) ++j;
      out.push_back({i, j});
      i = j;
    } else if (is_number(c)) {
      out.push_back({i, i + 1});
      ++i;
    } else if (is_other(c)) {
      size_t j = i + 1;
      while (j < n && is_other(text[j])) ++j;
      out.push_back({i, j});
      i = j;
    } else {
      ++i;
    }
  }
}

}  // namespace cir::text::detail
