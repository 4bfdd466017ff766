// cir compose (L2): composition methods — a reference image plus modification text(s) to a
// query embedding — chosen by a string key from one registry.
//
// Contract: a Method is stateless after construction and safe to call from several threads.
// Inputs are raw (unnormalised) features as the model returns them; outputs are L2-normalised
// query rows. Methods encode texts through the ComposeContext callbacks, so they never depend
// on how the engine batches or caches. Errors: cir::Error (kInvalidArgument when a method lacks
// an input it needs, naming the method and the input; kNotFound for an unknown key, listing the
// known ones).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cir/core.h"
#include "cir/image.h"

namespace cir::model {
class ClipModel;
}
namespace cir::text {
class ClipTokenizer;
}

namespace cir::compose {

/// How a multi-vector model stores an image (BLIP-2): n_slots rows, each
/// [feature_dim: normalised projected retrieval feature | state_dim: normalised unprojected slot
/// state (the Q-Former query output ZIRACLE scores)]. n_slots == 0 for single-vector models
/// (CLIP), whose rows are one feature.
struct SlotLayout {
  int n_slots = 0;
  int feature_dim = 0;  ///< columns [0, feature_dim)
  int state_dim = 0;    ///< columns [feature_dim, feature_dim + state_dim)
  bool multi_vector() const { return n_slots > 0; }
  int row_dim() const { return feature_dim + state_dim; }
};

/// One query's inputs.
struct ComposeInput {
  /// Raw image feature of the reference. For multi-vector models the engine gives the query
  /// row of plain image retrieval, [n(mean_i f_i) | 0], so the baselines work unchanged.
  std::optional<std::vector<float>> reference;
  /// Multi-vector models only: the reference's rows (n_slots x row_dim, SlotLayout), for
  /// methods that score slot by slot (ZIRACLE). Unset for CLIP and for raw-embedding references.
  std::optional<FloatMatrix> reference_slots;
  /// Early-fusion families only (SPRC): the decoded reference image, which the model itself
  /// combines with the text (ComposeContext::encode_composed). Null otherwise.
  std::shared_ptr<const image::ImageU8> reference_image;
  std::vector<std::string> texts;               ///< modification text(s); several are averaged
  std::vector<std::string> negative_texts;      ///< "not this": subtracted after normalising
  /// Extra weighted terms (rclip-style arithmetic): raw features with a signed weight.
  std::vector<std::pair<std::vector<float>, float>> extra_terms;
  float image_weight = 1.f;
  float text_weight = 1.f;
  float negative_weight = 1.f;
  /// Generated texts of the reference (generation.md 7.1): its captions and the edited
  /// descriptions made from them, slot-parallel. The engine fills them from the index's caption
  /// store and the editor for SEIZE, LDRE and CIReVL queries that name no captions file.
  std::vector<std::string> generated_captions;
  std::vector<std::string> generated_edits;
};

/// What a method may call on the model side.
struct ComposeContext {
  int embed_dim = 0;
  /// Raw text features (n x embed_dim) of the given texts. Multi-vector models return the
  /// query row of plain text retrieval, [n(text_proj(cls)) | 0].
  std::function<FloatMatrix(const std::vector<std::string>&)> encode_texts;
  /// The stored-row layout; n_slots == 0 for CLIP.
  SlotLayout slots;
  /// Early-fusion families only (SPRC): one query row (embed_dim) per input from its
  /// reference_image and its single text, made inside the model. Unset otherwise.
  std::function<FloatMatrix(const std::vector<ComposeInput>&)> encode_composed;
  /// Multi-vector models only: per text, its unprojected text states (state_dim wide): the
  /// [CLS] row only, or with `all_tokens` every real token (the mean-over-tokens variant).
  /// Unset for CLIP.
  std::function<std::vector<FloatMatrix>(const std::vector<std::string>&, bool all_tokens)> encode_text_states;
  /// The loaded CLIP and its tokenizer, for methods that run the text tower themselves
  /// (pseudo-token injection). Null when the engine has no CLIP (e.g. BLIP-2 indexes).
  const model::ClipModel* model = nullptr;
  const text::ClipTokenizer* tokenizer = nullptr;
  /// Method settings by name ("phi" -> checkpoint path, "alpha_pos" -> "0.13", "captions" ->
  /// JSON path, ...), from the CLI's --method-opt key=value or the HTTP request.
  std::map<std::string, std::string> options;
  /// Per-input identifiers the method may key side data on (e.g. SEIZE captions by reference
  /// id), parallel to the inputs; may be empty.
  std::vector<std::string> query_keys;
  /// Inner products of each row of `rows` (r x embed_dim) with every live gallery item's
  /// normalised vector: r x n_items, items in the same order on every call. For methods whose
  /// query depends on the gallery (LDRE's adaptive weights). Null when the caller has no
  /// gallery; such methods then throw kUnsupported.
  std::function<FloatMatrix(const FloatMatrix& rows)> gallery_scores;
  /// Identifies what gallery_scores sees (changes when items are added or removed): methods
  /// that cache gallery-derived values key on it.
  std::string gallery_key;
};

/// A query whose score is not a single inner product: m rows per input and a rule combining
/// the m inner products with a gallery vector into its score (SEIZE: s_after + a_pos max(d,0) +
/// a_neg min(d,0) with d = s_after - s_before). The engine scores such queries exactly over
/// every eligible item.
struct ScoringQuery {
  FloatMatrix vectors;  ///< m x embed_dim
  std::function<float(const float* inner_products)> combine;  ///< reads m values
  /// Slot form (ZIRACLE, multi-vector stores): when set, the engine scores through it instead
  /// of `combine`/`combine_all`. Reads the m x n_vectors inner products of every query row with
  /// every one of the item's vectors (row-major), so a rule can weight an item slot by slot.
  std::function<float(const float* inner_products, int n_vectors)> combine_slots;
  /// Set for rules where an item's score depends on the other items (SEIZE's rank form: each
  /// item's rank under two rows). Reads n_items x m inner products (one row per eligible item,
  /// in the caller's item order) and writes n_items scores. When set, `combine` only throws:
  /// callers score through score_items.
  std::function<void(const FloatMatrix& inner_products, float* scores)> combine_all;
};

/// The scores of every eligible item under `query`: combine_all when set, else combine row by
/// row. inner_products: n_items x m (m = query.vectors.rows). kInvalidArgument on a width
/// mismatch.
std::vector<float> score_items(const ScoringQuery& query, const FloatMatrix& inner_products);

class Method {
 public:
  virtual ~Method() = default;
  virtual std::string name() const = 0;
  /// One-line description for --help and docs.
  virtual std::string description() const = 0;
  virtual bool needs_reference() const = 0;
  virtual bool needs_text() const = 0;
  /// Normalised query rows, one per input.
  virtual FloatMatrix compose(const std::vector<ComposeInput>& inputs, const ComposeContext& context) const = 0;
  /// True when the method scores through compose_scoring instead of one query row.
  virtual bool uses_scoring() const { return false; }
  /// One ScoringQuery per input (only for methods with uses_scoring()).
  virtual std::vector<ScoringQuery> compose_scoring(const std::vector<ComposeInput>& inputs,
                                                    const ComposeContext& context) const {
    throw Error(ErrorCode::kUnsupported, "method '" + name() + "' has no scoring form");
  }
};

/// The method registered under `name`; kNotFound listing the known names.
std::shared_ptr<const Method> find_method(const std::string& name);
/// Registered names, sorted.
std::vector<std::string> method_names();
/// Adds a method factory (one line per method in registry.cpp; tests may add their own).
void register_method(const std::string& name, std::function<std::shared_ptr<const Method>()> factory);

}  // namespace cir::compose
