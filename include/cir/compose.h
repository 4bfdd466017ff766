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
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cir/core.h"

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
};

/// The method registered under `name`; kNotFound listing the known names.
std::shared_ptr<const Method> find_method(const std::string& name);
/// Registered names, sorted.
std::vector<std::string> method_names();
/// Adds a method factory (one line per method in registry.cpp; tests may add their own).
void register_method(const std::string& name, std::function<std::shared_ptr<const Method>()> factory);

}  // namespace cir::compose
