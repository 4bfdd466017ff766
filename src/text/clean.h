// Private to cir_text: the text CLIP's BPE sees, as code points.
#pragma once

#include <string_view>

#include "text/unicode.h"

namespace cir::text::detail {

/// The deterministic part of ftfy 6.3 fix_text (default config): per line, repeated until
/// nothing changes: HTML entities (unless a '<' was seen), C1 controls as windows-1252, Latin
/// ligatures, full/half-width forms, curly quotes, line breaks, terminal escapes, control
/// characters, NFC. Mojibake detection (fix_encoding) is not implemented.
CodePoints ftfy_fix_text(const CodePoints& text);

/// simple_tokenizer's whitespace_clean(basic_clean(text)).lower(), from raw UTF-8 bytes
/// (invalid bytes become U+FFFD). `out` is overwritten.
void clean_to_code_points(std::string_view text, CodePoints& out);

}  // namespace cir::text::detail
