// Caption conventions. The published numbers depend on how the annotated texts are turned into
// the encoded prompt, so each convention reproduces its reference code's string exactly
// (Python str.strip / str.capitalize semantics, f-string layouts; README section 3, methods.md 3.2).
#include <cctype>

#include "cir/eval.h"
#include "eval/readers.h"

namespace cir::eval {
namespace {

constexpr std::string_view kStripChars = ".?, ";
constexpr std::string_view kSearlePrefix = "a photo of $ that ";

std::string join_pair(const std::string& first, const std::string& second) { return first + " and " + second; }

void require_caption_count(const EvalQuery& query) {
  if (query.texts.empty() || query.texts.size() > 2)
    throw Error(ErrorCode::kInvalidArgument, detail::describe_query(query) + ": expected 1 or 2 captions, found " +
                                                 std::to_string(query.texts.size()));
}

}  // namespace

std::string_view caption_convention_name(CaptionConvention convention) {
  switch (convention) {
    case CaptionConvention::kPlain: return "plain";
    case CaptionConvention::kClip4Cir: return "clip4cir";
    case CaptionConvention::kSearle: return "searle";
  }
  return "plain";
}

CaptionConvention parse_caption_convention(std::string_view name) {
  for (CaptionConvention convention :
       {CaptionConvention::kPlain, CaptionConvention::kClip4Cir, CaptionConvention::kSearle})
    if (caption_convention_name(convention) == name) return convention;
  throw Error(ErrorCode::kInvalidArgument,
              "unknown caption convention '" + std::string(name) + "' (expected plain, clip4cir or searle)");
}

std::string strip_caption(std::string_view caption) {
  const size_t first = caption.find_first_not_of(kStripChars);
  if (first == std::string_view::npos) return "";
  const size_t last = caption.find_last_not_of(kStripChars);
  return std::string(caption.substr(first, last - first + 1));
}

std::string capitalize_caption(std::string_view caption) {
  std::string out(caption);
  for (size_t i = 0; i < out.size(); ++i) {
    const auto byte = static_cast<unsigned char>(out[i]);
    if (byte >= 0x80) continue;
    out[i] = static_cast<char>(i == 0 ? std::toupper(byte) : std::tolower(byte));
  }
  return out;
}

std::vector<std::string> build_query_texts(const EvalQuery& query, CaptionConvention convention) {
  require_caption_count(query);
  const bool pair = query.texts.size() == 2;
  switch (convention) {
    case CaptionConvention::kPlain:
      if (!pair) return {query.texts[0]};
      return {join_pair(strip_caption(query.texts[0]), strip_caption(query.texts[1]))};
    case CaptionConvention::kClip4Cir:
      // CLIP4Cir validation: only "c1 and c2", c1 through str.capitalize() (which also
      // lower-cases the rest of c1).
      if (!pair) return {query.texts[0]};
      return {join_pair(capitalize_caption(strip_caption(query.texts[0])), strip_caption(query.texts[1]))};
    case CaptionConvention::kSearle: {
      // SEARLE uses the CIRR/CIRCO caption unstripped, and for FashionIQ both orders, averaged by
      // the driver after L2 normalisation.
      if (!pair) return {std::string(kSearlePrefix) + query.texts[0]};
      const std::string first = strip_caption(query.texts[0]);
      const std::string second = strip_caption(query.texts[1]);
      return {std::string(kSearlePrefix) + join_pair(first, second),
              std::string(kSearlePrefix) + join_pair(second, first)};
    }
  }
  throw Error(ErrorCode::kInternal, "unhandled caption convention");
}

}  // namespace cir::eval
