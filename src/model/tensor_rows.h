// Private to cir_model: small tensor <-> FloatMatrix helpers the model runtimes share (BLIP-2,
// SPRC, CLIP).
#pragma once

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <cstring>
#include <string>

#include "cir/core.h"
#include "model/cpu_kernels.h"

namespace cir::model::detail {

/// libtorch failures inside a forward pass are cir bugs or resource limits, not user input.
[[noreturn]] inline void rethrow_torch(const std::string& context, const c10::Error& e) {
  throw Error(ErrorCode::kInternal, context + ": libtorch error: " + e.what_without_backtrace());
}

/// [B, ..., D] -> rows of D floats appended to `dst`.
inline void append_rows(FloatMatrix& dst, const at::Tensor& t) {
  const at::Tensor c = t.to(at::kFloat).contiguous();
  const int64_t cols = c.size(-1);
  const size_t before = dst.data.size();
  dst.data.resize(before + static_cast<size_t>(c.numel()));
  if (c.numel() > 0) std::memcpy(dst.data.data() + before, c.data_ptr<float>(), sizeof(float) * static_cast<size_t>(c.numel()));
  dst.rows += c.numel() / cols;
}

/// An fp32 tensor in the model's scalar type: the AVX-512 bf16 conversion where the CPU has it,
/// else libtorch's cast (a no-op for fp32).
inline at::Tensor to_scalar_type(const at::Tensor& input, at::ScalarType scalar_type) {
  if (scalar_type == at::kBFloat16 && bf16_kernels_available()) return float_to_bf16(input);
  return input.to(scalar_type);
}

/// Images first..first+count of a row-major n x 3 x size x size fp32 pixel buffer, as model input.
inline at::Tensor pixel_batch(const float* pixels, int64_t first, int64_t count, int64_t size, at::ScalarType scalar_type) {
  return to_scalar_type(at::from_blob(const_cast<float*>(pixels + first * 3 * size * size), {count, 3, size, size},
                                      at::TensorOptions().dtype(at::kFloat)),
                        scalar_type);
}

/// L2 normalisation over the last dimension with torch.nn.functional.normalize's eps.
inline at::Tensor normalized(const at::Tensor& t) {
  const at::Tensor f = t.to(at::kFloat);
  return f / f.norm(2, -1, true).clamp_min(1e-12);
}

}  // namespace cir::model::detail
