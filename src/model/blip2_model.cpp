// Blip2Model: the public face of the BLIP-2 network. Converts row-major float buffers and
// token batches to tensors, runs the Blip2Net under InferenceMode in the chosen dtype, and turns
// every c10::Error into a cir::Error with context.
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cstring>

#include "cir/blip2.h"
#include "model/blip2_net.h"
#include "model/cpu_kernels.h"
#include "model/tensor_rows.h"

namespace cir::model {
namespace {

using detail::append_rows;
using detail::normalized;
using detail::rethrow_torch;

// Chunks bound activation memory (ViT-g keeps ~257 x 6144 values per image in its MLP); rows
// are independent, so chunking does not change results.
constexpr int64_t kImageChunk = 16;
constexpr int64_t kTextChunk = 256;

void check_batch(const char* what, const float* pixels, int64_t n_images) {
  if (n_images < 0)
    throw Error(ErrorCode::kInvalidArgument, std::string(what) + ": n_images must be >= 0, found " + std::to_string(n_images));
  if (n_images > 0 && pixels == nullptr) throw Error(ErrorCode::kInvalidArgument, std::string(what) + ": pixels is null");
}

}  // namespace

struct Blip2Model::Impl {
  Blip2Spec spec;
  DType dtype = DType::kFloat32;
  at::ScalarType scalar_type = at::kFloat;
  int n_threads = 1;
  std::unique_ptr<detail::Blip2Net> net;

  // Intra-op threads are per calling thread under OpenMP: set them on whichever thread encodes.
  void prepare_thread() const { set_torch_threads(n_threads); }

  void set_dtype(DType d) {
    dtype = d;
    scalar_type = d == DType::kBFloat16 ? at::kBFloat16 : at::kFloat;
    // bf16 linear/conv/bmm run through oneDNN; make sure libtorch may use it.
    if (d == DType::kBFloat16) at::globalContext().setUserEnabledMkldnn(true);
  }

  at::Tensor pixel_tensor(const float* pixels, int64_t first, int64_t count) const {
    return detail::pixel_batch(pixels, first, count, spec.image_size, scalar_type);
  }

  struct TokenRows {
    at::Tensor ids;   // [n, L] int64, trimmed to the longest row
    at::Tensor mask;  // [n, L] float, 1 for real tokens
  };
  TokenRows token_rows(const char* what, const TokenBatch& tokens, int64_t first, int64_t count) const;
  void check_tokens(const char* what, const TokenBatch& tokens) const;
};


Blip2Model::Blip2Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Blip2Model::~Blip2Model() = default;
const Blip2Spec& Blip2Model::spec() const { return impl_->spec; }
DType Blip2Model::dtype() const { return impl_->dtype; }

std::unique_ptr<Blip2Model> Blip2Model::load(const std::string& path, const ModelOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->n_threads = options.n_threads > 0 ? options.n_threads : default_thread_count();
  impl->prepare_thread();
  impl->spec = read_blip2_spec(path);
  detail::check_parameter_budget(impl->spec);
  try {
    impl->net = std::make_unique<detail::Blip2Net>(impl->spec);
    impl->spec.n_parameters = detail::load_blip2_weights(*impl->net, impl->spec);
    impl->set_dtype(options.dtype);
    impl->net->finish_loading(impl->scalar_type);
  } catch (const c10::Error& e) {
    throw Error(ErrorCode::kModel, "loading BLIP-2 model '" + path + "': libtorch error: " + e.what_without_backtrace());
  }
  if (options.hash_weights) impl->spec.weights_sha256 = sha256_file(impl->spec.weights_file);
  return std::unique_ptr<Blip2Model>(new Blip2Model(std::move(impl)));
}

std::unique_ptr<Blip2Model> Blip2Model::random(const Blip2Spec& spec, const ModelOptions& options, uint64_t seed) {
  auto impl = std::make_unique<Impl>();
  impl->n_threads = options.n_threads > 0 ? options.n_threads : default_thread_count();
  impl->prepare_thread();
  impl->spec = spec;
  impl->spec.format = "random";
  impl->spec.preprocess.image_size = spec.image_size;
  try {
    impl->net = std::make_unique<detail::Blip2Net>(impl->spec);
    impl->set_dtype(options.dtype);
    impl->spec.n_parameters = detail::fill_random_blip2(*impl->net, impl->scalar_type, seed);
    impl->net->finish_loading(impl->scalar_type);
  } catch (const c10::Error& e) {
    throw Error(ErrorCode::kModel, std::string("building a random BLIP-2 model: libtorch error: ") + e.what_without_backtrace());
  }
  return std::unique_ptr<Blip2Model>(new Blip2Model(std::move(impl)));
}

void Blip2Model::Impl::check_tokens(const char* what, const TokenBatch& tokens) const {
  if (tokens.n_texts < 0 || tokens.context_length <= 0 ||
      tokens.ids.size() != static_cast<size_t>(tokens.n_texts * tokens.context_length))
    throw Error(ErrorCode::kInvalidArgument, std::string(what) + ": token batch holds " + std::to_string(tokens.ids.size()) +
                                                 " ids, expected n_texts x context_length = " + std::to_string(tokens.n_texts) +
                                                 " x " + std::to_string(tokens.context_length));
  if (tokens.lengths.size() != static_cast<size_t>(tokens.n_texts))
    throw Error(ErrorCode::kInvalidArgument, std::string(what) + ": " + std::to_string(tokens.lengths.size()) +
                                                 " lengths for " + std::to_string(tokens.n_texts) +
                                                 " texts (BLIP-2 needs every row's length for its padding mask)");
}

Blip2Model::Impl::TokenRows Blip2Model::Impl::token_rows(const char* what, const TokenBatch& tokens, int64_t first,
                                                         int64_t count) const {
  const int64_t ctx = tokens.context_length;
  int64_t longest = 1;
  for (int64_t r = first; r < first + count; ++r) {
    const int64_t len = tokens.lengths[static_cast<size_t>(r)];
    if (len < 1 || len > ctx)
      throw Error(ErrorCode::kInvalidArgument, std::string(what) + ": row " + std::to_string(r) + " has length " +
                                                   std::to_string(len) + ", expected 1.." + std::to_string(ctx));
    longest = std::max(longest, len);
  }
  if (longest > spec.max_positions)
    throw Error(ErrorCode::kInvalidArgument, std::string(what) + ": a row has " + std::to_string(longest) +
                                                 " tokens but the Q-Former has " + std::to_string(spec.max_positions) +
                                                 " positions");
  at::Tensor ids = at::zeros({count, longest}, at::TensorOptions().dtype(at::kLong));
  at::Tensor mask = at::zeros({count, longest}, at::TensorOptions().dtype(at::kFloat));
  int64_t* id_out = ids.data_ptr<int64_t>();
  float* mask_out = mask.data_ptr<float>();
  for (int64_t r = 0; r < count; ++r) {
    const int32_t* src = tokens.ids.data() + (first + r) * ctx;
    const int64_t len = tokens.lengths[static_cast<size_t>(first + r)];
    for (int64_t j = 0; j < len; ++j) {
      if (src[j] < 0 || src[j] >= spec.vocab_size)
        throw Error(ErrorCode::kInvalidArgument, std::string(what) + ": token id " + std::to_string(src[j]) + " at row " +
                                                     std::to_string(first + r) + ", position " + std::to_string(j) +
                                                     " is outside the vocabulary [0, " + std::to_string(spec.vocab_size) + ")");
      id_out[r * longest + j] = src[j];
      mask_out[r * longest + j] = 1.f;
    }
  }
  return {ids, mask};
}

FloatMatrix Blip2Model::encode_vision_tokens(const float* pixels, int64_t n_images) const {
  check_batch("encode_vision_tokens", pixels, n_images);
  FloatMatrix out(0, impl_->spec.vision_width);
  try {
    impl_->prepare_thread();
    c10::InferenceMode guard;
    for (int64_t first = 0; first < n_images; first += kImageChunk) {
      const int64_t count = std::min(kImageChunk, n_images - first);
      append_rows(out, impl_->net->vision_tokens(impl_->pixel_tensor(pixels, first, count)));
    }
  } catch (const c10::Error& e) {
    rethrow_torch("encode_vision_tokens", e);
  }
  return out;
}

Blip2ImageEmbeddings Blip2Model::encode_images(const float* pixels, int64_t n_images) const {
  check_batch("encode_images", pixels, n_images);
  const Blip2Spec& spec = impl_->spec;
  Blip2ImageEmbeddings out;
  out.n_images = n_images;
  out.n_query_tokens = spec.n_query_tokens;
  out.query_embeds = FloatMatrix(0, spec.qformer_width);
  out.features = FloatMatrix(0, spec.embed_dim);
  try {
    impl_->prepare_thread();
    c10::InferenceMode guard;
    for (int64_t first = 0; first < n_images; first += kImageChunk) {
      const int64_t count = std::min(kImageChunk, n_images - first);
      const at::Tensor image_tokens = impl_->net->vision_tokens(impl_->pixel_tensor(pixels, first, count));
      const at::Tensor queries = impl_->net->query_embeds(image_tokens);
      append_rows(out.query_embeds, queries);
      append_rows(out.features, normalized(impl_->net->vision_proj(queries)));
    }
  } catch (const c10::Error& e) {
    rethrow_torch("encode_images", e);
  }
  return out;
}

Blip2TextEmbeddings Blip2Model::encode_texts(const TokenBatch& tokens) const {
  impl_->check_tokens("encode_texts", tokens);
  const Blip2Spec& spec = impl_->spec;
  Blip2TextEmbeddings out;
  out.cls_embeds = FloatMatrix(0, spec.qformer_width);
  out.features = FloatMatrix(0, spec.embed_dim);
  try {
    impl_->prepare_thread();
    c10::InferenceMode guard;
    for (int64_t first = 0; first < tokens.n_texts; first += kTextChunk) {
      const int64_t count = std::min(kTextChunk, tokens.n_texts - first);
      const auto rows = impl_->token_rows("encode_texts", tokens, first, count);
      const at::Tensor cls = impl_->net->text_hidden(rows.ids, rows.mask).select(1, 0);
      append_rows(out.cls_embeds, cls);
      append_rows(out.features, normalized(impl_->net->text_proj(cls)));
    }
  } catch (const c10::Error& e) {
    rethrow_torch("encode_texts", e);
  }
  return out;
}

std::vector<FloatMatrix> Blip2Model::encode_text_tokens(const TokenBatch& tokens) const {
  impl_->check_tokens("encode_text_tokens", tokens);
  std::vector<FloatMatrix> out;
  out.reserve(static_cast<size_t>(tokens.n_texts));
  try {
    impl_->prepare_thread();
    c10::InferenceMode guard;
    for (int64_t first = 0; first < tokens.n_texts; first += kTextChunk) {
      const int64_t count = std::min(kTextChunk, tokens.n_texts - first);
      const auto rows = impl_->token_rows("encode_text_tokens", tokens, first, count);
      const at::Tensor hidden = impl_->net->text_hidden(rows.ids, rows.mask);
      for (int64_t r = 0; r < count; ++r) {
        const int64_t len = tokens.lengths[static_cast<size_t>(first + r)];
        FloatMatrix states(0, impl_->spec.qformer_width);
        append_rows(states, hidden.select(0, r).narrow(0, 0, len));
        out.push_back(std::move(states));
      }
    }
  } catch (const c10::Error& e) {
    rethrow_torch("encode_text_tokens", e);
  }
  return out;
}

FloatMatrix Blip2Model::encode_multimodal(const float* pixels, int64_t n_images, const TokenBatch& tokens) const {
  check_batch("encode_multimodal", pixels, n_images);
  impl_->check_tokens("encode_multimodal", tokens);
  if (tokens.n_texts != n_images)
    throw Error(ErrorCode::kInvalidArgument, "encode_multimodal: " + std::to_string(tokens.n_texts) + " texts for " +
                                                 std::to_string(n_images) + " images (one text per image expected)");
  FloatMatrix out(0, impl_->spec.qformer_width);
  try {
    impl_->prepare_thread();
    c10::InferenceMode guard;
    for (int64_t first = 0; first < n_images; first += kImageChunk) {
      const int64_t count = std::min(kImageChunk, n_images - first);
      const at::Tensor image_tokens = impl_->net->vision_tokens(impl_->pixel_tensor(pixels, first, count));
      const auto rows = impl_->token_rows("encode_multimodal", tokens, first, count);
      append_rows(out, impl_->net->multimodal_embeds(image_tokens, rows.ids, rows.mask));
    }
  } catch (const c10::Error& e) {
    rethrow_torch("encode_multimodal", e);
  }
  return out;
}

}  // namespace cir::model
