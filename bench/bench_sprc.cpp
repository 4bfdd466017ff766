// SPRC throughput on a real-size model with random weights (EVA ViT-g/14 at 224 px: width 1408,
// 39 blocks, MLP 6144; BERT-base Q-Former, 32 queries, cross-attention every 2nd layer;
// 768 -> 256 heads): gallery encoding (ViT + the query-only Q-Former pass, 32 rows per image),
// and composed-query latency (reference ViT + SPRC's two Q-Former passes over 32 queries + 32
// text positions), in the given dtype on the given threads. Each figure comes with its GFLOP/s
// and the fraction of each peak measured in the same run on the same threads: fp32 FMA
// (AVX-512 vfmadd231ps, else AVX2), bf16 dot products (AVX-512 vdpbf16ps) and AMX bf16 tile
// products (tdpbf16ps, what oneDNN's bf16 matmuls run on where the CPU has AMX) when the CPU has them.
//
// Flags: --images=N (default 2), --queries=N (2), --threads=N (2), --dtype=bf16|fp32,
// --layout=sprc|blip24cir. One JSON row per figure on stdout.
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "cir/blip2.h"

namespace {

using cir::bench::best_seconds;
using cir::bench::emit_row;

struct Flags {
  int64_t images = 2;
  int64_t queries = 2;
  int threads = 2;
  std::string dtype = "bf16";
  std::string layout = "sprc";
};

Flags parse_flags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const char* name) -> const char* {
      const std::string prefix = std::string("--") + name + "=";
      return arg.rfind(prefix, 0) == 0 ? argv[i] + prefix.size() : nullptr;
    };
    if (const char* v = value("images")) f.images = std::stoll(v);
    else if (const char* v = value("queries")) f.queries = std::stoll(v);
    else if (const char* v = value("threads")) f.threads = std::stoi(v);
    else if (const char* v = value("dtype")) f.dtype = v;
    else if (const char* v = value("layout")) f.layout = v;
    else throw cir::Error(cir::ErrorCode::kInvalidArgument, "bench_sprc: unknown flag '" + arg + "'");
  }
  if (f.layout != "sprc" && f.layout != "blip24cir")
    throw cir::Error(cir::ErrorCode::kInvalidArgument, "bench_sprc: --layout must be sprc or blip24cir, found " + f.layout);
  return f;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// ---- measured peaks: 16 independent accumulators hide the FMA latency on every port.

constexpr int64_t kPeakIterations = 20'000'000;

__attribute__((target("avx512f"))) double fma_flops_avx512(int64_t iterations) {
  __m512 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(0.001f * static_cast<float>(i));
  const __m512 a = _mm512_set1_ps(0.9999f), b = _mm512_set1_ps(0.0001f);
  for (int64_t it = 0; it < iterations; ++it)
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  alignas(64) float lanes[16];
  float sink = 0;
  for (int i = 0; i < 16; ++i) {
    _mm512_store_ps(lanes, acc[i]);  // not _mm512_reduce_add_ps: GCC 12 warns inside it
    for (float v : lanes) sink += v;
  }
  volatile float keep = sink;
  (void)keep;
  return static_cast<double>(iterations) * 16 * 16 * 2;  // 16 lanes, multiply + add
}

__attribute__((target("avx2,fma"))) double fma_flops_avx2(int64_t iterations) {
  __m256 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm256_set1_ps(0.001f * static_cast<float>(i));
  const __m256 a = _mm256_set1_ps(0.9999f), b = _mm256_set1_ps(0.0001f);
  for (int64_t it = 0; it < iterations; ++it)
    for (int i = 0; i < 16; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  alignas(32) float lanes[8];
  float sink = 0;
  for (int i = 0; i < 16; ++i) {
    _mm256_store_ps(lanes, acc[i]);
    for (float v : lanes) sink += v;
  }
  volatile float keep = sink;
  (void)keep;
  return static_cast<double>(iterations) * 16 * 8 * 2;
}

__attribute__((target("avx512f,avx512bf16"))) double bf16_dot_flops(int64_t iterations) {
  __m512 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_setzero_ps();
  const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.5f), _mm512_set1_ps(0.25f));
  for (int64_t it = 0; it < iterations; ++it)
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, a);
  alignas(64) float lanes[16];
  float sink = 0;
  for (int i = 0; i < 16; ++i) {
    _mm512_store_ps(lanes, acc[i]);  // not _mm512_reduce_add_ps: GCC 12 warns inside it
    for (float v : lanes) sink += v;
  }
  volatile float keep = sink;
  (void)keep;
  return static_cast<double>(iterations) * 16 * 32 * 2;  // 32 bf16 pairs per instruction
}

// AMX (Sapphire Rapids on): oneDNN runs bf16 matmuls on the tile unit, far above the AVX-512
// bf16 dot peak, so that peak is measured too. The kernel needs the kernel's permission to use
// tile data (arch_prctl ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA), asked once per process.
bool amx_available() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  const bool cpu = (edx & (1u << 22)) && (edx & (1u << 24));  // AMX-BF16, AMX-TILE
  static const bool permitted = cpu && syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */) == 0;
  return permitted;
}

// Palette 1 tile configuration: 8 tiles of 16 rows x 64 bytes.
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

__attribute__((target("amx-tile,amx-bf16"))) double amx_bf16_flops(int64_t iterations) {
  TileConfig config;
  for (int t = 0; t < 8; ++t) {
    config.rows[t] = 16;
    config.colsb[t] = 64;
  }
  _tile_loadconfig(&config);
  alignas(64) uint16_t operand[16 * 32];
  for (auto& v : operand) v = 0x3f00;  // bf16 0.5
  _tile_loadd(4, operand, 64);
  _tile_loadd(5, operand, 64);
  _tile_loadd(6, operand, 64);
  _tile_loadd(7, operand, 64);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  // Four independent accumulators; each TDPBF16PS is a 16x16 += 16x32 * 32x16 bf16 product.
  for (int64_t it = 0; it < iterations / 4; ++it) {
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  alignas(64) float out[16 * 16];
  _tile_stored(0, out, 64);
  _tile_release();
  volatile float keep = out[0];
  (void)keep;
  return static_cast<double>(iterations / 4) * 4 * 16 * 16 * 32 * 2;
}

// GFLOP/s of `kernel` run on `threads` threads at once.
double peak_gflops(int threads, double (*kernel)(int64_t)) {
  std::vector<double> flops(static_cast<size_t>(threads));
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back([&, t] { flops[static_cast<size_t>(t)] = kernel(kPeakIterations); });
  for (auto& th : pool) th.join();
  const double seconds = seconds_since(t0);
  double total = 0;
  for (double f : flops) total += f;
  return total / seconds / 1e9;
}

// ---- FLOPs of the SPRC paths (multiply-adds x 2; softmax, norms and GELU not counted).

double linear_flops(double rows, double in, double out) { return 2 * rows * in * out; }

double vit_flops(const cir::model::Blip2Spec& s) {
  const double t = s.n_vision_tokens(), w = s.vision_width, m = s.vision_mlp;
  const double patch = linear_flops(t - 1, 3.0 * s.patch_size * s.patch_size, w);
  const double block = linear_flops(t, w, 3 * w) + linear_flops(t, w, w) + 2 * linear_flops(t, w, m) + 2 * 2 * t * t * w;
  return patch + s.vision_layers * block;
}

// One Q-Former pass over n_query query positions + n_text text positions; with an image the
// queries cross-attend to its tokens in every cross_attention_frequency-th layer.
double qformer_flops(const cir::model::Blip2Spec& s, double n_query, double n_text, bool image) {
  const double w = s.qformer_width, l = n_query + n_text, tv = s.n_vision_tokens(), wv = s.vision_width;
  double total = 0;
  for (int layer = 0; layer < s.qformer_layers; ++layer) {
    total += 4 * linear_flops(l, w, w) + 2 * 2 * l * l * w + 2 * linear_flops(l, w, s.qformer_intermediate);
    if (image && layer % s.cross_attention_frequency == 0)
      total += 2 * linear_flops(n_query, w, w) + 2 * linear_flops(tv, wv, w) + 2 * 2 * n_query * tv * w;
  }
  return total;
}

cir::TokenBatch caption_tokens(int64_t n, int vocab_size) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> id(1000, vocab_size - 2);
  cir::TokenBatch b;
  b.n_texts = n;
  b.context_length = 32;  // SPRC pads to max_txt_len
  b.ids.assign(static_cast<size_t>(n * 32), 0);
  for (int64_t i = 0; i < n; ++i) {
    int32_t* row = b.ids.data() + i * 32;
    row[0] = 101;
    for (int j = 1; j <= 12; ++j) row[j] = id(rng);
    row[13] = 102;
    b.lengths.push_back(14);
  }
  return b;
}

void bench(const Flags& f) {
  const double fp32_peak = peak_gflops(f.threads, __builtin_cpu_supports("avx512f") ? fma_flops_avx512 : fma_flops_avx2);
  const bool has_bf16 = __builtin_cpu_supports("avx512bf16");
  const double bf16_peak = has_bf16 ? peak_gflops(f.threads, bf16_dot_flops) : 0.0;
  emit_row("sprc_peak", {{"figure", "fp32_fma_gflops"}, {"threads", f.threads}, {"value", fp32_peak},
                         {"isa", __builtin_cpu_supports("avx512f") ? "avx512 vfmadd231ps" : "avx2 vfmadd231ps"}});
  if (has_bf16) emit_row("sprc_peak", {{"figure", "bf16_dot_gflops"}, {"threads", f.threads}, {"value", bf16_peak},
                                       {"isa", "avx512 vdpbf16ps"}});
  const bool has_amx = amx_available();
  const double amx_peak = has_amx ? peak_gflops(f.threads, amx_bf16_flops) : 0.0;
  if (has_amx) emit_row("sprc_peak", {{"figure", "amx_bf16_gflops"}, {"threads", f.threads}, {"value", amx_peak},
                                      {"isa", "amx tdpbf16ps"}});

  cir::model::SprcSpec spec;  // Blip2Spec defaults: EVA ViT-g/14 + BERT-base, 32 queries, 256-d heads
  spec.layout = f.layout == "sprc" ? cir::model::SprcLayout::kSprc : cir::model::SprcLayout::kSpn4cirBlip24cir;
  cir::model::ModelOptions options;
  options.dtype = cir::model::parse_dtype(f.dtype);
  options.n_threads = f.threads;
  options.hash_weights = false;
  const auto t0 = std::chrono::steady_clock::now();
  const auto model = cir::model::SprcModel::random(spec, options, 0);
  const std::string name = "sprc eva-vit-g14 + qformer-base (random weights, layout " + f.layout + ")";
  const nlohmann::json common = {{"model", name}, {"dtype", f.dtype}, {"threads", f.threads},
                                 {"runtime", cir::model::describe_torch_runtime()}};
  nlohmann::json build = common;
  build.update({{"figure", "build_seconds"}, {"value", seconds_since(t0)}, {"n_parameters", model->spec().blip2.n_parameters}});
  emit_row("sprc_model", build);

  const cir::model::Blip2Spec& s = model->spec().blip2;
  auto with_rates = [&](nlohmann::json row, double flops, double seconds) {
    const double gflops = flops / seconds / 1e9;
    row.update({{"gflop_per_item", flops / 1e9}, {"gflops", gflops}, {"fraction_of_fp32_fma_peak", gflops / fp32_peak}});
    if (has_bf16) row["fraction_of_bf16_dot_peak"] = gflops / bf16_peak;
    if (has_amx) row["fraction_of_amx_bf16_peak"] = gflops / amx_peak;
    return row;
  };

  std::vector<float> pixels(static_cast<size_t>(std::max(f.images, f.queries) * 3 * s.image_size * s.image_size));
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.f, 1.f);
  for (float& p : pixels) p = normal(rng);

  const double vit = vit_flops(s), gallery_qformer = qformer_flops(s, s.n_query_tokens, 0, true);
  const double gallery_s = best_seconds(1, [&] { model->encode_images(pixels.data(), f.images); }) / static_cast<double>(f.images);
  nlohmann::json gallery = common;
  gallery.update({{"figure", "gallery_images_per_second"}, {"batch", f.images}, {"value", 1.0 / gallery_s},
                  {"seconds_per_image", gallery_s}});
  emit_row("sprc_gallery", with_rates(gallery, vit + gallery_qformer, gallery_s));

  const cir::TokenBatch tokens = caption_tokens(f.queries, s.vocab_size);
  const double passes = qformer_flops(s, s.n_query_tokens, 32, true) + qformer_flops(s, s.n_query_tokens, 32, false);
  const double composed_s =
      best_seconds(1, [&] { model->encode_composed(pixels.data(), f.queries, tokens); }) / static_cast<double>(f.queries);
  nlohmann::json composed = common;
  composed.update({{"figure", "composed_query_ms"}, {"batch", f.queries}, {"value", 1000 * composed_s},
                   {"includes", "reference ViT + pass 1 (image) + pass 2 (no image) + projection"}});
  emit_row("sprc_query", with_rates(composed, vit + passes, composed_s));

  // What a gallery-id reference costs (SPRC's validation takes the reference's ViT tokens from
  // the index): the two passes alone.
  const cir::FloatMatrix reference = model->encode_vision_tokens(pixels.data(), f.queries);
  const double passes_s =
      best_seconds(2, [&] { model->encode_queries(reference.data.data(), tokens); }) / static_cast<double>(f.queries);
  nlohmann::json two_passes = common;
  two_passes.update({{"figure", "qformer_passes_ms"}, {"batch", f.queries}, {"value", 1000 * passes_s},
                     {"includes", "pass 1 + pass 2 + projection, reference ViT tokens given"}});
  emit_row("sprc_query", with_rates(two_passes, passes, passes_s));
}

}  // namespace

int main(int argc, char** argv) {
  try {
    bench(parse_flags(argc, argv));
  } catch (const cir::Error& e) {
    std::fprintf(stderr, "bench_sprc: %s\n", e.what());
    return 1;
  }
  return 0;
}
