// Private to cir_text: CLIP's pre-tokenizer, the pattern
//   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
// compiled with the `regex` module and re.IGNORECASE, applied with findall.
#pragma once

#include <cstddef>
#include <vector>

#include "text/unicode.h"

namespace cir::text::detail {

/// One match: code points [begin, end) of the text.
struct Piece {
  size_t begin;
  size_t end;
};

/// Appends the matches of CLIP's pattern over `text` (already cleaned and lowercased) to `out`.
void pretokenize(const CodePoints& text, std::vector<Piece>& out);

}  // namespace cir::text::detail
