// cir engine (L3): wires decoding, preprocessing, tokenisation and the model into one
// encoder, and (with the index) the one query path `Engine::query_batch` that the CLI, the
// HTTP server and the evaluation harness all call.
//
// Contract: plain types in and out (paths, strings, FloatMatrix). An Encoder owns its model
// and tokenizer; its methods are safe to call from several threads. Errors: cir::Error from
// the modules below, with the failing file or text named.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cir/core.h"
#include "cir/image.h"
#include "cir/model.h"
#include "cir/text.h"

namespace cir::engine {

struct EncoderOptions {
  model::DType dtype = model::DType::kFloat32;
  int n_threads = 0;       ///< 0 = default_thread_count()
  int batch_size = 32;     ///< images or texts per model call
  image::DecodeOptions decode;
};

/// Images and texts to embeddings for one model directory / checkpoint.
class Encoder {
 public:
  static std::unique_ptr<Encoder> open(const std::string& model_path, const EncoderOptions& options = {});

  const model::ModelSpec& spec() const { return model_->spec(); }
  const model::ClipModel& model() const { return *model_; }
  const text::ClipTokenizer& tokenizer() const { return *tokenizer_; }
  const EncoderOptions& options() const { return options_; }

  /// Decodes, preprocesses and encodes image files (n x embed_dim, not normalised).
  /// Decoding runs on the worker pool, batch by batch.
  FloatMatrix encode_image_files(const std::vector<std::string>& paths) const;
  /// Preprocesses and encodes decoded images.
  FloatMatrix encode_images(const std::vector<image::ImageU8>& images) const;
  /// Tokenises (context from the model) and encodes (n x embed_dim, not normalised).
  FloatMatrix encode_texts(const std::vector<std::string>& texts) const;
  TokenBatch tokenize(const std::vector<std::string>& texts) const;

 private:
  Encoder() = default;
  EncoderOptions options_;
  std::unique_ptr<model::ClipModel> model_;
  std::unique_ptr<text::ClipTokenizer> tokenizer_;
};

/// Where a model's tokenizer files are: the directory itself, or the .pt file's directory.
std::string tokenizer_directory(const std::string& model_path);

}  // namespace cir::engine
