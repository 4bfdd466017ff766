// cir model (L1), BLIP-2: the EVA ViT image tower with `ln_vision`, the Q-Former (BERT with
// learned query tokens cross-attending to the image tokens) and the 768 -> 256 projection heads,
// loaded from Hugging Face `Blip2ForImageTextRetrieval` directories and LAVIS `.pth` checkpoints.
// This is the feature extractor ZIRACLE, SPRC and BLIP-2 retrieval build on (LAVIS
// `blip2_feature_extractor`), reproducing its `extract_features` outputs.
//
// Contract: no torch type crosses this header; inputs and outputs are row-major float buffers.
// A loaded model is immutable; encode_* may be called from several threads. Pixels are
// preprocessed by the caller with image::preprocess_into and spec().preprocess (squash resize).
// Token ids come from text::WordPieceTokenizer (pad id 0; TokenBatch::lengths is the attention
// mask: position j of row i is real when j < lengths[i]).
// Errors: cir::Error naming the file and tensor — kNotFound (missing file/tensor), kCorrupt
// (unreadable checkpoint or JSON), kModel (shapes that do not fit the config), kUnsupported
// (dtype), kInvalidArgument (bad inputs). c10::Error never escapes.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <string>
#include <vector>

#include "cir/core.h"
#include "cir/model.h"

namespace cir::model {

/// Static description of a BLIP-2 checkpoint: the EVA ViT, the Q-Former and the heads.
struct Blip2Spec {
  std::string path;             ///< directory or .pth file as given
  std::string format;           ///< "hf" (config.json + model.safetensors) | "lavis" (.pth)
  std::string weights_file;     ///< the file the weights are read from
  std::string weights_sha256;   ///< of weights_file, filled on load when hashing is on
  std::string config_file;      ///< the config.json the sizes came from; empty: LAVIS defaults
  // EVA ViT (LAVIS eva_vit_g: 1408 wide, 39 blocks, 16 heads, MLP 6144, 224 px, patch 14).
  int image_size = 224;
  int patch_size = 14;
  int vision_width = 1408;
  int vision_layers = 39;
  int vision_heads = 16;
  int vision_mlp = 6144;
  double vision_eps = 1e-6;     ///< LayerNorm eps inside the ViT blocks
  double ln_vision_eps = 1e-5;  ///< `ln_vision` (LAVIS 1e-5; HF post_layernorm uses vision_eps)
  // Q-Former (BERT-base with 32 learned queries, cross-attention every 2nd layer).
  int qformer_width = 768;
  int qformer_layers = 12;
  int qformer_heads = 12;
  int qformer_intermediate = 3072;
  double qformer_eps = 1e-12;
  int max_positions = 512;      ///< text positions of the Q-Former's position embedding
  int vocab_size = 30523;       ///< bert-base-uncased + [DEC]
  int cross_attention_frequency = 2;  ///< layer l cross-attends when l % frequency == 0
  int n_query_tokens = 32;
  int embed_dim = 256;          ///< vision_proj / text_proj output size
  int64_t n_parameters = 0;     ///< filled once weights are loaded
  PreprocessSpec preprocess{224, ResizeMode::kSquash};  ///< bicubic squash, CLIP mean/std

  /// Number of image tokens the Q-Former attends to: (image_size / patch_size)^2 + 1.
  int n_vision_tokens() const { return (image_size / patch_size) * (image_size / patch_size) + 1; }
};

/// Reads the spec: an HF directory's config.json (+ preprocessor_config.json), or for a LAVIS
/// .pth (or a directory holding one) the config.json beside it, else the EVA ViT-g/14 +
/// BERT-base defaults above. kNotFound when no checkpoint is there, kCorrupt for bad JSON,
/// kModel for inconsistent sizes.
Blip2Spec read_blip2_spec(const std::string& path);

/// Per-image outputs: n_images x n_query_tokens rows each (image i owns rows
/// [i * n_query_tokens, (i + 1) * n_query_tokens)).
struct Blip2ImageEmbeddings {
  int64_t n_images = 0;
  int64_t n_query_tokens = 0;
  FloatMatrix query_embeds;  ///< Q-Former last hidden state of the queries (qformer_width), not projected
  FloatMatrix features;      ///< normalize(vision_proj(query_embeds)) (embed_dim): BLIP-2 retrieval features
};

/// Per-text outputs, one row per text.
struct Blip2TextEmbeddings {
  FloatMatrix cls_embeds;  ///< text-only Q-Former, token 0 ([CLS]), not projected (qformer_width)
  FloatMatrix features;    ///< normalize(text_proj(cls_embeds)) (embed_dim)
};

/// A loaded BLIP-2 retrieval model (fp32 or bf16 weights).
class Blip2Model {
 public:
  /// Loads an HF `Blip2ForImageTextRetrieval` directory (or its model.safetensors), a LAVIS
  /// checkpoint (`torch.save({"model": state_dict})`, a .pth file or a directory holding one)
  /// and checks every tensor's presence and shape against the spec.
  static std::unique_ptr<Blip2Model> load(const std::string& path, const ModelOptions& options = {});
  /// A model with random weights (normal, std 0.02; LayerNorm weights 1) of the given sizes,
  /// built directly in the requested dtype: for benchmarks of real-size architectures without a
  /// multi-GB checkpoint on disk. kModel for an inconsistent spec.
  static std::unique_ptr<Blip2Model> random(const Blip2Spec& spec, const ModelOptions& options = {},
                                            uint64_t seed = 0);
  ~Blip2Model();

  const Blip2Spec& spec() const;
  DType dtype() const;

  /// pixels: n_images x 3 x image_size x image_size (normalised). Returns
  /// ln_vision(ViT(pixels)) for every token (class token first): n_images * n_vision_tokens()
  /// rows of vision_width. What the Q-Former cross-attends to; exposed for checks.
  FloatMatrix encode_vision_tokens(const float* pixels, int64_t n_images) const;
  /// Query embeddings and projected features of each image.
  Blip2ImageEmbeddings encode_images(const float* pixels, int64_t n_images) const;
  /// Text-only Q-Former pass (padding masked by TokenBatch::lengths, which are required).
  /// Rows longer than max_positions are refused (kInvalidArgument).
  Blip2TextEmbeddings encode_texts(const TokenBatch& tokens) const;
  /// Text-only Q-Former pass keeping every real token: per text, lengths[i] x qformer_width
  /// rows of the last hidden state ([CLS] first; padding dropped). ZIRACLE's mean-over-text-
  /// tokens variant weighs slots against all of them. Same errors as encode_texts.
  std::vector<FloatMatrix> encode_text_tokens(const TokenBatch& tokens) const;
  /// Joint pass of image i with text i: query tokens and text tokens together, the queries
  /// cross-attending to the image; returns the query positions of the output
  /// (n_images * n_query_tokens rows of qformer_width). tokens.n_texts must equal n_images.
  FloatMatrix encode_multimodal(const float* pixels, int64_t n_images, const TokenBatch& tokens) const;

 private:
  struct Impl;
  explicit Blip2Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------------------------
// SPRC (ICLR 2024, `Blip2QformerCirAlignPrompt`) and SPN4CIR's blip24cir stage 2, on the
// BLIP-2 network above (src/model/sprc/; methods.md 12.1, 12.2). Same contract and errors.
// Composed query of reference image r and caption c:
//   pass 1 = Q-Former([query_tokens ; tokens(c)]) with the queries cross-attending to
//            ln_vision(ViT(r)); pass 2 = Q-Former([pass1[:, :32] ; tokens(c)]) without image
//            (every position through the text FFN); feature = normalize(text_proj(pass2[:, 32])).
// Gallery: normalize(vision_proj(Q-Former(query_tokens, image))) per query token (32 rows per
// image); score = max over the 32 rows of the dot product.

/// The two checkpoint layouts an SprcModel loads.
enum class SprcLayout {
  kSprc,              ///< torch.save({'epoch', 'Blip2QformerCirAlignPrompt': state_dict}) (sprc_cirr.pt, ...)
  kSpn4cirBlip24cir,  ///< SPN4CIR best.pt: {'epoch', 'state_dict'}, keys `blip_model.` + SPRC's,
                      ///< plus `blip_model.Qformer_query.*` and `blip_model.text_proj_q.*` (pass 2)
};

/// "sprc" | "spn4cir_blip24cir".
std::string_view sprc_layout_name(SprcLayout layout);

/// Static description of an SPRC checkpoint.
struct SprcSpec {
  Blip2Spec blip2;                 ///< sizes and files; preprocess = targetpad 1.25, CLIP mean/std
  SprcLayout layout = SprcLayout::kSprc;
  std::string checkpoint_key;      ///< the top-level key holding the state dict
  int64_t epoch = -1;              ///< the checkpoint's 'epoch' (-1 when absent)
  int max_text_length = 32;        ///< SPRC max_txt_len: padding "max_length", truncation
  /// Row of the pass-2 output that is projected: SPRC hard-codes 32 (the text [CLS] after the
  /// 32 queries); the loader refuses checkpoints whose query count is not 32 for that reason.
  int query_position = 32;
};

/// Which SPRC layout a checkpoint file is, reading only its pickle (tensor bytes are not read).
/// std::nullopt for anything that is not an SPRC / blip24cir torch.save file (including files
/// that are not zip checkpoints at all); never throws for an existing file.
std::optional<SprcLayout> detect_sprc_checkpoint(const std::string& path);

/// Reads the spec of an SPRC checkpoint (a .pt/.pth file, or a directory holding exactly one):
/// the layout from the pickle's keys, the sizes from a config.json beside the file (the Hugging
/// Face Blip2Config schema, or {"vision": {...}, "qformer": {...}, "embed_dim"} as in
/// shared/fixtures/sprc) or else the EVA ViT-g/14 + BERT-base defaults. kNotFound (no file),
/// kCorrupt (not a torch.save zip / bad JSON), kModel (a torch.save file in neither layout,
/// e.g. a LAVIS BLIP-2 {'model': ...} checkpoint, naming the keys found).
SprcSpec read_sprc_spec(const std::string& path);

/// Composed-query outputs, one row per query; the pass tensors only when asked for
/// (n_queries * (n_query_tokens + max_text_length) rows of qformer_width each).
struct SprcQueryEmbeddings {
  FloatMatrix query_embeds;  ///< pass2[:, query_position] (qformer_width), not projected
  FloatMatrix features;      ///< normalize(text_proj(query_embeds)) (embed_dim); text_proj_q for blip24cir
  FloatMatrix fusion_embeddings, fusion_hidden, pass2_embeddings, pass2_hidden;  ///< with keep_passes
};

/// A loaded SPRC / SPN4CIR blip24cir model (fp32 or bf16 weights; ViT weights stored as fp16
/// are cast up on load).
class SprcModel {
 public:
  /// Loads either layout, checking every tensor the inference path needs (presence, shape);
  /// training-only entries (prompt_tokens, temp, itm_head, Qformer.cls.*) are ignored as SPRC's
  /// strict=False load does.
  static std::unique_ptr<SprcModel> load(const std::string& path, const ModelOptions& options = {});
  /// Random weights (as Blip2Model::random) of the given sizes; `layout` kSpn4cirBlip24cir adds
  /// the second Q-Former. For benchmarks of real-size models.
  static std::unique_ptr<SprcModel> random(const SprcSpec& spec, const ModelOptions& options = {}, uint64_t seed = 0);
  ~SprcModel();

  const SprcSpec& spec() const;
  DType dtype() const;

  /// ln_vision(ViT(pixels)): n_images * n_vision_tokens rows of vision_width (class token first).
  FloatMatrix encode_vision_tokens(const float* pixels, int64_t n_images) const;
  /// Gallery side (`extract_target_features`): query_embeds and features, 32 rows per image.
  Blip2ImageEmbeddings encode_images(const float* pixels, int64_t n_images) const;
  /// Composed queries from reference vision tokens (n_queries * n_vision_tokens rows of
  /// vision_width, as encode_vision_tokens returns; what SPRC's validation feeds `inference`).
  /// tokens: one row per query, context_length = max_text_length, lengths required.
  SprcQueryEmbeddings encode_queries(const float* reference_tokens, const TokenBatch& tokens,
                                     bool keep_passes = false) const;
  /// Composed queries from reference pixels (n x 3 x S x S): ViT, then encode_queries.
  SprcQueryEmbeddings encode_composed(const float* pixels, int64_t n_images, const TokenBatch& tokens) const;

 private:
  struct Impl;
  explicit SprcModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// SPRC's score: for query q and gallery image t, max over its n_slots rows k of
/// <queries[q], gallery[t * n_slots + k]>. queries: n x d; gallery: (T * n_slots) x d.
/// Returns n x T. token_scores, when given, receives every dot product (n x (T * n_slots)).
/// kInvalidArgument when the widths differ or gallery rows are not a multiple of n_slots.
FloatMatrix sprc_scores(const FloatMatrix& queries, const FloatMatrix& gallery, int64_t n_slots,
                        FloatMatrix* token_scores = nullptr);

}  // namespace cir::model
