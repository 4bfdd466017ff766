// The BLIP-2 family (HF Blip2ForImageTextRetrieval directories, LAVIS .pth): n_query_tokens
// slot rows per image, [n(vision_proj(q_i)) | n(q_i)], so one store row serves plain
// max-over-slots retrieval (query [x | 0]) and ZIRACLE (query [0 | v]).
#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "engine/family.h"

namespace cir::engine {
namespace fs = std::filesystem;

namespace {

constexpr int kBlip2ContextLength = 32;  // LAVIS max_txt_len

bool is_blip2_config(const fs::path& config) {
  std::error_code ec;
  if (!fs::is_regular_file(config, ec)) return false;
  const std::string text = read_file_text(config.string());
  check_json_depth(text, "'" + config.string() + "'");
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return false;  // the CLIP loader reports bad JSON
  if (j.contains("qformer_config")) return true;
  return j.contains("model_type") && j["model_type"].is_string() && j["model_type"].get<std::string>() == "blip-2";
}

bool holds_pth(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().extension() == ".pth") return true;
  return false;
}

bool detect_blip2(const std::string& path) {
  const fs::path p(path);
  std::error_code ec;
  if (fs::is_regular_file(p, ec)) return p.extension() == ".pth";
  if (!fs::is_directory(p, ec)) return false;
  if (fs::exists(p / "config.json", ec)) return is_blip2_config(p / "config.json");
  return holds_pth(p);
}

class Blip2Family final : public ModelFamily {
 public:
  Blip2Family(const std::string& path, const EncoderOptions& options) {
    model::ModelOptions mo;
    mo.dtype = options.dtype;
    mo.n_threads = options.n_threads;
    model_ = model::Blip2Model::load(path, mo);
    tokenizer_ = std::make_unique<text::WordPieceTokenizer>(
        text::WordPieceTokenizer::from_directory(tokenizer_directory(path)));
    const model::Blip2Spec& b = model_->spec();
    spec_ = summarize_blip2(b);
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
  TokenBatch tokenize(const std::vector<std::string>& texts) const override {
    return tokenizer_->tokenize(texts, kBlip2ContextLength);
  }
  // The text query: the normalised projected [CLS] feature, state part zero.
  FloatMatrix encode_texts(const std::vector<std::string>& texts) const override {
    return feature_query_rows(model_->encode_texts(tokenize(texts)).features, slots_);
  }
  std::vector<FloatMatrix> encode_text_states(const std::vector<std::string>& texts, bool all_tokens) const override {
    const TokenBatch tokens = tokenize(texts);
    if (all_tokens) return model_->encode_text_tokens(tokens);
    const model::Blip2TextEmbeddings e = model_->encode_texts(tokens);
    std::vector<FloatMatrix> out;
    out.reserve(texts.size());
    for (int64_t i = 0; i < e.cls_embeds.rows; ++i) {
      FloatMatrix one(1, e.cls_embeds.cols);
      std::copy_n(e.cls_embeds.row(i), e.cls_embeds.cols, one.row(0));
      out.push_back(std::move(one));
    }
    return out;
  }
  bool supports_method(const std::string& name) const override { return name != "sprc"; }
  const model::Blip2Model* blip2_model() const override { return model_.get(); }

 private:
  std::unique_ptr<model::Blip2Model> model_;
  std::unique_ptr<text::WordPieceTokenizer> tokenizer_;
  model::ModelSpec spec_;
  compose::SlotLayout slots_;
};

}  // namespace

model::ModelSpec summarize_blip2(const model::Blip2Spec& b) {
  model::ModelSpec s;
  s.path = b.path;
  s.family = "blip2";
  s.format = b.format;
  s.image_tower = "eva_vit";
  s.activation = "gelu";
  s.embed_dim = b.embed_dim + b.qformer_width;
  s.image_size = b.image_size;
  s.patch_size = b.patch_size;
  s.vision_width = b.vision_width;
  s.vision_layers = b.vision_layers;
  s.vision_heads = b.vision_heads;
  s.text_width = b.qformer_width;
  s.text_heads = b.qformer_heads;
  s.text_layers = b.qformer_layers;
  s.context_length = kBlip2ContextLength;
  s.vocab_size = b.vocab_size;
  s.n_parameters = b.n_parameters;
  s.weights_file = b.weights_file;
  s.weights_sha256 = b.weights_sha256;
  s.preprocess = b.preprocess;
  return s;
}

ImageRows slot_rows(const model::Blip2ImageEmbeddings& e, const compose::SlotLayout& slots) {
  ImageRows out;
  out.n_images = e.n_images;
  out.vectors_per_image = slots.n_slots;
  const int64_t fd = slots.feature_dim, sd = slots.state_dim;
  out.rows = FloatMatrix(e.features.rows, fd + sd);
  for (int64_t r = 0; r < e.features.rows; ++r) {
    float* row = out.rows.row(r);
    std::copy_n(e.features.row(r), fd, row);
    std::copy_n(e.query_embeds.row(r), sd, row + fd);
    normalize_in_place({row, static_cast<size_t>(fd)});  // unit length from the model; kept exact after the copy
    normalize_in_place({row + fd, static_cast<size_t>(sd)});
  }
  return out;
}

std::vector<float> mean_feature_row(const float* rows, int64_t n_rows, const compose::SlotLayout& slots) {
  const int64_t dim = slots.row_dim();
  std::vector<float> out(static_cast<size_t>(dim), 0.f);
  std::vector<double> mean(static_cast<size_t>(slots.feature_dim), 0.0);
  for (int64_t r = 0; r < n_rows; ++r)
    for (int k = 0; k < slots.feature_dim; ++k) mean[static_cast<size_t>(k)] += rows[r * dim + k];
  for (int k = 0; k < slots.feature_dim; ++k) out[static_cast<size_t>(k)] = static_cast<float>(mean[static_cast<size_t>(k)]);
  normalize_in_place({out.data(), static_cast<size_t>(slots.feature_dim)});
  return out;
}

FloatMatrix mean_feature_rows(const ImageRows& rows, const compose::SlotLayout& slots) {
  FloatMatrix out(rows.n_images, slots.row_dim());
  for (int64_t i = 0; i < rows.n_images; ++i) {
    const auto q = mean_feature_row(rows.rows.row(i * rows.vectors_per_image), rows.vectors_per_image, slots);
    std::copy(q.begin(), q.end(), out.row(i));
  }
  return out;
}

FloatMatrix feature_query_rows(const FloatMatrix& features, const compose::SlotLayout& slots) {
  FloatMatrix out(features.rows, slots.row_dim());
  for (int64_t i = 0; i < features.rows; ++i) std::copy_n(features.row(i), slots.feature_dim, out.row(i));
  return out;
}

FamilyEntry blip2_family() {
  return {"blip2", detect_blip2, [](const std::string& path, const EncoderOptions& options) -> std::unique_ptr<ModelFamily> {
            return std::make_unique<Blip2Family>(path, options);
          }};
}

}  // namespace cir::engine
