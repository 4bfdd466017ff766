// Private to cir_text: HTML character references, decoded the two ways CLIP's cleaning does.
#pragma once

#include "text/unicode.h"

namespace cir::text::detail {

/// Python's html.unescape: named references from the HTML5 table (with the legacy forms without
/// ';' and the longest-prefix rule, "&notit;" -> "¬it;"), decimal and hex references with the
/// HTML5 replacements (C1 range read as windows-1252, surrogates and > U+10FFFF -> U+FFFD,
/// noncharacters and most controls dropped).
CodePoints python_html_unescape(const CodePoints& text);

/// ftfy 6's fixes.unescape_html: only "&#?[0-9A-Za-z]{1,24};" spans are touched; named ones
/// must be exact HTML5 names (or ftfy's all-caps aliases such as "&EACUTE;"), numeric ones must
/// decode completely. Returns true when the text changed.
bool ftfy_unescape_html(CodePoints& text);

}  // namespace cir::text::detail
