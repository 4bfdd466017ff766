// BLIP-2 throughput and gallery memory. A BLIP-2-shaped model with random weights (EVA
// ViT-g/14: width 1408, 39 blocks, 16 heads, MLP 6144, 224 px; Q-Former BERT-base, 12 layers,
// 32 queries, cross-attention every 2nd layer) runs images and texts in bf16 on the given
// threads; the ViT alone is timed beside the full image path as the in-run baseline. Then the
// gallery cost of cir's BLIP-2 rows (32 x [256 projected | 768 query embeds] fp16 per image): the
// arithmetic, and real stores (Flat and HNSW32) filled with such items to measure the per-item
// overhead, the ANN's RAM, and search speed and recall for max-over-vectors and ZIRACLE's slot rule.
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

// The BLIP-2 row as cir stores it: [n(vision_proj(q_i)) (256) | n(q_i) (768)] per slot.
constexpr int kSlots = 32, kFeatureDim = 256, kStateDim = 768, kRowDim = kFeatureDim + kStateDim;

// A store of `n_items` BLIP-2-shaped items (random unit parts), index key `key`.
std::unique_ptr<cir::index::Store> fill_store(const std::string& dir, int64_t n_items, const std::string& key,
                                              cir::FloatMatrix* sample_rows) {
  cir::index::IndexManifest manifest;
  manifest.model = {"blip2", "random", "bench", ""};
  manifest.embed_dim = kRowDim;
  manifest.vectors_per_item = kSlots;
  manifest.row_parts = {{"features", kFeatureDim}, {"query_embeds", kStateDim}};
  manifest.index_key = key;
  auto store = cir::index::Store::create(dir, manifest);
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.f, 1.f);
  constexpr int64_t kBatch = 50;
  for (int64_t first = 0; first < n_items; first += kBatch) {
    std::vector<std::vector<float>> batch_vectors;
    std::vector<cir::index::NewItem> items;
    for (int64_t i = first; i < std::min(n_items, first + kBatch); ++i) {
      std::vector<float> rows(static_cast<size_t>(kSlots * kRowDim));
      for (float& v : rows) v = normal(rng);
      for (int s = 0; s < kSlots; ++s) {  // each part unit length, as the encoder writes them
        for (auto [begin, len] : {std::pair{0, kFeatureDim}, std::pair{kFeatureDim, kStateDim}}) {
          float* part = rows.data() + s * kRowDim + begin;
          double n = 0;
          for (int k = 0; k < len; ++k) n += double(part[k]) * part[k];
          for (int k = 0; k < len; ++k) part[k] = static_cast<float>(part[k] / std::sqrt(n));
        }
      }
      if (sample_rows && i % 97 == 0 && sample_rows->rows < 64) {
        sample_rows->data.insert(sample_rows->data.end(), rows.begin(), rows.begin() + kSlots * kRowDim);
        sample_rows->rows += kSlots;
      }
      batch_vectors.push_back(std::move(rows));
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
  return store;
}

// ZIRACLE-shaped queries: [0 | v] with v a stored slot's state plus noise (with tau = 0.001 the
// weights are one-hot, so v is close to one slot of the reference), and one-hot slot weights.
cir::FloatMatrix ziracle_queries(const cir::FloatMatrix& sample_rows, int64_t n) {
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.f, 0.03f);
  cir::FloatMatrix q(n, kRowDim);
  for (int64_t i = 0; i < n; ++i) {
    const float* src = sample_rows.row((i * 7) % sample_rows.rows);
    double norm = 0;
    for (int k = kFeatureDim; k < kRowDim; ++k) {
      q.row(i)[k] = src[k] + normal(rng);
      norm += double(q.row(i)[k]) * q.row(i)[k];
    }
    for (int k = kFeatureDim; k < kRowDim; ++k) q.row(i)[k] = static_cast<float>(q.row(i)[k] / std::sqrt(norm) / (kSlots * kSlots));
  }
  return q;
}

cir::index::Store::ItemScorer slot_rule(int slot) {
  return [slot](const float* products, int n) { return slot < n ? products[slot] : 0.f; };
}

// The engine's slot-form path (Engine::slot_search): ANN max-over-vectors candidates, then the
// exact rule over them.
cir::index::SearchResult two_stage(const cir::index::Store& store, const cir::FloatMatrix& q,
                                   const cir::index::Store::ItemScorer& rule, int k) {
  cir::index::SearchRequest first;
  first.k = std::max(256, 10 * k);
  const auto found = store.search(q, first);
  std::vector<int64_t> ids;
  for (const auto& h : found.queries[0].hits) ids.push_back(h.id);
  cir::index::SearchRequest second;
  second.k = k;
  second.candidate_ids = ids;
  return store.search_scored(q, rule, second);
}

void bench_gallery(const Flags& f) {
  constexpr int64_t kZiracleBytes = int64_t{kSlots} * kStateDim * 2;  // fp16
  constexpr int64_t kRowBytes = int64_t{kSlots} * kRowDim * 2;
  emit_row("blip2_gallery", {{"figure", "vector_bytes_per_image"}, {"value", kRowBytes},
                             {"arithmetic", "32 slots x (256 features + 768 query embeds) x 2 bytes (fp16) = 65536 B = 64 KiB "
                                            "(ZIRACLE's 32 x 768 part alone: 49152 B = 48 KiB)"},
                             {"ziracle_part_bytes", kZiracleBytes},
                             {"per_1m_images_gib", static_cast<double>(kRowBytes) * 1e6 / (1024.0 * 1024 * 1024)}});
  if (f.store_items <= 0) return;
  const std::filesystem::path base =
      std::filesystem::temp_directory_path() / ("cir-bench-blip2-" + std::to_string(::getpid()));
  std::filesystem::remove_all(base);
  cir::FloatMatrix sample(0, kRowDim);
  for (const std::string key : {"Flat", "HNSW32"}) {
    const std::string dir = (base / key).string();
    const auto t0 = std::chrono::steady_clock::now();
    auto store = fill_store(dir, f.store_items, key, key == "Flat" ? &sample : nullptr);
    const double build_s = seconds_since(t0);
    const auto info = store->info();
    const double per_item = static_cast<double>(info.disk_bytes) / static_cast<double>(f.store_items);
    emit_row("blip2_gallery", {{"figure", "store_disk_bytes_per_image"}, {"index_key", key}, {"items", f.store_items},
                               {"value", per_item}, {"overhead_bytes_per_image", per_item - static_cast<double>(kRowBytes)},
                               {"per_1m_images_gib", per_item * 1e6 / (1024.0 * 1024 * 1024)},
                               {"ann_ram_bytes_per_image",
                                static_cast<double>(info.index_memory_bytes) / static_cast<double>(f.store_items)},
                               {"build_seconds", build_s}});
    // Speed: plain max-over-vectors (a text query [t | 0]) and ZIRACLE's slot rule, exact;
    // on HNSW also the approximate paths with their recall@10 against exact.
    const cir::FloatMatrix queries = ziracle_queries(sample, 16);
    cir::FloatMatrix text_like(16, kRowDim);
    for (int64_t i = 0; i < 16; ++i) {
      double n = 0;
      for (int k = 0; k < kFeatureDim; ++k) n += double(sample.row(i)[k]) * sample.row(i)[k];
      for (int k = 0; k < kFeatureDim; ++k) text_like.row(i)[k] = static_cast<float>(sample.row(i)[k] / std::sqrt(n));
    }
    const auto max_recall = store->measure_recall(text_like, 10);
    emit_row("blip2_search", {{"figure", "max_over_vectors_ms_per_query"}, {"index_key", key}, {"items", f.store_items},
                              {"vectors", f.store_items * kSlots}, {"exact_ms", max_recall.exact_ms_per_query},
                              {"ann_ms", max_recall.ann_ms_per_query}, {"recall_at_10", max_recall.recall}});
    double exact_ms = 0, approx_ms = 0, overlap = 0;
    for (int64_t i = 0; i < queries.rows; ++i) {
      cir::FloatMatrix one(1, kRowDim);
      std::copy_n(queries.row(i), kRowDim, one.row(0));
      const auto rule = slot_rule(static_cast<int>((i * 7) % kSlots));
      cir::index::SearchRequest req;
      req.k = 10;
      auto t1 = std::chrono::steady_clock::now();
      const auto exact = store->search_scored(one, rule, req);
      exact_ms += 1000 * seconds_since(t1);
      t1 = std::chrono::steady_clock::now();
      const auto approx = two_stage(*store, one, rule, 10);
      approx_ms += 1000 * seconds_since(t1);
      int hits = 0;
      for (const auto& a : approx.queries[0].hits)
        for (const auto& e : exact.queries[0].hits) hits += a.id == e.id;
      overlap += hits / 10.0;
    }
    const double n = static_cast<double>(queries.rows);
    emit_row("blip2_search", {{"figure", "ziracle_ms_per_query"}, {"index_key", key}, {"items", f.store_items},
                              {"exact_ms", exact_ms / n}, {"two_stage_ms", approx_ms / n},
                              {"two_stage_recall_at_10", overlap / n},
                              {"note", "exact = search_scored over every item; two_stage = ANN top-256 by max-over-vectors "
                                       "then search_scored over them (as Engine::slot_search)"}});
  }
  std::filesystem::remove_all(base);
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
