// Private to cir_model: the checks a spec read from outside files must pass before a network is
// sized from it, for both families (CLIP and BLIP-2), and the config-vs-checkpoint size check,
// which needs only tensor shapes. Std-only: the config readers (config.cpp, blip2_config.cpp)
// call them without libtorch, and so do their fuzz targets.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cir/blip2.h"
#include "cir/model.h"

namespace cir::model::detail {

/// The MLP nonlinearity: OpenAI's QuickGELU x*sigmoid(1.702x) or exact (erf) GELU.
enum class Activation { kQuickGelu, kGelu };

/// Activation named by ModelSpec::activation; throws kUnsupported for other names.
Activation parse_activation(const std::string& name);

/// Checks a spec's sizes (positive, widths divisible by heads, image_size divisible by the
/// patch or by 32 for ResNets, ...). Throws kModel naming the field.
void validate_spec(const ModelSpec& spec);
/// validate_spec with the checkpoint named in the message (config divisibility errors and the
/// like point at the file they came from).
void validate_spec_of(const ModelSpec& spec, const std::string& source);

/// Checks a BLIP-2 spec's sizes (positive, widths divisible by heads, image divisible by the
/// patch). Throws kModel naming the field.
void validate_blip2_spec(const Blip2Spec& spec);

/// Names and shapes of a checkpoint's tensors, without their data (WeightSource in
/// model_internal.h adds the tensors).
class WeightShapes {
 public:
  virtual ~WeightShapes() = default;
  /// Shape of a tensor, or nullopt when the checkpoint lacks it.
  virtual std::optional<std::vector<int64_t>> shape(const std::string& name) const = 0;
  /// Every tensor name the checkpoint holds.
  virtual std::vector<std::string> names() const = 0;
  /// The file(s) the tensors come from, for messages.
  virtual std::string describe() const = 0;
};

/// Compares the config's tower sizes (layer counts, vocab, context, widths, patch grid) with the
/// checkpoint's tensor shapes before anything is allocated from them. Throws kModel naming the
/// file, the config field and both values.
void check_sizes_against_weights(const ModelSpec& spec, const WeightShapes& source, bool hf_names);

/// "[a, b, c]" for messages.
std::string shape_text(const std::vector<int64_t>& shape);

}  // namespace cir::model::detail
