// Private to cir_model: what the model's .cpp files share — spec readers per checkpoint
// format (the JSON ones, std-only, in config.h), weight sources (safetensors files,
// TorchScript archives) behind one interface, and the Hugging Face <-> OpenAI tensor name
// mapping used both to load and to save.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cir/model.h"
#include "model/clip_modules.h"
#include "model/config.h"      // read_hf_spec, read_open_clip_spec, hf_config_text
#include "model/spec_check.h"  // WeightShapes, check_sizes_against_weights, shape_text

namespace cir::model::detail {

/// Named float tensors of a checkpoint, in the checkpoint's own naming: their names and shapes
/// (WeightShapes, spec_check.h) and the tensors themselves.
class WeightSource : public WeightShapes {
 public:
  /// The tensor as float32 (a copy or a detached view the caller only reads).
  /// Throws kNotFound / kUnsupported (dtype) naming the file.
  virtual at::Tensor load(const std::string& name) const = 0;
};

/// Weights already in memory by name (a TorchScript module's parameters and buffers, a torch.save
/// state dict): shape, names and a float32 copy on load; `what` names the source in messages.
class TensorMapSource : public WeightSource {
 public:
  explicit TensorMapSource(std::string what) : what_(std::move(what)) {}
  std::optional<std::vector<int64_t>> shape(const std::string& name) const override;
  /// kNotFound for an absent name, kUnsupported for a tensor that is not floating point.
  at::Tensor load(const std::string& name) const override;
  std::vector<std::string> names() const override;
  std::string describe() const override { return what_; }

 protected:
  std::map<std::string, at::Tensor> tensors_;

 private:
  std::string what_;
};

/// A single .safetensors file, or a sharded checkpoint's model.safetensors.index.json whose
/// "weight_map" names the shard of each tensor (shards are opened and validated up front).
std::unique_ptr<WeightSource> open_safetensors_source(const std::string& path);

/// Parameters and buffers of a TorchScript archive by their state-dict names.
std::unique_ptr<WeightSource> open_torchscript_source(const std::string& path);

/// Spec of OpenAI-named CLIP weights, inferred from their tensor shapes the way OpenAI's
/// clip.model.build_model does (heads read from a TorchScript archive's attention code when it
/// states them, else width / 64). `source` from open_torchscript_source or open_clip_state_dict.
ModelSpec spec_from_torchscript(const std::string& path, const WeightSource& source);

/// What a .pt file is: a TorchScript archive (torch.jit.save: code and constants records) or a
/// torch.save pickle. kCorrupt naming the file when it is not a readable zip at all.
enum class PtKind { kTorchScript, kTorchSave };
PtKind pt_kind(const std::string& path);

/// CLIP weights found in a torch.save checkpoint (clip_state_dict.cpp), with OpenAI's names.
struct ClipStateDict {
  std::string layout;  ///< "clip4cir", "spn4cir_clip4cir" or "openai_state_dict"
  std::unique_ptr<WeightSource> source;
};
/// Reads CLIP4Cir's {'CLIP': sd}, SPN4CIR clip4cir's {'state_dict': {'clip.*'}} or a bare OpenAI
/// state dict. kUnsupported for an SPN4CIR tgcir file (saying what it is), kModel naming the
/// top-level keys for other checkpoints, kCorrupt / kNotFound from the reader.
ClipStateDict open_clip_state_dict(const std::string& path);

/// How one OpenAI-named tensor is assembled from Hugging Face tensors.
struct HfRule {
  enum class Kind { kCopy, kTranspose, kConcat };
  std::string name;                  ///< OpenAI/internal name
  std::vector<std::string> sources;  ///< HF names (three for kConcat: q, k, v)
  Kind kind = Kind::kCopy;
};

/// The rule for every internal tensor of a ViT CLIP described by `spec` (plus logit_scale).
std::vector<HfRule> hf_rules(const ModelSpec& spec);

/// Fills every tensor of `net` (named_weights, plus logit_scale when present) from `source`,
/// checking presence and shape. `hf_names` selects the Hugging Face mapping. Throws kModel
/// (missing tensor or wrong shape, naming the tensor, expected and found shape).
/// Returns the number of parameters loaded.
int64_t load_weights(ClipNetImpl& net, const WeightSource& source, bool hf_names);

}  // namespace cir::model::detail
