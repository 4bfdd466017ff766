// ClipModel: the public face of the model module. Converts row-major float buffers and token
// batches to tensors, runs the ClipNet under InferenceMode in the chosen dtype, and turns every
// c10::Error into a cir::Error with context.
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <filesystem>
#include <cstring>

#include "cir/model.h"
#include "cir/regular_file.h"
#include "model/cpu_kernels.h"
#include "model/model_internal.h"
#include "model/tensor_rows.h"

namespace cir::model {
namespace {

namespace fs = std::filesystem;

// Images and texts are encoded in chunks so activations stay bounded for large batches;
// every row is independent, so chunking does not change the result.
constexpr int64_t kImageChunk = 64;
constexpr int64_t kTextChunk = 256;

using detail::append_rows;
using detail::pixel_batch;
using detail::rethrow_torch;

FloatMatrix to_matrix(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kFloat).contiguous();
  FloatMatrix m(c.size(0), c.size(1));
  if (c.numel() > 0) std::memcpy(m.data.data(), c.data_ptr<float>(), sizeof(float) * static_cast<size_t>(c.numel()));
  return m;
}

}  // namespace

std::string_view dtype_name(DType dtype) { return dtype == DType::kBFloat16 ? "bf16" : "fp32"; }

DType parse_dtype(std::string_view name) {
  if (name == "fp32" || name == "float32") return DType::kFloat32;
  if (name == "bf16" || name == "bfloat16") return DType::kBFloat16;
  throw Error(ErrorCode::kInvalidArgument, "unknown dtype '" + std::string(name) + "' (expected fp32 or bf16)");
}

void set_torch_threads(int n_threads) {
  const int n = n_threads > 0 ? n_threads : default_thread_count();
  if (at::get_num_threads() != n) at::set_num_threads(n);
}

std::string describe_torch_runtime() {
  return std::string("libtorch ") + TORCH_VERSION + ", " + std::to_string(at::get_num_threads()) + " intra-op threads, oneDNN " +
         (at::hasMKLDNN() ? (at::globalContext().userEnabledMkldnn() ? "enabled" : "disabled") : "absent");
}

void write_random_hf_model(const ModelSpec& spec, const std::string& dir, uint64_t seed) {
  try {
    detail::ClipNet net = detail::make_clip_net(spec, seed);
    net->eval();
    detail::save_hf_directory(*net, spec, dir);
  } catch (const c10::Error& e) {
    throw Error(ErrorCode::kInternal, "write_random_hf_model '" + dir + "': libtorch error: " + e.what_without_backtrace());
  }
}

struct ClipModel::Impl {
  ModelSpec spec;
  DType dtype = DType::kFloat32;
  at::ScalarType scalar_type = at::kFloat;
  int n_threads = 1;
  // Forward passes do not change the module; libtorch just lacks const forward functions.
  mutable detail::ClipNet net{nullptr};

  // Intra-op threads are per calling thread under OpenMP: set them on whichever thread encodes.
  void prepare_thread() const { set_torch_threads(n_threads); }

  struct Rows {
    at::Tensor ids;      // [n, L] int64, trimmed to the longest row
    at::Tensor ends;     // [n] int64, each row's end-token position
  };
  Rows token_rows(const TokenBatch& tokens, int64_t first, int64_t count) const;
  FloatMatrix encode_text_rows(const TokenBatch& tokens, int32_t placeholder_id, const FloatMatrix* injected) const;
};

ClipModel::ClipModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ClipModel::~ClipModel() = default;
const ModelSpec& ClipModel::spec() const { return impl_->spec; }
DType ClipModel::dtype() const { return impl_->dtype; }

std::unique_ptr<ClipModel> ClipModel::load(const std::string& path, const ModelOptions& options) {
  auto impl = std::make_unique<Impl>();
  try {
    impl->n_threads = options.n_threads > 0 ? options.n_threads : default_thread_count();
    impl->prepare_thread();
    std::unique_ptr<detail::WeightSource> source;
    bool hf_names = false;
    std::error_code ec;
    const bool is_dir = fs::is_directory(path, ec);
    std::string pt_path;
    if (!is_dir && fs::exists(path, ec)) pt_path = path;
    if (is_dir && !fs::exists(fs::path(path) / "config.json") && !fs::exists(fs::path(path) / "open_clip_config.json") &&
        fs::exists(fs::path(path) / "model.pt"))
      pt_path = (fs::path(path) / "model.pt").string();
    // RegularFile first: a FIFO given as the model fails at once instead of blocking the zip reader.
    if (!pt_path.empty()) { RegularFile check(pt_path, "model checkpoint"); }
    if (!pt_path.empty() && detail::pt_kind(pt_path) == detail::PtKind::kTorchSave) {
      // torch.save checkpoints: CLIP4Cir / SPN4CIR clip4cir (methods.md §12.2-12.3). Both
      // evaluate with targetpad(1.25) at the model's resolution.
      detail::ClipStateDict sd = detail::open_clip_state_dict(pt_path);
      source = std::move(sd.source);
      impl->spec = detail::spec_from_torchscript(pt_path, *source);
      impl->spec.format = sd.layout;
      impl->spec.path = path;
      if (sd.layout != "openai_state_dict") impl->spec.preprocess.resize_mode = ResizeMode::kTargetPad;
    } else if (!pt_path.empty()) {
      source = detail::open_torchscript_source(pt_path);
      impl->spec = detail::spec_from_torchscript(pt_path, *source);
      impl->spec.path = path;
    } else {
      impl->spec = read_model_spec(path);
      hf_names = impl->spec.format == "hf";
      source = detail::open_safetensors_source(impl->spec.weights_file);
    }
    // The config's sizes are checked against the tensors before the net is allocated from them.
    detail::check_sizes_against_weights(impl->spec, *source, hf_names);
    impl->net = detail::ClipNet(impl->spec);
    impl->spec.n_parameters = detail::load_weights(*impl->net, *source, hf_names);
    source.reset();
    impl->net->eval();
    if (options.dtype == DType::kBFloat16) {
      // bf16 linear/conv/bmm run through oneDNN; make sure libtorch may use it.
      at::globalContext().setUserEnabledMkldnn(true);
      impl->net->to(at::kBFloat16);
      impl->scalar_type = at::kBFloat16;
    }
    impl->dtype = options.dtype;
    if (options.hash_weights) impl->spec.weights_sha256 = sha256_file(impl->spec.weights_file);
  } catch (const c10::Error& e) {
    throw Error(ErrorCode::kModel, "loading model '" + path + "': libtorch error: " + e.what_without_backtrace());
  }
  return std::unique_ptr<ClipModel>(new ClipModel(std::move(impl)));
}

FloatMatrix ClipModel::encode_images(const float* pixels, int64_t n_images) const {
  const ModelSpec& spec = impl_->spec;
  if (n_images < 0) throw Error(ErrorCode::kInvalidArgument, "encode_images: n_images must be >= 0, found " + std::to_string(n_images));
  if (n_images > 0 && pixels == nullptr) throw Error(ErrorCode::kInvalidArgument, "encode_images: pixels is null");
  FloatMatrix out(0, spec.embed_dim);
  out.data.reserve(static_cast<size_t>(n_images * spec.embed_dim));
  const int64_t size = spec.image_size;
  try {
    impl_->prepare_thread();
    c10::InferenceMode guard;
    for (int64_t first = 0; first < n_images; first += kImageChunk) {
      const int64_t count = std::min(kImageChunk, n_images - first);
      append_rows(out, impl_->net->encode_image(pixel_batch(pixels, first, count, size, impl_->scalar_type)));
    }
  } catch (const c10::Error& e) {
    rethrow_torch("encode_images", e);
  }
  return out;
}

ClipModel::Impl::Rows ClipModel::Impl::token_rows(const TokenBatch& tokens, int64_t first, int64_t count) const {
  const int64_t ctx = tokens.context_length;
  std::vector<int64_t> ends(static_cast<size_t>(count));
  int64_t longest = 1;
  for (int64_t r = 0; r < count; ++r) {
    const int64_t row = first + r;
    const int32_t* ids = tokens.ids.data() + row * ctx;
    int64_t end;
    if (!tokens.lengths.empty()) {
      const int64_t len = tokens.lengths[static_cast<size_t>(row)];
      if (len < 1 || len > ctx)
        throw Error(ErrorCode::kInvalidArgument, "encode_texts: row " + std::to_string(row) + " has length " +
                                                     std::to_string(len) + ", expected 1.." + std::to_string(ctx));
      end = len - 1;
    } else {
      // Without lengths, the end token is the highest id (the reference's argmax rule).
      end = std::max_element(ids, ids + ctx) - ids;
    }
    ends[static_cast<size_t>(r)] = end;
    longest = std::max(longest, end + 1);
  }
  if (longest > spec.context_length)
    throw Error(ErrorCode::kInvalidArgument, "encode_texts: a row has " + std::to_string(longest) +
                                                 " tokens but the model's context length is " + std::to_string(spec.context_length));
  at::Tensor ids = at::empty({count, longest}, at::TensorOptions().dtype(at::kLong));
  int64_t* dst = ids.data_ptr<int64_t>();
  for (int64_t r = 0; r < count; ++r) {
    const int32_t* src = tokens.ids.data() + (first + r) * ctx;
    for (int64_t j = 0; j < longest; ++j) {
      const int32_t id = src[j];
      if (id < 0 || id >= spec.vocab_size)
        throw Error(ErrorCode::kInvalidArgument, "encode_texts: token id " + std::to_string(id) + " at row " +
                                                     std::to_string(first + r) + ", position " + std::to_string(j) +
                                                     " is outside the vocabulary [0, " + std::to_string(spec.vocab_size) + ")");
      dst[r * longest + j] = id;
    }
  }
  return {ids, at::tensor(ends, at::TensorOptions().dtype(at::kLong))};
}

FloatMatrix ClipModel::Impl::encode_text_rows(const TokenBatch& tokens, int32_t placeholder_id,
                                              const FloatMatrix* injected) const {
  if (tokens.n_texts < 0 || tokens.context_length <= 0 ||
      tokens.ids.size() != static_cast<size_t>(tokens.n_texts * tokens.context_length))
    throw Error(ErrorCode::kInvalidArgument, "encode_texts: token batch holds " + std::to_string(tokens.ids.size()) +
                                                 " ids, expected n_texts x context_length = " + std::to_string(tokens.n_texts) +
                                                 " x " + std::to_string(tokens.context_length));
  if (!tokens.lengths.empty() && tokens.lengths.size() != static_cast<size_t>(tokens.n_texts))
    throw Error(ErrorCode::kInvalidArgument, "encode_texts: " + std::to_string(tokens.lengths.size()) +
                                                 " lengths for " + std::to_string(tokens.n_texts) + " texts");
  if (injected && (injected->rows != tokens.n_texts || injected->cols != spec.text_width))
    throw Error(ErrorCode::kInvalidArgument, "encode_texts_injected: injected is " + std::to_string(injected->rows) + " x " +
                                                 std::to_string(injected->cols) + ", expected " + std::to_string(tokens.n_texts) +
                                                 " x " + std::to_string(spec.text_width));
  FloatMatrix out(0, spec.embed_dim);
  out.data.reserve(static_cast<size_t>(tokens.n_texts * spec.embed_dim));
  prepare_thread();
  c10::InferenceMode guard;
  for (int64_t first = 0; first < tokens.n_texts; first += kTextChunk) {
    const int64_t count = std::min(kTextChunk, tokens.n_texts - first);
    const Rows rows = token_rows(tokens, first, count);
    at::Tensor embeds = net->embed_tokens(rows.ids);
    if (injected) {
      const int64_t length = rows.ids.size(1);
      const int64_t* ids = rows.ids.data_ptr<int64_t>();
      const int64_t* ends = rows.ends.data_ptr<int64_t>();
      for (int64_t r = 0; r < count; ++r) {
        const int64_t* row = ids + r * length;
        const int64_t* row_end = row + ends[r] + 1;  // real tokens only, never the padding
        const int64_t* hit = std::find(row, row_end, static_cast<int64_t>(placeholder_id));
        if (hit == row_end) continue;
        const at::Tensor vec = at::from_blob(const_cast<float*>(injected->row(first + r)), {spec.text_width},
                                             at::TensorOptions().dtype(at::kFloat));
        embeds[r][hit - row].copy_(vec);
      }
    }
    append_rows(out, net->encode_text_embeddings(embeds, rows.ends));
  }
  return out;
}

FloatMatrix ClipModel::encode_texts(const TokenBatch& tokens) const {
  try {
    return impl_->encode_text_rows(tokens, 0, nullptr);
  } catch (const c10::Error& e) {
    rethrow_torch("encode_texts", e);
  }
}

FloatMatrix ClipModel::encode_texts_injected(const TokenBatch& tokens, int32_t placeholder_id,
                                             const FloatMatrix& injected) const {
  try {
    return impl_->encode_text_rows(tokens, placeholder_id, &injected);
  } catch (const c10::Error& e) {
    rethrow_torch("encode_texts_injected", e);
  }
}

FloatMatrix ClipModel::token_embeddings(const std::vector<int32_t>& ids) const {
  const ModelSpec& spec = impl_->spec;
  std::vector<int64_t> rows;
  rows.reserve(ids.size());
  for (const int32_t id : ids) {
    if (id < 0 || id >= spec.vocab_size)
      throw Error(ErrorCode::kInvalidArgument, "token_embeddings: id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                                   std::to_string(spec.vocab_size) + ")");
    rows.push_back(id);
  }
  try {
    c10::InferenceMode guard;
    const at::Tensor index = at::tensor(rows, at::TensorOptions().dtype(at::kLong));
    return to_matrix(impl_->net->token_embedding->weight.index_select(0, index));
  } catch (const c10::Error& e) {
    rethrow_torch("token_embeddings", e);
  }
}

}  // namespace cir::model
