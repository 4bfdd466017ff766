// Private to cir_model: safetensors files as at::Tensors. The file itself (mapping, header
// validation, raw bytes, float conversion) is read by the std-only SafetensorsMapping
// (safetensors_header.h); this adds the libtorch side: tensors out of a validated file, and
// the writer.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "model/safetensors_header.h"

namespace cir::model::detail {

/// A validated safetensors file (see SafetensorsMapping: opening checks the whole header and
/// throws kNotFound / kIo / kCorrupt) whose tensors come out as at::Tensors. Move-only.
class SafetensorsFile : public SafetensorsMapping {
 public:
  using SafetensorsMapping::SafetensorsMapping;

  /// Copies a tensor out of the mapping as float32 (converting F16/BF16/F64).
  /// Throws kNotFound (no such tensor) or kUnsupported (integer or 8-bit float dtypes).
  at::Tensor load_float(const std::string& name) const;
};

/// Writes tensors (any float dtype; each is written as float32 when `as_bfloat16` is false,
/// else as BF16) to a safetensors file, crash-safely (temp file, fsync, rename). Names are
/// written in sorted order; `metadata` goes to the "__metadata__" entry.
/// Throws kInvalidArgument (duplicate or empty name) or kIo.
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}},
                       bool as_bfloat16 = false);

}  // namespace cir::model::detail
