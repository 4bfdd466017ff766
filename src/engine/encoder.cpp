// Encoder: decode -> preprocess -> the model family (src/engine/family.h). The family is
// decided once, at open, by the registry; everything here is batching and plumbing, the same
// for every family, and downstream code sees rows of spec().embed_dim and vectors_per_image()
// rows per image.
#include <algorithm>
#include <filesystem>

#include "cir/engine.h"
#include "engine/family.h"

namespace cir::engine {
namespace fs = std::filesystem;

std::string tokenizer_directory(const std::string& model_path) {
  const fs::path p(model_path);
  return fs::is_directory(p) ? p.string() : p.parent_path().string();
}

Encoder::Encoder() = default;
Encoder::~Encoder() = default;

std::unique_ptr<Encoder> Encoder::open(const std::string& model_path, const EncoderOptions& options) {
  std::unique_ptr<Encoder> enc(new Encoder());
  enc->options_ = options;
  enc->family_ = family_for(model_path).open(model_path, options);
  enc->spec_ = enc->family_->spec();
  enc->slots_ = enc->family_->slot_layout();
  return enc;
}

const model::ClipModel* Encoder::clip_model() const { return family_->clip_model(); }
const text::ClipTokenizer* Encoder::clip_tokenizer() const { return family_->clip_tokenizer(); }
const model::Blip2Model* Encoder::blip2_model() const { return family_->blip2_model(); }

const model::ClipModel& Encoder::model() const {
  if (!clip_model())
    throw Error(ErrorCode::kUnsupported, "this needs a CLIP model; '" + spec_.path + "' is a " + spec_.family + " model");
  return *clip_model();
}

const text::ClipTokenizer& Encoder::tokenizer() const {
  if (!clip_tokenizer())
    throw Error(ErrorCode::kUnsupported, "this needs a CLIP tokenizer; '" + spec_.path + "' is a " + spec_.family + " model");
  return *clip_tokenizer();
}

std::vector<index::RowPart> Encoder::row_parts() const {
  if (!slots_.multi_vector()) return {};
  return {{"features", slots_.feature_dim}, {"query_embeds", slots_.state_dim}};
}

ImageRows Encoder::encode_pixel_rows(const float* pixels, int64_t n_images) const {
  ImageRows out = family_->encode_pixel_rows(pixels, n_images);
  out.vectors_per_image = vectors_per_image();
  return out;
}

std::vector<float> Encoder::image_query_row(const float* rows, int64_t n_rows, double norm) const {
  return family_->image_query_row(rows, n_rows, norm);
}

void Encoder::preprocess_batch(const std::vector<image::ImageU8>* images, const std::vector<std::string>* paths,
                               int64_t start, int64_t n, std::vector<float>& pixels) const {
  const int64_t size = spec_.preprocess.image_size;
  pixels.assign(static_cast<size_t>(n * 3 * size * size), 0.f);
  parallel_for(n, options_.n_threads, [&](int64_t i) {
    float* dst = pixels.data() + i * 3 * size * size;
    if (images) {
      image::preprocess_into((*images)[static_cast<size_t>(start + i)], spec_.preprocess, dst);
    } else {
      const image::ImageU8 img = image::decode_image_file((*paths)[static_cast<size_t>(start + i)], options_.decode);
      image::preprocess_into(img, spec_.preprocess, dst);
    }
  });
}

ImageRows Encoder::encode_image_rows(const std::vector<image::ImageU8>& images) const {
  ImageRows out;
  out.n_images = static_cast<int64_t>(images.size());
  out.vectors_per_image = vectors_per_image();
  out.rows = FloatMatrix(0, spec_.embed_dim);
  const int64_t batch = std::max(1, options_.batch_size);
  std::vector<float> pixels;
  for (int64_t start = 0; start < out.n_images; start += batch) {
    const int64_t n = std::min(batch, out.n_images - start);
    preprocess_batch(&images, nullptr, start, n, pixels);
    ImageRows part = encode_pixel_rows(pixels.data(), n);
    out.rows.data.insert(out.rows.data.end(), part.rows.data.begin(), part.rows.data.end());
    out.rows.rows += part.rows.rows;
    out.norms.insert(out.norms.end(), part.norms.begin(), part.norms.end());
  }
  return out;
}

FloatMatrix Encoder::encode_images(const std::vector<image::ImageU8>& images) const {
  FloatMatrix out(static_cast<int64_t>(images.size()), spec_.embed_dim);
  const int64_t batch = std::max(1, options_.batch_size);
  std::vector<float> pixels;
  for (int64_t start = 0; start < out.rows; start += batch) {
    const int64_t n = std::min(batch, out.rows - start);
    preprocess_batch(&images, nullptr, start, n, pixels);
    const FloatMatrix part = family_->encode_image_queries(pixels.data(), n);
    std::copy(part.data.begin(), part.data.end(), out.row(start));
  }
  return out;
}

FloatMatrix Encoder::encode_image_files(const std::vector<std::string>& paths) const {
  FloatMatrix out(static_cast<int64_t>(paths.size()), spec_.embed_dim);
  const int64_t batch = std::max(1, options_.batch_size);
  std::vector<float> pixels;
  for (int64_t start = 0; start < out.rows; start += batch) {
    const int64_t n = std::min(batch, out.rows - start);
    preprocess_batch(nullptr, &paths, start, n, pixels);
    const FloatMatrix part = family_->encode_image_queries(pixels.data(), n);
    std::copy(part.data.begin(), part.data.end(), out.row(start));
  }
  return out;
}

TokenBatch Encoder::tokenize(const std::vector<std::string>& texts) const { return family_->tokenize(texts); }

FloatMatrix Encoder::encode_texts(const std::vector<std::string>& texts) const {
  FloatMatrix out(static_cast<int64_t>(texts.size()), spec_.embed_dim);
  const size_t batch = static_cast<size_t>(std::max(1, options_.batch_size));
  for (size_t start = 0; start < texts.size(); start += batch) {
    const size_t end = std::min(texts.size(), start + batch);
    const FloatMatrix part = family_->encode_texts({texts.begin() + start, texts.begin() + end});
    std::copy(part.data.begin(), part.data.end(), out.row(static_cast<int64_t>(start)));
  }
  return out;
}

std::vector<FloatMatrix> Encoder::encode_text_states(const std::vector<std::string>& texts, bool all_tokens) const {
  return family_->encode_text_states(texts, all_tokens);
}

bool Encoder::fuses_reference() const { return family_->fuses_reference(); }

FloatMatrix Encoder::encode_composed(const std::vector<image::ImageU8>& references,
                                     const std::vector<std::string>& texts) const {
  if (references.size() != texts.size())
    throw Error(ErrorCode::kInvalidArgument, "encode_composed: " + std::to_string(texts.size()) + " texts for " +
                                                 std::to_string(references.size()) + " reference images");
  FloatMatrix out(static_cast<int64_t>(texts.size()), spec_.embed_dim);
  const int64_t batch = std::max(1, options_.batch_size);
  std::vector<float> pixels;
  for (int64_t start = 0; start < out.rows; start += batch) {
    const int64_t n = std::min(batch, out.rows - start);
    preprocess_batch(&references, nullptr, start, n, pixels);
    const FloatMatrix part =
        family_->encode_composed(pixels.data(), n, {texts.begin() + start, texts.begin() + start + n});
    std::copy(part.data.begin(), part.data.end(), out.row(start));
  }
  return out;
}

namespace {

// What a method that a family refuses needs instead, so the refusal says what to build.
std::string method_requirement(const std::string& method) {
  if (method.rfind("ziracle", 0) == 0) return "it scores BLIP-2 Q-Former slots: build the index with a BLIP-2 checkpoint";
  if (method == "sprc") return "it fuses the reference inside SPRC: build the index with an SPRC checkpoint";
  return "build the index with a CLIP checkpoint";
}

}  // namespace

void Encoder::check_method(const std::string& method) const {
  if (!family_->supports_method(method))
    throw Error(ErrorCode::kUnsupported, "method '" + method + "' does not run on " + spec_.family + " models ('" +
                                             spec_.path + "'); " + method_requirement(method));
}

}  // namespace cir::engine
