// bench_seize: per-query wall time of `seize` through Engine::query_batch on a 1,000-image index
// of the shapes world, with a cold response cache (the reference's 15 captions and the 15 edits
// asked of the real npm test server: inference-server on node-llama-cpp, the tiny random llama of
// tests/llm) and then warm (the same queries again: every answer from the SQLite cache). The
// baseline in the same run is `sum` on the same queries (no generation). Prints JSON rows; skips
// with a row when the server is not installed (scripts/setup installs it).
//
// Usage: bench_seize [--images 1000] [--queries 8] [--threads 2] [--max-tokens 32]
//   --max-tokens caps the editor's answers (the random model always runs to the cap; the
//   method's own 128 makes the cold rows measure mostly the tiny model's decoding).
#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "bench_util.h"
#include "cir/engine.h"
#include "cir/synth.h"
#include "unit/gen/llm_server.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Options {
  int images = 1000;
  int queries = 8;
  int threads = 2;
  int max_tokens = 32;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    auto value = [&](const char* flag, int& out) {
      const size_t n = std::strlen(flag);
      if (std::strncmp(argv[i], flag, n) == 0 && argv[i][n] == '=') out = std::atoi(argv[i] + n + 1);
    };
    value("--images", o.images);
    value("--queries", o.queries);
    value("--threads", o.threads);
    value("--max-tokens", o.max_tokens);
  }
  return o;
}

struct Gallery {
  std::vector<cir::synth::Query> queries;
  std::map<std::string, std::string> file_of_scene;  // scene id -> its file (the item's external id)
};

// A world with at least `images` scenes over its splits, indexed from a list of their files.
Gallery build_gallery(const Options& o, const fs::path& root, const std::string& index_dir) {
  cir::synth::SynthOptions so;
  so.n_scenes = o.images;
  so.seed = 11;
  const cir::synth::World world = cir::synth::generate_world(so);
  cir::synth::write_world(world, (root / "world").string());
  std::ofstream list(root / "world" / "gallery.txt");
  int n = 0;
  Gallery g;
  for (const auto& split : world.splits) {
    for (const auto& scene : split.scenes)
      if (n++ < o.images) {
        list << scene.file << "\n";
        g.file_of_scene[scene.id] = scene.file;
      }
    for (const auto& q : split.queries) g.queries.push_back(q);
  }
  list.close();
  cir::engine::IngestOptions io;
  io.images = (root / "world" / "gallery.txt").string();
  io.model = CIR_SOURCE_DIR "/models/shapes-clip";
  io.encoder.n_threads = o.threads;
  io.progress = false;
  cir::engine::build_index(index_dir, io);
  return g;
}

struct Timing {
  std::vector<double> ms;
  cir::engine::QueryTimings stages;  // summed over the queries
  double mean() const {
    double s = 0;
    for (double v : ms) s += v;
    return ms.empty() ? 0 : s / static_cast<double>(ms.size());
  }
  double median() const {
    std::vector<double> v = ms;
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
  }
};

Timing run_queries(cir::engine::Engine& engine, const std::vector<cir::engine::QueryRequest>& requests) {
  Timing t;
  for (const auto& r : requests) {
    const auto t0 = Clock::now();
    const auto results = engine.query_batch({r});
    t.ms.push_back(1000.0 * std::chrono::duration<double>(Clock::now() - t0).count());
    const auto& s = results.at(0).took_ms;
    for (auto [sum, v] : {std::pair{&t.stages.decode, s.decode}, {&t.stages.encode_image, s.encode_image},
                          {&t.stages.encode_text, s.encode_text}, {&t.stages.compose, s.compose},
                          {&t.stages.search, s.search}, {&t.stages.fetch, s.fetch}})
      *sum += v;
  }
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const std::string server_dir = cir::testing::llm_server_dir();
  if (server_dir.empty()) {
    cir::bench::emit_row("seize", {{"skipped", "the npm LLM test server is not installed (scripts/setup)"}});
    return 0;
  }
  const fs::path root = fs::temp_directory_path() / ("cir-bench-seize-" + std::to_string(::getpid()));
  fs::create_directories(root);
  try {
    const std::string index_dir = (root / "index").string();
    const Gallery gallery = build_gallery(o, root, index_dir);
    fs::create_directories(root / "llm");
    cir::testing::LlmServer server(server_dir, (root / "llm").string(), 2);
    server.start();

    cir::engine::EngineOptions eo;
    eo.encoder.n_threads = o.threads;
    auto engine = cir::engine::Engine::open(index_dir, eo);
    cir::engine::GenerationOptions g;
    g.provider.base_url = server.base_url();
    g.provider.model = "tiny-llama";
    g.provider.max_concurrency = 2;
    g.provider.cache_path = (root / "llm-cache.sqlite").string();
    cir::gen::SamplingOptions edit;
    edit.temperature = 1.0;
    edit.top_p = 1.0;
    edit.max_tokens = o.max_tokens;
    g.editor_sampling = edit;
    engine->set_generation(g);

    std::vector<cir::engine::QueryRequest> seize, sum;
    for (const auto& q : gallery.queries) {
      if (static_cast<int>(seize.size()) >= o.queries) break;
      auto file = gallery.file_of_scene.find(q.reference_id);
      if (file == gallery.file_of_scene.end()) continue;
      cir::engine::QueryRequest r;
      r.reference.gallery_id = file->second;
      r.texts = {q.text};
      r.k = 10;
      r.method = "seize";
      seize.push_back(r);
      r.method = "sum";
      sum.push_back(r);
    }
    const Timing baseline = run_queries(*engine, sum);
    const auto before = engine->generation_stats().provider_stats.value_or(cir::gen::ProviderStats{});
    const Timing cold = run_queries(*engine, seize);
    const auto mid = engine->generation_stats().provider_stats.value_or(cir::gen::ProviderStats{});
    const Timing warm = run_queries(*engine, seize);
    const auto after = engine->generation_stats().provider_stats.value_or(cir::gen::ProviderStats{});
    const int64_t n_items = engine->store().info().n_items;
    auto row = [&](const std::string& mode, const Timing& t, int64_t requests, int64_t hits) {
      cir::bench::emit_row("seize", {{"mode", mode}, {"index_items", n_items}, {"queries", t.ms.size()},
                                     {"ms_per_query_mean", t.mean()}, {"ms_per_query_median", t.median()},
                                     {"provider_requests", requests}, {"cache_hits", hits},
                                     {"edit_max_tokens", o.max_tokens}, {"threads", o.threads},
                                     {"stage_ms_mean", {{"encode_image", t.stages.encode_image / t.ms.size()},
                                                        {"encode_text", t.stages.encode_text / t.ms.size()},
                                                        {"compose", t.stages.compose / t.ms.size()},
                                                        {"search", t.stages.search / t.ms.size()},
                                                        {"fetch", t.stages.fetch / t.ms.size()}}}});
    };
    row("sum_baseline", baseline, 0, 0);
    row("seize_cold_cache", cold, mid.requests - before.requests, mid.cache_hits - before.cache_hits);
    row("seize_warm_cache", warm, after.requests - mid.requests, after.cache_hits - mid.cache_hits);
  } catch (const std::exception& e) {
    std::error_code ec;
    fs::remove_all(root, ec);
    std::fprintf(stderr, "bench_seize: %s\n", e.what());
    return 1;
  }
  std::error_code ec;
  fs::remove_all(root, ec);
  return 0;
}
