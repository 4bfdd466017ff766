// Hand-written AVX-512 kernels for bf16 inference (no Debian library offers fused bf16
// LayerNorm/activation/softmax for libtorch 1.13). Each row-range worker carries the target
// attribute so the file builds with the default flags; the CPU is checked once at run time.
// Lambdas do not inherit target attributes, so at::parallel_for calls plain workers.
#include "model/cpu_kernels.h"

#include <ATen/Parallel.h>
#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "cir/core.h"

#define CIR_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))

namespace cir::model::detail {
namespace {

using bf16 = uint16_t;

CIR_AVX512 inline __m512 load_bf16(const bf16* p, __mmask16 mask = 0xFFFF) {
  const __m256i raw = _mm256_maskz_loadu_epi16(mask, p);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
}

CIR_AVX512 inline void store_bf16(bf16* p, __m512 v, __mmask16 mask = 0xFFFF) {
  const __m512i bits = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF))), 16);
  const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  rounded = _mm512_mask_mov_epi32(rounded, nan, _mm512_set1_epi32(0x7FC0));
  _mm256_mask_storeu_epi16(p, mask, _mm512_cvtepi32_epi16(rounded));
}

CIR_AVX512 inline __mmask16 tail_mask(int64_t remaining) {
  return remaining >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << remaining) - 1u);
}

// e^x for x in float range: 2^n * 2^f with |f| <= 0.5 and a degree-6 Taylor polynomial of
// 2^f (relative error ~2e-7, far below bf16's 4e-3 resolution).
CIR_AVX512 inline __m512 exp512(__m512 x) {
  x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.3762626647949f)), _mm512_set1_ps(-103.0f));
  const __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f));
  const __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_mul_ps(_mm512_sub_ps(t, n), _mm512_set1_ps(0.693147180559945309f));  // ln2 * frac
  __m512 p = _mm512_set1_ps(1.0f / 720.0f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f / 120.0f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f / 24.0f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f / 6.0f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

CIR_AVX512 void layer_norm_rows(const bf16* x, bf16* y, const bf16* w, const bf16* b, int64_t begin, int64_t end,
                                int64_t cols, float eps) {
  for (int64_t r = begin; r < end; ++r) {
    const bf16* xr = x + r * cols;
    bf16* yr = y + r * cols;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t j = 0; j < cols; j += 16) acc = _mm512_add_ps(acc, load_bf16(xr + j, tail_mask(cols - j)));
    const float mean = _mm512_reduce_add_ps(acc) / static_cast<float>(cols);
    const __m512 vmean = _mm512_set1_ps(mean);
    __m512 sq = _mm512_setzero_ps();
    for (int64_t j = 0; j < cols; j += 16) {
      const __mmask16 m = tail_mask(cols - j);
      const __m512 d = _mm512_maskz_sub_ps(m, load_bf16(xr + j, m), vmean);
      sq = _mm512_fmadd_ps(d, d, sq);
    }
    const float rstd = 1.0f / std::sqrt(_mm512_reduce_add_ps(sq) / static_cast<float>(cols) + eps);
    const __m512 vrstd = _mm512_set1_ps(rstd);
    for (int64_t j = 0; j < cols; j += 16) {
      const __mmask16 m = tail_mask(cols - j);
      const __m512 d = _mm512_mul_ps(_mm512_sub_ps(load_bf16(xr + j, m), vmean), vrstd);
      store_bf16(yr + j, _mm512_fmadd_ps(d, load_bf16(w + j, m), load_bf16(b + j, m)), m);
    }
  }
}

CIR_AVX512 void quick_gelu_range(bf16* x, int64_t begin, int64_t end) {
  const __m512 k = _mm512_set1_ps(-1.702f), one = _mm512_set1_ps(1.0f);
  for (int64_t i = begin; i < end; i += 16) {
    const __mmask16 m = tail_mask(end - i);
    const __m512 v = load_bf16(x + i, m);
    const __m512 d = _mm512_add_ps(one, exp512(_mm512_mul_ps(v, k)));
    // 1/d by rcp14 and one Newton step (~1e-8 relative), much cheaper than a division.
    __m512 r = _mm512_rcp14_ps(d);
    r = _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(2.0f)));
    store_bf16(x + i, _mm512_mul_ps(v, r), m);
  }
}

CIR_AVX512 void softmax_rows(bf16* s, int64_t begin, int64_t end, int64_t lq, int64_t lk, float scale, bool causal) {
  std::vector<float> buf(static_cast<size_t>(lk + 16));
  const __m512 vscale = _mm512_set1_ps(scale);
  for (int64_t r = begin; r < end; ++r) {
    bf16* row = s + r * lk;
    const int64_t valid = causal ? std::min(lk, r % lq + 1) : lk;  // keys this query sees
    __m512 vmax = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
    for (int64_t j = 0; j < valid; j += 16) {
      const __mmask16 m = tail_mask(valid - j);
      const __m512 v = _mm512_mul_ps(load_bf16(row + j, m), vscale);
      _mm512_storeu_ps(buf.data() + j, v);
      vmax = _mm512_mask_max_ps(vmax, m, vmax, v);
    }
    const __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(vmax));
    __m512 vsum = _mm512_setzero_ps();
    for (int64_t j = 0; j < valid; j += 16) {
      const __mmask16 m = tail_mask(valid - j);
      const __m512 e = _mm512_maskz_mov_ps(m, exp512(_mm512_sub_ps(_mm512_loadu_ps(buf.data() + j), mx)));
      _mm512_storeu_ps(buf.data() + j, e);
      vsum = _mm512_add_ps(vsum, e);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(vsum));
    for (int64_t j = 0; j < valid; j += 16) {
      const __mmask16 m = tail_mask(valid - j);
      store_bf16(row + j, _mm512_mul_ps(_mm512_loadu_ps(buf.data() + j), inv), m);
    }
    if (valid < lk) std::memset(row + valid, 0, sizeof(bf16) * static_cast<size_t>(lk - valid));
  }
}

CIR_AVX512 void float_to_bf16_range(const float* src, bf16* dst, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; i += 16) {
    const __mmask16 m = tail_mask(end - i);
    store_bf16(dst + i, _mm512_maskz_loadu_ps(m, src + i), m);
  }
}

bf16* bf16_ptr(const at::Tensor& t) { return reinterpret_cast<bf16*>(t.data_ptr<at::BFloat16>()); }

void require(bool ok, const char* what) {
  if (!ok) throw Error(ErrorCode::kInternal, std::string("bf16 kernel misuse: ") + what);
}

// Elementwise work is split in chunks big enough to amortise a parallel region.
constexpr int64_t kElementGrain = 1 << 16;

}  // namespace

bool bf16_kernels_available() {
  static const bool available = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma");
  }();
  return available;
}

at::Tensor layer_norm_bf16(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps) {
  require(x.scalar_type() == at::kBFloat16 && x.is_contiguous() && weight.is_contiguous() && bias.is_contiguous() &&
              weight.scalar_type() == at::kBFloat16 && bias.scalar_type() == at::kBFloat16,
          "layer_norm_bf16 needs contiguous bf16 tensors");
  const int64_t cols = x.size(-1), rows = x.numel() / std::max<int64_t>(cols, 1);
  at::Tensor y = at::empty_like(x);
  const bf16 *xp = bf16_ptr(x), *wp = bf16_ptr(weight), *bp = bf16_ptr(bias);
  bf16* yp = bf16_ptr(y);
  const int64_t grain = std::max<int64_t>(1, kElementGrain / std::max<int64_t>(cols, 1));
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    layer_norm_rows(xp, yp, wp, bp, begin, end, cols, static_cast<float>(eps));
  });
  return y;
}

void quick_gelu_bf16_(at::Tensor& x) {
  require(x.scalar_type() == at::kBFloat16 && x.is_contiguous(), "quick_gelu_bf16_ needs a contiguous bf16 tensor");
  bf16* p = bf16_ptr(x);
  at::parallel_for(0, x.numel(), kElementGrain, [&](int64_t begin, int64_t end) { quick_gelu_range(p, begin, end); });
}

void scaled_softmax_bf16_(at::Tensor& scores, double scale, bool causal) {
  require(scores.scalar_type() == at::kBFloat16 && scores.is_contiguous() && scores.dim() == 3,
          "scaled_softmax_bf16_ needs a contiguous bf16 [N, Lq, Lk] tensor");
  const int64_t lq = scores.size(1), lk = scores.size(2), rows = scores.size(0) * lq;
  bf16* p = bf16_ptr(scores);
  const int64_t grain = std::max<int64_t>(1, kElementGrain / std::max<int64_t>(lk, 1));
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    softmax_rows(p, begin, end, lq, lk, static_cast<float>(scale), causal);
  });
}

at::Tensor float_to_bf16(const at::Tensor& x) {
  require(x.scalar_type() == at::kFloat && x.is_contiguous(), "float_to_bf16 needs a contiguous float tensor");
  at::Tensor y = at::empty(x.sizes(), x.options().dtype(at::kBFloat16));
  const float* src = x.data_ptr<float>();
  bf16* dst = bf16_ptr(y);
  at::parallel_for(0, x.numel(), kElementGrain, [&](int64_t begin, int64_t end) { float_to_bf16_range(src, dst, begin, end); });
  return y;
}

}  // namespace cir::model::detail
