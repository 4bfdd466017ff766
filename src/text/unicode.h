// Private to cir_text: code point level helpers that reproduce the Python behaviours CLIP's
// tokenizer depends on (bytes.decode(errors="replace"), str.lower(), str.isspace(), the `regex`
// module's \s, \p{L} and \p{N}), with Unicode data from utf8proc.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace cir::text::detail {

/// A text as Unicode code points (what a Python str is). Never holds surrogates.
using CodePoints = std::u32string;

/// Appends the code points of `bytes` to `out`. Invalid UTF-8 becomes U+FFFD exactly as Python's
/// bytes.decode("utf-8", errors="replace") does: one U+FFFD per maximal invalid subpart.
void decode_utf8(std::string_view bytes, CodePoints& out);

/// Appends the UTF-8 encoding of one code point.
void append_utf8(char32_t cp, std::string& out);
/// UTF-8 encoding of [begin, end).
void append_utf8(const char32_t* begin, const char32_t* end, std::string& out);
std::string encode_utf8(const CodePoints& text);

/// `regex` module \p{L} (general category L*).
bool is_letter(char32_t cp);
/// `regex` module \p{N} (general category N*).
bool is_number(char32_t cp);
/// `regex` module \s: the Unicode White_Space property (U+1C..U+1F are not in it).
bool is_regex_space(char32_t cp);
/// Python str.isspace(): White_Space plus U+1C..U+1F (what str.strip() removes).
bool is_python_space(char32_t cp);

/// Python str.lower(): full lowercase mapping (U+0130 -> "i\u0307") and the Final_Sigma rule.
void to_lower_python(CodePoints& text);

/// Unicode NFC (unicodedata.normalize("NFC", text)) in place; returns true when it changed.
/// Text below U+0300 is returned untouched without calling utf8proc.
bool normalize_nfc(CodePoints& text);

/// NFKC of a single code point (used to build ftfy's width table).
CodePoints nfkc_of(char32_t cp);

}  // namespace cir::text::detail
