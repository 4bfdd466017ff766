// CIReVL (generation.md 3.4): the reference's one caption, edited by an LLM into a description of
// the target, is searched as plain text: q = n(T(edited caption)). The engine supplies the edit
// (ComposeInput::generated_edits); no image feature enters the query.
#include "compose/methods.h"

namespace cir::compose {
namespace {

class CirevlMethod : public Method {
 public:
  std::string name() const override { return "cirevl"; }
  std::string description() const override {
    return "CIReVL: n(T(LLM-edited caption of the reference)), the edit generated per query (prompt variant per "
           "dataset, generation.md 3.2)";
  }
  bool needs_reference() const override { return false; }
  bool needs_text() const override { return false; }

  FloatMatrix compose(const std::vector<ComposeInput>& inputs, const ComposeContext& context) const override {
    std::vector<std::string> texts;
    texts.reserve(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (inputs[i].generated_edits.empty()) {
        const std::string key = i < context.query_keys.size() ? context.query_keys[i] : "";
        throw Error(ErrorCode::kInvalidArgument,
                    "method 'cirevl' needs an edited caption for every query; none for reference '" + key +
                        "' (caption the index with `cir index caption --prompt-preset cirevl --n 1`, or configure "
                        "a captioner and editor with --llm)");
      }
      texts.push_back(inputs[i].generated_edits.front());
    }
    FloatMatrix out = context.encode_texts(texts);
    normalize_rows(out);
    return out;
  }
};

}  // namespace

std::shared_ptr<const Method> make_cirevl() { return std::make_shared<CirevlMethod>(); }

}  // namespace cir::compose
