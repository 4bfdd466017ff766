// Private to cir_engine: model families. A family knows how to recognise its checkpoints, how
// its gallery rows are laid out (one vector per image, or slots), how it encodes gallery
// images, query texts and, for early-fusion models, composed queries (reference image + text
// inside the model), and which composition methods it supports. Families register by name in
// family_registry.cpp, the way methods do in src/compose/registry.cpp; engine::Encoder holds
// one and never branches on the family.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cir/engine.h"

namespace cir::engine {

class ModelFamily {
 public:
  virtual ~ModelFamily() = default;

  /// The model summarised as a ModelSpec (family, format, weights hash, embed_dim = stored row
  /// width, preprocess), so the index and manifest code needs no family switch.
  virtual const model::ModelSpec& spec() const = 0;
  /// Stored row layout: n_slots 0 for one vector per image.
  virtual compose::SlotLayout slot_layout() const { return {}; }
  /// Gallery rows of preprocessed pixels (n x 3 x S x S): vectors_per_image rows per image,
  /// each row part L2-normalised; norms filled by single-vector families.
  virtual ImageRows encode_pixel_rows(const float* pixels, int64_t n_images) const = 0;
  /// One query row (embed_dim) per image from its gallery rows (n_rows x embed_dim).
  virtual std::vector<float> image_query_row(const float* rows, int64_t n_rows, double norm) const = 0;
  /// One query row per image of preprocessed pixels (Encoder::encode_images).
  virtual FloatMatrix encode_image_queries(const float* pixels, int64_t n_images) const = 0;
  /// The family's tokenisation of query texts.
  virtual TokenBatch tokenize(const std::vector<std::string>& texts) const = 0;
  /// One query row per text (embed_dim). kUnsupported for families without a text query.
  virtual FloatMatrix encode_texts(const std::vector<std::string>& texts) const = 0;
  /// Unprojected text states (multi-vector families that have them); kUnsupported otherwise.
  virtual std::vector<FloatMatrix> encode_text_states(const std::vector<std::string>& texts, bool all_tokens) const;
  /// True when composed queries are made inside the model from the reference image itself.
  virtual bool fuses_reference() const { return false; }
  /// Early fusion: one query row (embed_dim) per (reference pixels, text) pair; pixels are
  /// n x 3 x S x S in spec().preprocess. kUnsupported for late-fusion families.
  virtual FloatMatrix encode_composed(const float* pixels, int64_t n_images, const std::vector<std::string>& texts) const;
  /// Whether composition method `name` can run on this family's rows.
  virtual bool supports_method(const std::string& name) const = 0;

  virtual const model::ClipModel* clip_model() const { return nullptr; }
  virtual const text::ClipTokenizer* clip_tokenizer() const { return nullptr; }
  virtual const model::Blip2Model* blip2_model() const { return nullptr; }
};

/// How a family is found and opened.
struct FamilyEntry {
  std::string name;
  /// True when the checkpoint at `path` (file or directory) is this family's. Cheap: reads at
  /// most config files and pickle headers, never the weights; never throws.
  std::function<bool(const std::string& path)> detect;
  std::function<std::unique_ptr<ModelFamily>(const std::string& path, const EncoderOptions& options)> open;
};

/// The family of a checkpoint: the first registered family whose detect accepts it; "clip"
/// (the fallback, whose loader names what is wrong) otherwise.
FamilyEntry family_for(const std::string& model_path);
/// Adds a family ahead of the built-in ones (tests may add their own).
void register_family(FamilyEntry entry);
/// Registered names in detection order.
std::vector<std::string> family_names();

// Built-in families (family_clip.cpp, family_blip2.cpp, family_sprc.cpp).
FamilyEntry clip_family();
FamilyEntry blip2_family();
FamilyEntry sprc_family();

/// The engine-facing ModelSpec of a BLIP-2 checkpoint (family "blip2", Q-Former text side,
/// row width embed_dim + qformer_width); SPRC starts from it.
model::ModelSpec summarize_blip2(const model::Blip2Spec& b);
/// Slot rows [n(features_i) | n(query_embeds_i)] of Q-Former image embeddings (BLIP-2, SPRC).
ImageRows slot_rows(const model::Blip2ImageEmbeddings& e, const compose::SlotLayout& slots);
/// The query row of plain image retrieval for slot rows: [n(mean_i f_i) | 0].
std::vector<float> mean_feature_row(const float* rows, int64_t n_rows, const compose::SlotLayout& slots);
/// mean_feature_row of every image of `rows`: one query row (row_dim) per image.
FloatMatrix mean_feature_rows(const ImageRows& rows, const compose::SlotLayout& slots);
/// Feature rows (n x feature_dim) widened to slot rows [f | 0] (n x row_dim).
FloatMatrix feature_query_rows(const FloatMatrix& features, const compose::SlotLayout& slots);

}  // namespace cir::engine
