// The SPRC family (SPRC `Blip2QformerCirAlignPrompt` checkpoints and SPN4CIR blip24cir best.pt):
// gallery rows as BLIP-2's, [n(vision_proj(q_i)) | n(q_i)] for the 32 target query outputs, and
// composed queries made inside the model from the reference image and the caption (early
// fusion), as [n(text_proj(pass2[:, 32])) | 0] so the store's max-over-slots scoring is SPRC's.
#include <algorithm>
#include <filesystem>

#include "engine/family.h"

namespace cir::engine {
namespace fs = std::filesystem;

namespace {

// A checkpoint file, or a directory holding exactly one .pt/.pth that is one.
bool detect_sprc(const std::string& path) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return model::detect_sprc_checkpoint(path).has_value();
  if (!fs::is_directory(path, ec)) return false;
  std::string found;
  for (const auto& entry : fs::directory_iterator(path, ec)) {
    const std::string ext = entry.path().extension().string();
    if (!entry.is_regular_file() || (ext != ".pt" && ext != ".pth")) continue;
    if (!found.empty()) return false;
    found = entry.path().string();
  }
  return !found.empty() && model::detect_sprc_checkpoint(found).has_value();
}

// SPRC's towers are BLIP-2's; only the family, the layout and the caption length differ.
model::ModelSpec summarize_sprc(const model::SprcSpec& sprc) {
  model::ModelSpec s = summarize_blip2(sprc.blip2);
  s.family = "sprc";
  s.format = std::string(model::sprc_layout_name(sprc.layout));
  s.context_length = sprc.max_text_length;
  return s;
}

class SprcFamily final : public ModelFamily {
 public:
  SprcFamily(const std::string& path, const EncoderOptions& options) {
    model::ModelOptions mo;
    mo.dtype = options.dtype;
    mo.n_threads = options.n_threads;
    model_ = model::SprcModel::load(path, mo);
    tokenizer_ = std::make_unique<text::WordPieceTokenizer>(
        text::WordPieceTokenizer::from_directory(tokenizer_directory(model_->spec().blip2.weights_file)));
    const model::Blip2Spec& b = model_->spec().blip2;
    spec_ = summarize_sprc(model_->spec());
    slots_ = {b.n_query_tokens, b.embed_dim, b.qformer_width};
  }

  const model::ModelSpec& spec() const override { return spec_; }
  compose::SlotLayout slot_layout() const override { return slots_; }

  ImageRows encode_pixel_rows(const float* pixels, int64_t n_images) const override {
    return slot_rows(model_->encode_images(pixels, n_images), slots_);
  }
  std::vector<float> image_query_row(const float* rows, int64_t n_rows, double) const override {
    return mean_feature_row(rows, n_rows, slots_);
  }
  FloatMatrix encode_image_queries(const float* pixels, int64_t n_images) const override {
    return mean_feature_rows(encode_pixel_rows(pixels, n_images), slots_);
  }
  // SPRC's text pipeline: LAVIS blip_caption, then BERT WordPiece padded to max_txt_len 32.
  TokenBatch tokenize(const std::vector<std::string>& texts) const override {
    std::vector<std::string> captions;
    captions.reserve(texts.size());
    for (const std::string& t : texts) captions.push_back(text::blip_caption(t));
    return tokenizer_->tokenize(captions, model_->spec().max_text_length);
  }
  FloatMatrix encode_texts(const std::vector<std::string>&) const override {
    throw Error(ErrorCode::kUnsupported, "SPRC model '" + spec_.path + "' has no text-only query; use --method sprc "
                                         "with a reference image and a caption");
  }
  bool fuses_reference() const override { return true; }
  FloatMatrix encode_composed(const float* pixels, int64_t n_images, const std::vector<std::string>& texts) const override {
    return feature_query_rows(model_->encode_composed(pixels, n_images, tokenize(texts)).features, slots_);
  }
  bool supports_method(const std::string& name) const override { return name == "sprc" || name == "image"; }

 private:
  std::unique_ptr<model::SprcModel> model_;
  std::unique_ptr<text::WordPieceTokenizer> tokenizer_;
  model::ModelSpec spec_;
  compose::SlotLayout slots_;
};

}  // namespace

FamilyEntry sprc_family() {
  return {"sprc", detect_sprc, [](const std::string& path, const EncoderOptions& options) -> std::unique_ptr<ModelFamily> {
            return std::make_unique<SprcFamily>(path, options);
          }};
}

}  // namespace cir::engine
