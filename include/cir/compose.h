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

namespace cir::model {
class ClipModel;
}
namespace cir::text {
class ClipTokenizer;
}

namespace cir::compose {

/// One query's inputs.
struct ComposeInput {
  std::optional<std::vector<float>> reference;  ///< raw image feature of the reference
  std::vector<std::string> texts;               ///< modification text(s); several are averaged
  std::vector<std::string> negative_texts;      ///< "not this": subtracted after normalising
  /// Extra weighted terms (rclip-style arithmetic): raw features with a signed weight.
  std::vector<std::pair<std::vector<float>, float>> extra_terms;
  float image_weight = 1.f;
  float text_weight = 1.f;
  float negative_weight = 1.f;
};

/// What a method may call on the model side.
struct ComposeContext {
  int embed_dim = 0;
  /// Raw text features (n x embed_dim) of the given texts.
  std::function<FloatMatrix(const std::vector<std::string>&)> encode_texts;
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
};

/// A query whose score is not a single inner product: m rows per input and a rule combining
/// the m inner products with a gallery vector into its score (SEIZE: s_after + a_pos max(d,0) +
/// a_neg min(d,0) with d = s_after - s_before). The engine scores such queries exactly over
/// every eligible item.
struct ScoringQuery {
  FloatMatrix vectors;  ///< m x embed_dim
  std::function<float(const float* inner_products)> combine;  ///< reads m values
};

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
