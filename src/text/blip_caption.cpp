// LAVIS BlipCaptionProcessor.pre_caption, step for step (lavis/processors/blip_processors.py):
//   re.sub(r"([.!\"()*#:;~])", " ", caption.lower()); re.sub(r"\s{2,}", " ", ...);
//   rstrip("\n"); strip(" "); " ".join(split(" ")[:max_words]).
// Code points, not bytes, so str.lower() and \s keep their Unicode meaning.
#include <algorithm>
#include <string>

#include "cir/text.h"
#include "text/unicode.h"

namespace cir::text {
namespace {

using detail::CodePoints;

bool is_removed_punctuation(char32_t c) {
  static constexpr std::u32string_view kRemoved = U".!\"()*#:;~";
  return kRemoved.find(c) != std::u32string_view::npos;
}

// \s{2,} -> " ": a single whitespace character stays as it is (a lone tab is kept). Python re's
// \s on str is str.isspace(), U+1C..U+1F included.
CodePoints collapse_whitespace_runs(const CodePoints& in) {
  CodePoints out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size();) {
    size_t j = i;
    while (j < in.size() && detail::is_python_space(in[j])) ++j;
    if (j - i >= 2) {
      out.push_back(U' ');
      i = j;
    } else {
      out.push_back(in[i]);
      ++i;
    }
  }
  return out;
}

// Python's " ".join(s.split(" ")[:n]): empty pieces between consecutive spaces count as words.
CodePoints first_words(const CodePoints& text, int max_words) {
  int words = 1;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != U' ') continue;
    if (words == max_words) return text.substr(0, i);
    ++words;
  }
  return text;
}

}  // namespace

std::string blip_caption(std::string_view caption, int max_words) {
  if (max_words < 1)
    throw Error(ErrorCode::kInvalidArgument, "blip_caption: max_words must be >= 1, found " + std::to_string(max_words));
  CodePoints text;
  detail::decode_utf8(caption, text);
  detail::to_lower_python(text);
  std::replace_if(text.begin(), text.end(), is_removed_punctuation, U' ');
  text = collapse_whitespace_runs(text);
  while (!text.empty() && text.back() == U'\n') text.pop_back();
  const size_t first = text.find_first_not_of(U' ');
  if (first == CodePoints::npos) return "";
  text = text.substr(first, text.find_last_not_of(U' ') - first + 1);
  return detail::encode_utf8(first_words(text, max_words));
}

}  // namespace cir::text
