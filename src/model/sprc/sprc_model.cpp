// SprcModel: the public face of SprcNet. Row-major buffers and token batches in, rows out; runs
// under InferenceMode in the chosen dtype and turns c10::Error into cir::Error with context.
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "cir/blip2.h"
#include "model/cpu_kernels.h"
#include "model/tensor_rows.h"
#include "model/sprc/sprc_net.h"

namespace cir::model {
namespace {

using detail::append_rows;
using detail::normalized;
using detail::rethrow_torch;

// Bounds activation memory for ViT-g as Blip2Model does; rows are independent.
constexpr int64_t kImageChunk = 16;
constexpr int64_t kQueryChunk = 64;

void check_count(const char* what, const void* data, int64_t n) {
  if (n < 0) throw Error(ErrorCode::kInvalidArgument, std::string(what) + ": count must be >= 0, found " + std::to_string(n));
  if (n > 0 && data == nullptr) throw Error(ErrorCode::kInvalidArgument, std::string(what) + ": input buffer is null");
}

}  // namespace

struct SprcModel::Impl {
  SprcSpec spec;
  DType dtype = DType::kFloat32;
  at::ScalarType scalar_type = at::kFloat;
  int n_threads = 1;
  std::unique_ptr<detail::SprcNet> net;

  void prepare_thread() const { set_torch_threads(n_threads); }
  void set_dtype(DType d) {
    dtype = d;
    scalar_type = d == DType::kBFloat16 ? at::kBFloat16 : at::kFloat;
    if (d == DType::kBFloat16) at::globalContext().setUserEnabledMkldnn(true);
  }
  at::Tensor pixel_tensor(const float* pixels, int64_t first, int64_t count) const {
    return detail::pixel_batch(pixels, first, count, spec.blip2.image_size, scalar_type);
  }
  at::Tensor reference_tensor(const float* tokens, int64_t first, int64_t count) const {
    const int64_t n = spec.blip2.n_vision_tokens(), width = spec.blip2.vision_width;
    return detail::to_scalar_type(at::from_blob(const_cast<float*>(tokens + first * n * width), {count, n, width},
                                                at::TensorOptions().dtype(at::kFloat)),
                                  scalar_type);
  }
  void check_tokens(const char* what, const TokenBatch& tokens) const;
  std::pair<at::Tensor, at::Tensor> token_rows(const char* what, const TokenBatch& tokens, int64_t first, int64_t count) const;
  void append_queries(SprcQueryEmbeddings& out, const detail::SprcPasses& passes, bool keep_passes) const;
  static SprcQueryEmbeddings empty_queries(const SprcSpec& spec);
};

SprcModel::SprcModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SprcModel::~SprcModel() = default;
const SprcSpec& SprcModel::spec() const { return impl_->spec; }
DType SprcModel::dtype() const { return impl_->dtype; }

std::unique_ptr<SprcModel> SprcModel::load(const std::string& path, const ModelOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->n_threads = options.n_threads > 0 ? options.n_threads : default_thread_count();
  impl->prepare_thread();
  impl->spec = read_sprc_spec(path);
  // SPRC adds a second Q-Former pass, no weights of its own beyond BLIP-2's towers: the same
  // lower bound applies before its net is allocated.
  detail::check_parameter_budget(impl->spec.blip2);
  try {
    impl->net = std::make_unique<detail::SprcNet>(impl->spec);
    impl->spec.blip2.n_parameters = detail::load_sprc_weights(*impl->net, impl->spec);
    impl->set_dtype(options.dtype);
    impl->net->finish_loading(impl->scalar_type);
  } catch (const c10::Error& e) {
    throw Error(ErrorCode::kModel, "loading SPRC model '" + path + "': libtorch error: " + e.what_without_backtrace());
  }
  if (options.hash_weights) impl->spec.blip2.weights_sha256 = sha256_file(impl->spec.blip2.weights_file);
  return std::unique_ptr<SprcModel>(new SprcModel(std::move(impl)));
}

std::unique_ptr<SprcModel> SprcModel::random(const SprcSpec& spec, const ModelOptions& options, uint64_t seed) {
  auto impl = std::make_unique<Impl>();
  impl->n_threads = options.n_threads > 0 ? options.n_threads : default_thread_count();
  impl->prepare_thread();
  impl->spec = spec;
  impl->spec.blip2.format = "random";
  impl->spec.blip2.preprocess = {spec.blip2.image_size, ResizeMode::kTargetPad, 1.25};
  try {
    impl->net = std::make_unique<detail::SprcNet>(impl->spec);
    impl->set_dtype(options.dtype);
    impl->spec.blip2.n_parameters = detail::fill_random_slots(impl->net->slots(), impl->scalar_type, seed);
    impl->net->finish_loading(impl->scalar_type);
  } catch (const c10::Error& e) {
    throw Error(ErrorCode::kModel, std::string("building a random SPRC model: libtorch error: ") + e.what_without_backtrace());
  }
  return std::unique_ptr<SprcModel>(new SprcModel(std::move(impl)));
}

void SprcModel::Impl::check_tokens(const char* what, const TokenBatch& tokens) const {
  if (tokens.n_texts < 0 || tokens.context_length <= 0 ||
      tokens.ids.size() != static_cast<size_t>(tokens.n_texts * tokens.context_length))
    throw Error(ErrorCode::kInvalidArgument, std::string(what) + ": token batch holds " + std::to_string(tokens.ids.size()) +
                                                 " ids, expected n_texts x context_length = " + std::to_string(tokens.n_texts) +
                                                 " x " + std::to_string(tokens.context_length));
  if (tokens.lengths.size() != static_cast<size_t>(tokens.n_texts))
    throw Error(ErrorCode::kInvalidArgument, std::string(what) + ": " + std::to_string(tokens.lengths.size()) +
                                                 " lengths for " + std::to_string(tokens.n_texts) + " texts (the padding mask needs them)");
  if (tokens.context_length > spec.blip2.max_positions)
    throw Error(ErrorCode::kInvalidArgument, std::string(what) + ": context_length " + std::to_string(tokens.context_length) +
                                                 " exceeds the Q-Former's " + std::to_string(spec.blip2.max_positions) + " positions");
}

// SPRC pads to max_length, so rows keep the batch's full context (padding masked out): the
// text positions of the pass outputs line up with the reference's.
std::pair<at::Tensor, at::Tensor> SprcModel::Impl::token_rows(const char* what, const TokenBatch& tokens, int64_t first,
                                                              int64_t count) const {
  const int64_t ctx = tokens.context_length;
  at::Tensor ids = at::zeros({count, ctx}, at::TensorOptions().dtype(at::kLong));
  at::Tensor mask = at::zeros({count, ctx}, at::TensorOptions().dtype(at::kFloat));
  int64_t* id_out = ids.data_ptr<int64_t>();
  float* mask_out = mask.data_ptr<float>();
  for (int64_t r = 0; r < count; ++r) {
    const int64_t len = tokens.lengths[static_cast<size_t>(first + r)];
    if (len < 1 || len > ctx)
      throw Error(ErrorCode::kInvalidArgument, std::string(what) + ": row " + std::to_string(first + r) + " has length " +
                                                   std::to_string(len) + ", expected 1.." + std::to_string(ctx));
    const int32_t* src = tokens.ids.data() + (first + r) * ctx;
    for (int64_t j = 0; j < ctx; ++j) {
      if (src[j] < 0 || src[j] >= spec.blip2.vocab_size)
        throw Error(ErrorCode::kInvalidArgument, std::string(what) + ": token id " + std::to_string(src[j]) + " at row " +
                                                     std::to_string(first + r) + ", position " + std::to_string(j) +
                                                     " is outside the vocabulary [0, " + std::to_string(spec.blip2.vocab_size) + ")");
      id_out[r * ctx + j] = src[j];
      mask_out[r * ctx + j] = j < len ? 1.f : 0.f;
    }
  }
  return {ids, mask};
}

SprcQueryEmbeddings SprcModel::Impl::empty_queries(const SprcSpec& spec) {
  SprcQueryEmbeddings out;
  const int64_t w = spec.blip2.qformer_width;
  out.query_embeds = FloatMatrix(0, w);
  out.features = FloatMatrix(0, spec.blip2.embed_dim);
  out.fusion_embeddings = out.fusion_hidden = out.pass2_embeddings = out.pass2_hidden = FloatMatrix(0, w);
  return out;
}

void SprcModel::Impl::append_queries(SprcQueryEmbeddings& out, const detail::SprcPasses& passes, bool keep_passes) const {
  const at::Tensor query = passes.pass2_hidden.select(1, spec.query_position);
  append_rows(out.query_embeds, query);
  append_rows(out.features, normalized(net->project_query(query)));
  if (!keep_passes) return;
  append_rows(out.fusion_embeddings, passes.fusion_embeddings);
  append_rows(out.fusion_hidden, passes.fusion_hidden);
  append_rows(out.pass2_embeddings, passes.pass2_embeddings);
  append_rows(out.pass2_hidden, passes.pass2_hidden);
}

FloatMatrix SprcModel::encode_vision_tokens(const float* pixels, int64_t n_images) const {
  check_count("encode_vision_tokens", pixels, n_images);
  FloatMatrix out(0, impl_->spec.blip2.vision_width);
  try {
    impl_->prepare_thread();
    c10::InferenceMode guard;
    for (int64_t first = 0; first < n_images; first += kImageChunk) {
      const int64_t count = std::min(kImageChunk, n_images - first);
      append_rows(out, impl_->net->vision_tokens(impl_->pixel_tensor(pixels, first, count)));
    }
  } catch (const c10::Error& e) {
    rethrow_torch("SPRC encode_vision_tokens", e);
  }
  return out;
}

Blip2ImageEmbeddings SprcModel::encode_images(const float* pixels, int64_t n_images) const {
  check_count("encode_images", pixels, n_images);
  const Blip2Spec& b = impl_->spec.blip2;
  Blip2ImageEmbeddings out;
  out.n_images = n_images;
  out.n_query_tokens = b.n_query_tokens;
  out.query_embeds = FloatMatrix(0, b.qformer_width);
  out.features = FloatMatrix(0, b.embed_dim);
  try {
    impl_->prepare_thread();
    c10::InferenceMode guard;
    for (int64_t first = 0; first < n_images; first += kImageChunk) {
      const int64_t count = std::min(kImageChunk, n_images - first);
      const at::Tensor queries =
          impl_->net->target_query_embeds(impl_->net->vision_tokens(impl_->pixel_tensor(pixels, first, count)));
      append_rows(out.query_embeds, queries);
      append_rows(out.features, normalized(impl_->net->vision_proj()(queries)));
    }
  } catch (const c10::Error& e) {
    rethrow_torch("SPRC encode_images", e);
  }
  return out;
}

SprcQueryEmbeddings SprcModel::encode_queries(const float* reference_tokens, const TokenBatch& tokens, bool keep_passes) const {
  impl_->check_tokens("SPRC encode_queries", tokens);
  check_count("SPRC encode_queries", reference_tokens, tokens.n_texts);
  SprcQueryEmbeddings out = Impl::empty_queries(impl_->spec);
  try {
    impl_->prepare_thread();
    c10::InferenceMode guard;
    for (int64_t first = 0; first < tokens.n_texts; first += kQueryChunk) {
      const int64_t count = std::min(kQueryChunk, tokens.n_texts - first);
      const auto [ids, mask] = impl_->token_rows("SPRC encode_queries", tokens, first, count);
      impl_->append_queries(out, impl_->net->compose(impl_->reference_tensor(reference_tokens, first, count), ids, mask),
                            keep_passes);
    }
  } catch (const c10::Error& e) {
    rethrow_torch("SPRC encode_queries", e);
  }
  return out;
}

SprcQueryEmbeddings SprcModel::encode_composed(const float* pixels, int64_t n_images, const TokenBatch& tokens) const {
  check_count("SPRC encode_composed", pixels, n_images);
  impl_->check_tokens("SPRC encode_composed", tokens);
  if (tokens.n_texts != n_images)
    throw Error(ErrorCode::kInvalidArgument, "SPRC encode_composed: " + std::to_string(tokens.n_texts) + " texts for " +
                                                 std::to_string(n_images) + " reference images (one text per image expected)");
  SprcQueryEmbeddings out = Impl::empty_queries(impl_->spec);
  try {
    impl_->prepare_thread();
    c10::InferenceMode guard;
    for (int64_t first = 0; first < n_images; first += kImageChunk) {
      const int64_t count = std::min(kImageChunk, n_images - first);
      const at::Tensor reference = impl_->net->vision_tokens(impl_->pixel_tensor(pixels, first, count));
      const auto [ids, mask] = impl_->token_rows("SPRC encode_composed", tokens, first, count);
      impl_->append_queries(out, impl_->net->compose(reference, ids, mask), false);
    }
  } catch (const c10::Error& e) {
    rethrow_torch("SPRC encode_composed", e);
  }
  return out;
}

FloatMatrix sprc_scores(const FloatMatrix& queries, const FloatMatrix& gallery, int64_t n_slots, FloatMatrix* token_scores) {
  if (queries.cols != gallery.cols)
    throw Error(ErrorCode::kInvalidArgument, "sprc_scores: queries have " + std::to_string(queries.cols) +
                                                 " columns, gallery rows " + std::to_string(gallery.cols));
  if (n_slots < 1 || gallery.rows % n_slots != 0)
    throw Error(ErrorCode::kInvalidArgument, "sprc_scores: " + std::to_string(gallery.rows) +
                                                 " gallery rows are not a multiple of " + std::to_string(n_slots) + " slots");
  const int64_t n_targets = gallery.rows / n_slots;
  FloatMatrix scores(queries.rows, n_targets);
  if (token_scores) *token_scores = FloatMatrix(queries.rows, gallery.rows);
  for (int64_t q = 0; q < queries.rows; ++q) {
    for (int64_t t = 0; t < n_targets; ++t) {
      float best = -std::numeric_limits<float>::infinity();
      for (int64_t k = 0; k < n_slots; ++k) {
        const float* g = gallery.row(t * n_slots + k);
        float dot = 0.f;
        for (int64_t d = 0; d < queries.cols; ++d) dot += queries.row(q)[d] * g[d];
        if (token_scores) token_scores->row(q)[t * n_slots + k] = dot;
        best = std::max(best, dot);
      }
      scores.row(q)[t] = best;
    }
  }
  return scores;
}

}  // namespace cir::model
