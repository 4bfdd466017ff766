// The CLIP family: one vector per image (the raw feature, normalised when stored, its norm kept
// as metadata), late fusion in the composition methods. The fallback of detection.
#include <cmath>

#include "engine/family.h"

namespace cir::engine {
namespace {

// Methods that need slot rows (ZIRACLE) or early fusion (SPRC) cannot run on CLIP rows.
bool needs_other_rows(const std::string& method) {
  return method.rfind("ziracle", 0) == 0 || method == "sprc";
}

class ClipFamily final : public ModelFamily {
 public:
  ClipFamily(const std::string& path, const EncoderOptions& options) {
    model::ModelOptions mo;
    mo.dtype = options.dtype;
    mo.n_threads = options.n_threads;
    model_ = model::ClipModel::load(path, mo);
    tokenizer_ = std::make_unique<text::ClipTokenizer>(text::ClipTokenizer::from_directory(tokenizer_directory(path)));
  }

  const model::ModelSpec& spec() const override { return model_->spec(); }

  ImageRows encode_pixel_rows(const float* pixels, int64_t n_images) const override {
    ImageRows out;
    out.n_images = n_images;
    out.rows = model_->encode_images(pixels, n_images);
    out.norms.resize(static_cast<size_t>(n_images));
    for (int64_t i = 0; i < n_images; ++i) {
      double s = 0;
      for (int64_t j = 0; j < out.rows.cols; ++j) s += double(out.rows.row(i)[j]) * out.rows.row(i)[j];
      out.norms[static_cast<size_t>(i)] = std::sqrt(s);
    }
    normalize_rows(out.rows);
    return out;
  }

  std::vector<float> image_query_row(const float* rows, int64_t, double norm) const override {
    std::vector<float> out(rows, rows + spec().embed_dim);
    if (norm > 0)
      for (auto& x : out) x *= static_cast<float>(norm);
    return out;
  }

  FloatMatrix encode_image_queries(const float* pixels, int64_t n_images) const override {
    return model_->encode_images(pixels, n_images);
  }

  TokenBatch tokenize(const std::vector<std::string>& texts) const override {
    return tokenizer_->tokenize(texts, spec().context_length);
  }

  FloatMatrix encode_texts(const std::vector<std::string>& texts) const override {
    return model_->encode_texts(tokenize(texts));
  }

  bool supports_method(const std::string& name) const override { return !needs_other_rows(name); }

  const model::ClipModel* clip_model() const override { return model_.get(); }
  const text::ClipTokenizer* clip_tokenizer() const override { return tokenizer_.get(); }

 private:
  std::unique_ptr<model::ClipModel> model_;
  std::unique_ptr<text::ClipTokenizer> tokenizer_;
};

}  // namespace

FamilyEntry clip_family() {
  return {"clip", [](const std::string&) { return true; },
          [](const std::string& path, const EncoderOptions& options) -> std::unique_ptr<ModelFamily> {
            return std::make_unique<ClipFamily>(path, options);
          }};
}

}  // namespace cir::engine
