#include <filesystem>

#include "cir/engine.h"

namespace cir::engine {

std::string tokenizer_directory(const std::string& model_path) {
  namespace fs = std::filesystem;
  const fs::path p(model_path);
  return fs::is_directory(p) ? p.string() : p.parent_path().string();
}

std::unique_ptr<Encoder> Encoder::open(const std::string& model_path, const EncoderOptions& options) {
  std::unique_ptr<Encoder> enc(new Encoder());
  enc->options_ = options;
  model::ModelOptions mo;
  mo.dtype = options.dtype;
  mo.n_threads = options.n_threads;
  enc->model_ = model::ClipModel::load(model_path, mo);
  enc->tokenizer_ = std::make_unique<text::ClipTokenizer>(
      text::ClipTokenizer::from_directory(tokenizer_directory(model_path)));
  return enc;
}

FloatMatrix Encoder::encode_images(const std::vector<image::ImageU8>& images) const {
  const auto& spec = model_->spec();
  const int64_t size = spec.preprocess.image_size;
  FloatMatrix out(static_cast<int64_t>(images.size()), spec.embed_dim);
  const int64_t batch = std::max(1, options_.batch_size);
  std::vector<float> pixels;
  for (int64_t start = 0; start < out.rows; start += batch) {
    const int64_t n = std::min(batch, out.rows - start);
    pixels.assign(static_cast<size_t>(n * 3 * size * size), 0.f);
    parallel_for(n, options_.n_threads, [&](int64_t i) {
      image::preprocess_into(images[start + i], spec.preprocess, pixels.data() + i * 3 * size * size);
    });
    const FloatMatrix part = model_->encode_images(pixels.data(), n);
    std::copy(part.data.begin(), part.data.end(), out.row(start));
  }
  return out;
}

FloatMatrix Encoder::encode_image_files(const std::vector<std::string>& paths) const {
  const auto& spec = model_->spec();
  const int64_t size = spec.preprocess.image_size;
  FloatMatrix out(static_cast<int64_t>(paths.size()), spec.embed_dim);
  const int64_t batch = std::max(1, options_.batch_size);
  std::vector<float> pixels;
  for (int64_t start = 0; start < out.rows; start += batch) {
    const int64_t n = std::min(batch, out.rows - start);
    pixels.assign(static_cast<size_t>(n * 3 * size * size), 0.f);
    parallel_for(n, options_.n_threads, [&](int64_t i) {
      const image::ImageU8 img = image::decode_image_file(paths[start + i], options_.decode);
      image::preprocess_into(img, spec.preprocess, pixels.data() + i * 3 * size * size);
    });
    const FloatMatrix part = model_->encode_images(pixels.data(), n);
    std::copy(part.data.begin(), part.data.end(), out.row(start));
  }
  return out;
}

TokenBatch Encoder::tokenize(const std::vector<std::string>& texts) const {
  return tokenizer_->tokenize(texts, model_->spec().context_length);
}

FloatMatrix Encoder::encode_texts(const std::vector<std::string>& texts) const {
  const auto& spec = model_->spec();
  FloatMatrix out(static_cast<int64_t>(texts.size()), spec.embed_dim);
  const size_t batch = static_cast<size_t>(std::max(1, options_.batch_size));
  for (size_t start = 0; start < texts.size(); start += batch) {
    const size_t end = std::min(texts.size(), start + batch);
    const std::vector<std::string> part_texts(texts.begin() + start, texts.begin() + end);
    const FloatMatrix part = model_->encode_texts(tokenize(part_texts));
    std::copy(part.data.begin(), part.data.end(), out.row(static_cast<int64_t>(start)));
  }
  return out;
}

}  // namespace cir::engine
