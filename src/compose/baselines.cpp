// The reference points of every comparison (SEARLE/Pic2Word evaluators): image-only n(I),
// text-only n(T), and the sum n(wi n(I) + wt n(T)); a negative text subtracts its normalised
// feature; extra terms add their normalised features with their weights.
#include <cmath>

#include "baselines.h"

namespace cir::compose {
namespace {

std::vector<float> normalized(const float* v, int64_t d) {
  std::vector<float> out(v, v + d);
  normalize_in_place(out);
  return out;
}

void add_scaled(std::vector<float>& acc, const std::vector<float>& v, float w) {
  for (size_t i = 0; i < acc.size(); ++i) acc[i] += w * v[i];
}

// Mean of the normalised features of several texts (one text: its normalised feature).
std::vector<float> mean_text_direction(const FloatMatrix& feats, int64_t begin, int64_t count) {
  std::vector<float> acc(static_cast<size_t>(feats.cols), 0.f);
  for (int64_t i = 0; i < count; ++i) add_scaled(acc, normalized(feats.row(begin + i), feats.cols), 1.f / count);
  return acc;
}

class Baseline : public Method {
 public:
  Baseline(std::string name, bool use_image, bool use_text, std::string description)
      : name_(std::move(name)), use_image_(use_image), use_text_(use_text), description_(std::move(description)) {}
  std::string name() const override { return name_; }
  std::string description() const override { return description_; }
  bool needs_reference() const override { return use_image_; }
  bool needs_text() const override { return use_text_; }

  FloatMatrix compose(const std::vector<ComposeInput>& inputs, const ComposeContext& context) const override {
    // Encode every text of the batch in one call: positives, then negatives, per input.
    std::vector<std::string> all_texts;
    for (const auto& in : inputs) {
      check_inputs(in);
      all_texts.insert(all_texts.end(), in.texts.begin(), in.texts.end());
      all_texts.insert(all_texts.end(), in.negative_texts.begin(), in.negative_texts.end());
    }
    const FloatMatrix text_feats = all_texts.empty() ? FloatMatrix() : context.encode_texts(all_texts);
    FloatMatrix out(static_cast<int64_t>(inputs.size()), context.embed_dim);
    int64_t cursor = 0;
    for (size_t q = 0; q < inputs.size(); ++q) {
      const auto& in = inputs[q];
      std::vector<float> acc(static_cast<size_t>(context.embed_dim), 0.f);
      if (use_image_ && in.reference) add_scaled(acc, normalized(in.reference->data(), context.embed_dim), in.image_weight);
      const int64_t n_pos = static_cast<int64_t>(in.texts.size());
      const int64_t n_neg = static_cast<int64_t>(in.negative_texts.size());
      if (use_text_ && n_pos > 0) add_scaled(acc, mean_text_direction(text_feats, cursor, n_pos), in.text_weight);
      for (int64_t i = 0; i < n_neg; ++i)
        add_scaled(acc, normalized(text_feats.row(cursor + n_pos + i), context.embed_dim), -in.negative_weight);
      for (const auto& [feature, weight] : in.extra_terms) add_scaled(acc, normalized(feature.data(), context.embed_dim), weight);
      cursor += n_pos + n_neg;
      const auto n = normalized(acc.data(), context.embed_dim);
      std::copy(n.begin(), n.end(), out.row(static_cast<int64_t>(q)));
    }
    return out;
  }

 private:
  void check_inputs(const ComposeInput& in) const {
    if (use_image_ && !use_text_ && !in.reference && in.extra_terms.empty())
      throw Error(ErrorCode::kInvalidArgument, "method '" + name_ + "' needs a reference image");
    if (use_text_ && !use_image_ && in.texts.empty() && in.extra_terms.empty())
      throw Error(ErrorCode::kInvalidArgument, "method '" + name_ + "' needs a text");
    if (use_image_ && use_text_ && !in.reference && in.texts.empty() && in.extra_terms.empty())
      throw Error(ErrorCode::kInvalidArgument, "method '" + name_ + "' needs a reference image or a text");
    if (in.reference && in.reference->size() == 0)
      throw Error(ErrorCode::kInvalidArgument, "method '" + name_ + "': empty reference feature");
  }

  std::string name_;
  bool use_image_, use_text_;
  std::string description_;
};

// n(I(ref) + T(text)) on the raw (unnormalised) features: BGE-VL / MMRet's encode_multimodal,
// SPN4CIR clip4cir's validation query and CLIP4Cir's --combining-function sum (methods.md §12).
// Several texts: their raw features averaged.
class RawSum : public Method {
 public:
  std::string name() const override { return "raw-sum"; }
  std::string description() const override {
    return "n(I(ref) + T(text)) on raw features (BGE-VL encode_multimodal, SPN4CIR clip4cir, CLIP4Cir sum)";
  }
  bool needs_reference() const override { return true; }
  bool needs_text() const override { return true; }

  FloatMatrix compose(const std::vector<ComposeInput>& inputs, const ComposeContext& context) const override {
    std::vector<std::string> all_texts;
    for (const auto& in : inputs) {
      if (!in.reference || in.reference->empty() || in.texts.empty())
        throw Error(ErrorCode::kInvalidArgument, "method 'raw-sum' needs a reference image and a text");
      all_texts.insert(all_texts.end(), in.texts.begin(), in.texts.end());
    }
    const FloatMatrix text_feats = context.encode_texts(all_texts);
    FloatMatrix out(static_cast<int64_t>(inputs.size()), context.embed_dim);
    int64_t cursor = 0;
    for (size_t q = 0; q < inputs.size(); ++q) {
      const auto& in = inputs[q];
      std::vector<float> acc(in.reference->begin(), in.reference->end());
      const int64_t n = static_cast<int64_t>(in.texts.size());
      for (int64_t i = 0; i < n; ++i) {
        const float* t = text_feats.row(cursor + i);
        for (int64_t c = 0; c < context.embed_dim; ++c) acc[static_cast<size_t>(c)] += t[c] / static_cast<float>(n);
      }
      cursor += n;
      const auto normed = normalized(acc.data(), context.embed_dim);
      std::copy(normed.begin(), normed.end(), out.row(static_cast<int64_t>(q)));
    }
    return out;
  }
};

}  // namespace

std::shared_ptr<const Method> make_raw_sum() { return std::make_shared<RawSum>(); }

std::shared_ptr<const Method> make_image_only() {
  return std::make_shared<Baseline>("image", true, false, "reference image only: n(I(ref))");
}
std::shared_ptr<const Method> make_text_only() {
  return std::make_shared<Baseline>("text", false, true, "modification text only: n(T(text))");
}
std::shared_ptr<const Method> make_sum() {
  return std::make_shared<Baseline>("sum", true, true, "n(wi n(I(ref)) + wt n(T(text))), the Image+Text baseline");
}

}  // namespace cir::compose
