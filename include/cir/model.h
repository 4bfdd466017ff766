// cir model (L1): the CLIP family in libtorch — ViT and ModifiedResNet image towers and the
// text transformer — loaded from Hugging Face, OpenCLIP and OpenAI TorchScript checkpoints.
//
// Contract: no torch type crosses this header; inputs and outputs are row-major float buffers.
// A loaded model is immutable; encode_* may be called from several threads (libtorch inference
// is thread-safe for read-only modules), though one caller batching is fastest.
// Errors: cir::Error naming the file and tensor — kNotFound (missing file), kCorrupt
// (truncated/garbled safetensors, JSON, archives), kModel (a tensor missing or of a shape that
// does not fit the config; config fields missing or of the wrong type), kUnsupported (unknown
// architecture, dtype, or a TorchScript archive that is not a CLIP). c10::Error never escapes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cir/core.h"

namespace cir::model {

/// Execution dtype: fp32, or bf16 (weights and activations in bfloat16 through oneDNN;
/// outputs are always float).
enum class DType { kFloat32, kBFloat16 };
/// "fp32" | "bf16".
std::string_view dtype_name(DType dtype);
/// Parses "fp32"/"float32" or "bf16"/"bfloat16"; throws kInvalidArgument otherwise.
DType parse_dtype(std::string_view name);

/// Static description of a CLIP checkpoint, read from its config (no weights needed except
/// for TorchScript archives, whose shapes are the config).
struct ModelSpec {
  std::string path;             ///< directory or .pt file as given
  std::string family = "clip";  ///< "clip"
  std::string format;           ///< "hf" | "open_clip" | "openai_torchscript"
  std::string image_tower;      ///< "vit" | "resnet"
  std::string activation;       ///< "quick_gelu" | "gelu"
  int embed_dim = 0;
  int image_size = 0;
  int patch_size = 0;           ///< ViT only
  int vision_width = 0;
  int vision_layers = 0;        ///< ViT: layer count; ResNet: total blocks
  std::vector<int> resnet_layers;  ///< ResNet only: blocks per stage
  int vision_heads = 0;
  int text_width = 0;
  int text_heads = 0;
  int text_layers = 0;
  int context_length = 77;
  int vocab_size = 49408;
  int64_t n_parameters = 0;     ///< filled once weights are loaded
  std::string weights_file;     ///< the file the weights were read from
  std::string weights_sha256;   ///< of weights_file, filled once weights are loaded (for a sharded
                                ///< HF checkpoint: of its model.safetensors.index.json)
  PreprocessSpec preprocess;
};

/// Runtime knobs of ClipModel::load.
struct ModelOptions {
  DType dtype = DType::kFloat32;
  int n_threads = 0;  ///< libtorch intra-op threads; 0 = default_thread_count()
  bool hash_weights = true;  ///< compute weights_sha256 on load
};

/// Reads the spec from a directory (config.json, open_clip_config.json) or a .pt archive.
ModelSpec read_model_spec(const std::string& path);

/// Sets libtorch's intra-op thread count (it starts with 1 on Debian's build).
void set_torch_threads(int n_threads);

/// One line describing the libtorch runtime (version, intra-op threads, whether oneDNN may run
/// bf16 matmuls), for benchmark rows and diagnostics.
std::string describe_torch_runtime();

/// Writes a randomly initialised CLIP described by `spec` (OpenAI's initialisation, seeded) as
/// a Hugging Face directory that ClipModel::load reads: for benchmarks and tests that need a
/// model of real size without a real checkpoint. ViT towers only (kUnsupported otherwise);
/// kModel for an inconsistent spec; kIo on write failures.
void write_random_hf_model(const ModelSpec& spec, const std::string& dir, uint64_t seed = 0);

/// A loaded CLIP (image and text towers) ready to encode; immutable after load.
class ClipModel {
 public:
  /// Loads weights from a Hugging Face or OpenCLIP directory, a TorchScript .pt file, or a
  /// directory holding only model.pt; checks every tensor's presence and shape against the spec.
  static std::unique_ptr<ClipModel> load(const std::string& path, const ModelOptions& options = {});
  ~ClipModel();

  /// The spec with n_parameters, weights_file and weights_sha256 filled in.
  const ModelSpec& spec() const;
  /// The execution dtype chosen at load.
  DType dtype() const;

  /// pixels: n_images x 3 x image_size x image_size (normalised). Returns n x embed_dim,
  /// not normalised (encode_image of the reference implementations).
  FloatMatrix encode_images(const float* pixels, int64_t n_images) const;
  /// Returns n x embed_dim, not normalised. The batch is trimmed to its longest row first
  /// (exact under the causal mask). The end token is each row's last real token.
  FloatMatrix encode_texts(const TokenBatch& tokens) const;
  /// As encode_texts, but the token embedding at the first position holding
  /// `placeholder_id` in row i is replaced by row i of `injected` (n x text_width) — the
  /// pseudo-token path of SEARLE and Pic2Word. Rows without the placeholder are unchanged.
  FloatMatrix encode_texts_injected(const TokenBatch& tokens, int32_t placeholder_id,
                                    const FloatMatrix& injected) const;
  /// Rows of the token embedding table (n x text_width), e.g. to check injection.
  FloatMatrix token_embeddings(const std::vector<int32_t>& ids) const;

 private:
  struct Impl;
  explicit ClipModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cir::model
