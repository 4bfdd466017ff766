// "sprc": SPRC / SPN4CIR blip24cir composed retrieval. The composition happens inside the model
// (two Q-Former passes over the reference image and the caption, methods.md 12.1), so the
// method only checks its inputs and hands them to the family; the engine's max-over-slots
// search over the 32 gallery rows per image is SPRC's scoring.
#include "compose/methods.h"

namespace cir::compose {
namespace {

class SprcMethod final : public Method {
 public:
  std::string name() const override { return "sprc"; }
  std::string description() const override {
    return "SPRC: reference image and caption fused in the model's Q-Former, max over the 32 gallery slots";
  }
  bool needs_reference() const override { return true; }
  bool needs_text() const override { return true; }

  FloatMatrix compose(const std::vector<ComposeInput>& inputs, const ComposeContext& context) const override {
    if (!context.encode_composed)
      throw Error(ErrorCode::kUnsupported, "method 'sprc' needs an SPRC model (an index built with --model <SPRC or "
                                           "SPN4CIR blip24cir checkpoint>)");
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!inputs[i].reference_image)
        throw Error(ErrorCode::kInvalidArgument, "method 'sprc', query " + std::to_string(i) +
                                                     ": needs a reference image (a gallery id, a path or an upload; a raw "
                                                     "embedding cannot be fused with the text)");
      if (inputs[i].texts.size() != 1)
        throw Error(ErrorCode::kInvalidArgument, "method 'sprc', query " + std::to_string(i) + ": needs exactly one text, found " +
                                                     std::to_string(inputs[i].texts.size()) +
                                                     " (join FashionIQ pairs with the clip4cir caption convention)");
    }
    return context.encode_composed(inputs);
  }
};

}  // namespace

std::shared_ptr<const Method> make_sprc() { return std::make_shared<SprcMethod>(); }

}  // namespace cir::compose
