// Private to cir_model: fused AVX-512 kernels for the bf16 inference path. libtorch 1.13's CPU
// kernels for bf16 LayerNorm, sigmoid-based activations, softmax and float->bf16 conversion are
// scalar and cost more than the oneDNN matmuls around them; these compute in fp32 registers and
// round to bf16 once (round-to-nearest-even, as c10::BFloat16 does).
//
// They have no autograd: callers use them only when grad mode is off, and only when
// bf16_kernels_available() (AVX-512F/BW/VL/DQ, checked at run time); otherwise they take the
// plain libtorch ops. Every tensor argument must be contiguous bf16 unless stated.
#pragma once

#include <ATen/ATen.h>

namespace cir::model::detail {

/// True when the CPU runs the AVX-512 kernels below.
bool bf16_kernels_available();

/// LayerNorm over the last dimension of a contiguous bf16 tensor with bf16 weight and bias,
/// statistics in fp32. Returns a new bf16 tensor of x's shape.
at::Tensor layer_norm_bf16(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps);

/// x <- x * sigmoid(1.702 x) in place (OpenAI's QuickGELU).
void quick_gelu_bf16_(at::Tensor& x);

/// In place softmax over the last dimension of scores [N, Lq, Lk] after multiplying by
/// `scale`; with `causal`, query i (row index mod Lq) sees keys j <= i only.
void scaled_softmax_bf16_(at::Tensor& scores, double scale, bool causal);

/// A contiguous float32 tensor converted to bf16 (round to nearest even, NaN kept).
at::Tensor float_to_bf16(const at::Tensor& x);

}  // namespace cir::model::detail
