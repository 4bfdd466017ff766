// BLIP-2 throughput and gallery memory. A BLIP-2-shaped model with random weights (EVA
// ViT-g/14: width 1408, 39 blocks, 16 heads, MLP 6144, 224 px; Q-Former BERT-base, 12 layers,
// 32 queries, cross-attention every 2nd layer) runs images and texts in bf16 on the given
// threads; the ViT alone is timed beside the full image path as the in-run baseline. Then the
// gallery cost of ZIRACLE's 32 x 768 fp16 vectors per image: the arithmetic, and a real store
// (cir_index, Flat) filled with a few hundred such items to measure the per-item overhead.
//
// Flags: --images=N (default 4), --texts=N (64), --threads=N (2), --dtype=bf16|fp32,
// --store-items=N (500; 0 skips the store), --skip-model. One JSON row per figure on stdout.
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>

#include "bench_util.h"
#include "cir/blip2.h"
#include "cir/index.h"

namespace {

using cir::bench::best_seconds;
using cir::bench::emit_row;

struct Flags {
  int64_t images = 4;
  int64_t texts = 64;
  int threads = 2;
  std::string dtype = "bf16";
  int64_t store_items = 500;
  bool skip_model = false;
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
    else if (const char* v = value("texts")) f.texts = std::stoll(v);
    else if (const char* v = value("threads")) f.threads = std::stoi(v);
    else if (const char* v = value("dtype")) f.dtype = v;
    else if (const char* v = value("store-items")) f.store_items = std::stoll(v);
    else if (arg == "--skip-model") f.skip_model = true;
    else throw cir::Error(cir::ErrorCode::kInvalidArgument, "bench_blip2: unknown flag '" + arg + "'");
  }
  return f;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Texts of 12 random word pieces between [CLS] and [SEP] (a typical caption), padded to 32.
cir::TokenBatch random_tokens(int64_t n, int vocab_size) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> id(1000, vocab_size - 2);
  cir::TokenBatch b;
  b.n_texts = n;
  b.context_length = 32;
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

void bench_model(const Flags& f) {
  cir::model::Blip2Spec spec;  // the defaults are EVA ViT-g/14 + BERT-base Q-Former
  cir::model::ModelOptions options;
  options.dtype = cir::model::parse_dtype(f.dtype);
  options.n_threads = f.threads;
  options.hash_weights = false;
  const auto t0 = std::chrono::steady_clock::now();
  const auto model = cir::model::Blip2Model::random(spec, options, 0);
  const std::string name = "blip2 eva-vit-g14 + qformer-base (random weights)";
  const nlohmann::json common = {{"model", name}, {"dtype", f.dtype}, {"threads", f.threads},
                                 {"runtime", cir::model::describe_torch_runtime()}};
  nlohmann::json build = common;
  build.update({{"figure", "build_seconds"}, {"value", seconds_since(t0)}, {"n_parameters", model->spec().n_parameters}});
  emit_row("blip2_model", build);

  std::vector<float> pixels(static_cast<size_t>(f.images * 3 * spec.image_size * spec.image_size));
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.f, 1.f);
  for (float& p : pixels) p = normal(rng);
  const double vit_s = best_seconds(1, [&] { model->encode_vision_tokens(pixels.data(), f.images); });
  const double image_s = best_seconds(1, [&] { model->encode_images(pixels.data(), f.images); });
  for (const auto& [figure, seconds] : {std::pair{"vit_only_images_per_second", vit_s}, std::pair{"images_per_second", image_s}}) {
    nlohmann::json row = common;
    row.update({{"figure", figure}, {"batch", f.images}, {"value", static_cast<double>(f.images) / seconds},
                {"seconds_per_image", seconds / static_cast<double>(f.images)}});
    emit_row("blip2_image", row);
  }
  const cir::TokenBatch tokens = random_tokens(f.texts, spec.vocab_size);
  const double text_s = best_seconds(3, [&] { model->encode_texts(tokens); });
  nlohmann::json text_row = common;
  text_row.update({{"figure", "texts_per_second"}, {"batch", f.texts}, {"tokens_per_text", 14},
                   {"value", static_cast<double>(f.texts) / text_s}});
  emit_row("blip2_text", text_row);
}

void bench_gallery(const Flags& f) {
  constexpr int kSlots = 32, kDim = 768;
  constexpr int64_t kBytesPerImage = int64_t{kSlots} * kDim * 2;  // fp16
  emit_row("blip2_gallery", {{"figure", "vector_bytes_per_image"}, {"value", kBytesPerImage},
                             {"arithmetic", "32 slots x 768 dims x 2 bytes (fp16) = 49152 B = 48 KiB"},
                             {"per_1m_images_gib", static_cast<double>(kBytesPerImage) * 1e6 / (1024.0 * 1024 * 1024)}});
  if (f.store_items <= 0) return;
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("cir-bench-blip2-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  cir::index::IndexManifest manifest;
  manifest.model = {"blip2", "random", "bench", ""};
  manifest.embed_dim = kDim;
  manifest.vectors_per_item = kSlots;
  manifest.index_key = "Flat";
  int64_t disk_bytes = 0, index_memory = 0;
  {
    auto store = cir::index::Store::create(dir.string(), manifest);
    std::mt19937 rng(3);
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<float> vectors(static_cast<size_t>(kSlots * kDim));
    constexpr int64_t kBatch = 50;
    for (int64_t first = 0; first < f.store_items; first += kBatch) {
      std::vector<std::vector<float>> batch_vectors;
      std::vector<cir::index::NewItem> items;
      for (int64_t i = first; i < std::min(f.store_items, first + kBatch); ++i) {
        for (float& v : vectors) v = normal(rng);
        cir::FloatMatrix m(kSlots, kDim);
        m.data = vectors;
        cir::normalize_rows(m);
        batch_vectors.push_back(std::move(m.data));
        cir::index::NewItem item;
        item.external_id = "images/" + std::to_string(i) + ".jpg";
        item.content_hash = std::string(64, 'a');
        items.push_back(std::move(item));
      }
      for (size_t k = 0; k < items.size(); ++k) {
        items[k].vectors = batch_vectors[k].data();
        items[k].n_vectors = kSlots;
      }
      store->add_items(items);
    }
    store->flush();
    const auto info = store->info();
    disk_bytes = info.disk_bytes;
    index_memory = info.index_memory_bytes;
  }
  std::filesystem::remove_all(dir);
  const double per_item = static_cast<double>(disk_bytes) / static_cast<double>(f.store_items);
  emit_row("blip2_gallery", {{"figure", "store_disk_bytes_per_image"}, {"items", f.store_items}, {"value", per_item},
                             {"overhead_bytes_per_image", per_item - static_cast<double>(kBytesPerImage)},
                             {"per_1m_images_gib", per_item * 1e6 / (1024.0 * 1024 * 1024)},
                             {"flat_index_ram_bytes_per_image", static_cast<double>(index_memory) / static_cast<double>(f.store_items)}});
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Flags flags = parse_flags(argc, argv);
    if (!flags.skip_model) bench_model(flags);
    bench_gallery(flags);
  } catch (const cir::Error& e) {
    std::fprintf(stderr, "bench_blip2: %s\n", e.what());
    return 1;
  }
  return 0;
}
