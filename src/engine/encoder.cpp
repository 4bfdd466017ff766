// Encoder: decode -> preprocess -> model, for the CLIP and BLIP-2 families.
//
// The family is decided once, at open; everything downstream sees rows of spec().embed_dim and
// vectors_per_image() rows per image. BLIP-2 rows put the projected retrieval feature and the
// unprojected Q-Former query output side by side ([f | q], each normalised), so one store row
// serves both plain max-over-vectors retrieval (query [x | 0]) and ZIRACLE (query [0 | v]).
#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "cir/engine.h"

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

}  // namespace

std::string tokenizer_directory(const std::string& model_path) {
  const fs::path p(model_path);
  return fs::is_directory(p) ? p.string() : p.parent_path().string();
}

std::string model_family(const std::string& model_path) {
  const fs::path p(model_path);
  std::error_code ec;
  if (fs::is_regular_file(p, ec)) return p.extension() == ".pth" ? "blip2" : "clip";
  if (!fs::is_directory(p, ec)) return "clip";  // the CLIP loader names the missing path
  if (fs::exists(p / "config.json", ec)) return is_blip2_config(p / "config.json") ? "blip2" : "clip";
  return holds_pth(p) ? "blip2" : "clip";
}

std::unique_ptr<Encoder> Encoder::open(const std::string& model_path, const EncoderOptions& options) {
  std::unique_ptr<Encoder> enc(new Encoder());
  enc->options_ = options;
  model::ModelOptions mo;
  mo.dtype = options.dtype;
  mo.n_threads = options.n_threads;
  if (model_family(model_path) == "blip2") {
    enc->blip2_ = model::Blip2Model::load(model_path, mo);
    enc->wordpiece_ = std::make_unique<text::WordPieceTokenizer>(
        text::WordPieceTokenizer::from_directory(tokenizer_directory(model_path)));
    const auto& b = enc->blip2_->spec();
    enc->spec_ = summarize_blip2(b);
    enc->slots_ = {b.n_query_tokens, b.embed_dim, b.qformer_width};
    return enc;
  }
  enc->clip_ = model::ClipModel::load(model_path, mo);
  enc->clip_tokenizer_ = std::make_unique<text::ClipTokenizer>(
      text::ClipTokenizer::from_directory(tokenizer_directory(model_path)));
  enc->spec_ = enc->clip_->spec();
  return enc;
}

const model::ClipModel& Encoder::model() const {
  if (!clip_)
    throw Error(ErrorCode::kUnsupported, "this needs a CLIP model; '" + spec_.path + "' is a " + spec_.family + " model");
  return *clip_;
}

const text::ClipTokenizer& Encoder::tokenizer() const {
  if (!clip_tokenizer_)
    throw Error(ErrorCode::kUnsupported, "this needs a CLIP tokenizer; '" + spec_.path + "' is a " + spec_.family + " model");
  return *clip_tokenizer_;
}

std::vector<index::RowPart> Encoder::row_parts() const {
  if (!slots_.multi_vector()) return {};
  return {{"features", slots_.feature_dim}, {"query_embeds", slots_.state_dim}};
}

ImageRows Encoder::encode_pixel_rows(const float* pixels, int64_t n_images) const {
  ImageRows out;
  out.n_images = n_images;
  out.vectors_per_image = vectors_per_image();
  if (clip_) {
    out.rows = clip_->encode_images(pixels, n_images);
    out.norms.resize(static_cast<size_t>(n_images));
    for (int64_t i = 0; i < n_images; ++i) {
      double s = 0;
      for (int64_t j = 0; j < out.rows.cols; ++j) s += double(out.rows.row(i)[j]) * out.rows.row(i)[j];
      out.norms[static_cast<size_t>(i)] = std::sqrt(s);
    }
    normalize_rows(out.rows);
    return out;
  }
  const model::Blip2ImageEmbeddings e = blip2_->encode_images(pixels, n_images);
  const int64_t fd = slots_.feature_dim, sd = slots_.state_dim;
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

std::vector<float> Encoder::image_query_row(const float* rows, int64_t n_rows, double norm) const {
  const int64_t dim = spec_.embed_dim;
  std::vector<float> out(static_cast<size_t>(dim), 0.f);
  if (!slots_.multi_vector()) {
    std::copy_n(rows, dim, out.begin());
    if (norm > 0)
      for (auto& x : out) x *= static_cast<float>(norm);
    return out;
  }
  // BLIP-2 image query: the normalised mean of the projected features, state part zero.
  std::vector<double> mean(static_cast<size_t>(slots_.feature_dim), 0.0);
  for (int64_t r = 0; r < n_rows; ++r)
    for (int k = 0; k < slots_.feature_dim; ++k) mean[static_cast<size_t>(k)] += rows[r * dim + k];
  for (int k = 0; k < slots_.feature_dim; ++k) out[static_cast<size_t>(k)] = static_cast<float>(mean[static_cast<size_t>(k)]);
  normalize_in_place({out.data(), static_cast<size_t>(slots_.feature_dim)});
  return out;
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

namespace {

// One query row per image from gallery rows (BLIP-2 path of encode_images / encode_image_files).
FloatMatrix query_rows_of(const Encoder& enc, const ImageRows& rows) {
  FloatMatrix out(rows.n_images, enc.spec().embed_dim);
  for (int64_t i = 0; i < rows.n_images; ++i) {
    const auto q = enc.image_query_row(rows.rows.row(i * rows.vectors_per_image), rows.vectors_per_image);
    std::copy(q.begin(), q.end(), out.row(i));
  }
  return out;
}

}  // namespace

FloatMatrix Encoder::encode_images(const std::vector<image::ImageU8>& images) const {
  const int64_t n_images = static_cast<int64_t>(images.size());
  if (!clip_) return query_rows_of(*this, encode_image_rows(images));
  FloatMatrix out(n_images, spec_.embed_dim);
  const int64_t batch = std::max(1, options_.batch_size);
  std::vector<float> pixels;
  for (int64_t start = 0; start < out.rows; start += batch) {
    const int64_t n = std::min(batch, out.rows - start);
    preprocess_batch(&images, nullptr, start, n, pixels);
    const FloatMatrix part = clip_->encode_images(pixels.data(), n);
    std::copy(part.data.begin(), part.data.end(), out.row(start));
  }
  return out;
}

FloatMatrix Encoder::encode_image_files(const std::vector<std::string>& paths) const {
  const int64_t n_images = static_cast<int64_t>(paths.size());
  FloatMatrix out(n_images, spec_.embed_dim);
  const int64_t batch = std::max(1, options_.batch_size);
  std::vector<float> pixels;
  for (int64_t start = 0; start < out.rows; start += batch) {
    const int64_t n = std::min(batch, out.rows - start);
    preprocess_batch(nullptr, &paths, start, n, pixels);
    const FloatMatrix part = clip_ ? clip_->encode_images(pixels.data(), n)
                                   : query_rows_of(*this, encode_pixel_rows(pixels.data(), n));
    std::copy(part.data.begin(), part.data.end(), out.row(start));
  }
  return out;
}

TokenBatch Encoder::tokenize(const std::vector<std::string>& texts) const {
  if (wordpiece_) return wordpiece_->tokenize(texts, kBlip2ContextLength);
  return clip_tokenizer_->tokenize(texts, spec_.context_length);
}

FloatMatrix Encoder::encode_texts(const std::vector<std::string>& texts) const {
  FloatMatrix out(static_cast<int64_t>(texts.size()), spec_.embed_dim);
  const size_t batch = static_cast<size_t>(std::max(1, options_.batch_size));
  for (size_t start = 0; start < texts.size(); start += batch) {
    const size_t end = std::min(texts.size(), start + batch);
    const std::vector<std::string> part_texts(texts.begin() + start, texts.begin() + end);
    if (clip_) {
      const FloatMatrix part = clip_->encode_texts(tokenize(part_texts));
      std::copy(part.data.begin(), part.data.end(), out.row(static_cast<int64_t>(start)));
      continue;
    }
    // BLIP-2 text query: the normalised projected [CLS] feature, state part zero.
    const model::Blip2TextEmbeddings e = blip2_->encode_texts(tokenize(part_texts));
    for (int64_t i = 0; i < e.features.rows; ++i)
      std::copy_n(e.features.row(i), slots_.feature_dim, out.row(static_cast<int64_t>(start) + i));
  }
  return out;
}

std::vector<FloatMatrix> Encoder::encode_text_states(const std::vector<std::string>& texts, bool all_tokens) const {
  if (!blip2_)
    throw Error(ErrorCode::kUnsupported, "text states (Q-Former [CLS]) need a BLIP-2 model; '" + spec_.path + "' is a " +
                                             spec_.family + " model");
  const TokenBatch tokens = tokenize(texts);
  if (all_tokens) return blip2_->encode_text_tokens(tokens);
  const model::Blip2TextEmbeddings e = blip2_->encode_texts(tokens);
  std::vector<FloatMatrix> out;
  out.reserve(texts.size());
  for (int64_t i = 0; i < e.cls_embeds.rows; ++i) {
    FloatMatrix one(1, e.cls_embeds.cols);
    std::copy_n(e.cls_embeds.row(i), e.cls_embeds.cols, one.row(0));
    out.push_back(std::move(one));
  }
  return out;
}

}  // namespace cir::engine
