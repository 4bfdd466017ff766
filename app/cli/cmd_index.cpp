// `cir index build|sync|add|remove|info|verify|export|import`: gallery indexes.
#include <iostream>

#include <nlohmann/json.hpp>

#include "cir/engine.h"
#include "cli_common.h"

namespace cir::cli {
namespace {

struct IndexArgs {
  std::string index;
  std::string images;
  std::string model;
  std::string metadata;
  std::string index_key = "Flat";
  uint64_t memory_budget = uint64_t{4} << 30;
  std::string vector_dtype = "fp16";
  std::string dtype = "fp32";
  int batch_size = 32;
  int threads = 0;
  bool quiet = false;
};

engine::IngestOptions ingest_options(const IndexArgs& a) {
  engine::IngestOptions o;
  o.images = a.images;
  o.model = a.model;
  o.metadata_file = a.metadata;
  o.index_key = a.index_key;
  if (a.memory_budget == 0) throw Error(ErrorCode::kInvalidArgument, "--memory-budget must be positive");
  o.memory_budget_bytes = static_cast<int64_t>(a.memory_budget);
  o.vector_dtype = index::parse_vector_dtype(a.vector_dtype);
  o.encoder.dtype = model::parse_dtype(a.dtype);
  o.encoder.batch_size = a.batch_size;
  o.encoder.n_threads = a.threads > 0 ? a.threads : default_thread_count();
  o.progress = !a.quiet;
  if (a.batch_size <= 0) throw Error(ErrorCode::kInvalidArgument, "--batch-size must be positive");
  return o;
}

void add_encoder_flags(CLI::App* cmd, IndexArgs& a) {
  cmd->add_option("--batch-size", a.batch_size, "Images per model call")->capture_default_str();
  cmd->add_option("--threads", a.threads, "Threads (0 = all cores)");
  cmd->add_option("--dtype", a.dtype, "Model execution: fp32 | bf16")->capture_default_str();
  cmd->add_flag("--quiet", a.quiet, "No progress output");
}

void print_report(const engine::IngestReport& r) {
  std::cout << "scanned " << r.n_scanned << ", added " << r.n_added << ", updated " << r.n_updated << ", unchanged "
            << r.n_unchanged << ", removed " << r.n_removed << ", failed " << r.n_failed << " in " << r.seconds << " s";
  if (r.seconds > 0 && r.n_added + r.n_updated > 0) std::cout << " (" << (r.n_added + r.n_updated) / r.seconds << " images/s)";
  std::cout << "\n";
  if (r.n_failed > 0) std::cout << "failures are listed in failures.jsonl\n";
}

// [{"name": "features", "dim": 256}, ...]; empty for single-part rows (CLIP).
nlohmann::json row_parts_json(const std::vector<index::RowPart>& parts) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : parts) out.push_back({{"name", p.name}, {"dim", p.dim}});
  return out;
}

nlohmann::json info_json(const index::StoreInfo& info, const std::string& root) {
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : info.files) files.push_back({{"name", f.name}, {"bytes", f.bytes}});
  return {{"dir", info.dir},
          {"gallery_root", root},
          {"items", info.n_items},
          {"removed", info.n_removed},
          {"vectors", info.n_vectors},
          {"failures", info.n_failures},
          {"model",
           {{"family", info.manifest.model.family},
            {"format", info.manifest.model.format},
            {"path", info.manifest.model.path},
            {"weights_sha256", info.manifest.model.weights_sha256}}},
          {"embed_dim", info.manifest.embed_dim},
          {"vectors_per_item", info.manifest.vectors_per_item},
          {"row_parts", row_parts_json(info.manifest.row_parts)},
          {"dtype", index::vector_dtype_name(info.manifest.dtype)},
          {"index_key", info.manifest.index_key},
          {"index_type", info.index_key},
          {"index_memory_bytes", info.index_memory_bytes},
          {"disk_bytes", info.disk_bytes},
          {"files", files}};
}

void register_build(CLI::App* parent) {
  auto a = std::make_shared<IndexArgs>();
  auto* cmd = parent->add_subcommand("build", "Index a folder (or list file) of images; reruns resume");
  cmd->add_option("--images", a->images, "Gallery directory (recursive) or a list file")->required();
  cmd->add_option("--model", a->model, "Model directory or .pt archive")->required();
  cmd->add_option("--out", a->index, "Index directory")->required();
  cmd->add_option("--index-key", a->index_key, "FAISS factory string (Flat, HNSW32, IVF1024,PQ64) or auto")
      ->capture_default_str();
  cmd->add_option("--memory-budget", a->memory_budget,
                  "RAM the ANN index may take when --index-key is auto (e.g. 512MB, 4GB)")
      ->transform(CLI::AsSizeValue(false))
      ->default_str("4GB");
  cmd->add_option("--vector-dtype", a->vector_dtype, "Stored vectors: fp16 | fp32")->capture_default_str();
  cmd->add_option("--metadata", a->metadata, "CSV or JSONL metadata keyed by path relative to the gallery");
  add_encoder_flags(cmd, *a);
  cmd->callback([a] { print_report(engine::build_index(a->index, ingest_options(*a))); });
}

void register_sync(CLI::App* parent) {
  auto a = std::make_shared<IndexArgs>();
  auto* cmd = parent->add_subcommand("sync", "Add new and changed files, remove deleted ones");
  cmd->add_option("index", a->index, "Index directory")->required();
  cmd->add_option("--metadata", a->metadata, "CSV or JSONL metadata keyed by path");
  add_encoder_flags(cmd, *a);
  cmd->callback([a] { print_report(engine::sync_index(a->index, ingest_options(*a))); });
}

void register_add(CLI::App* parent) {
  auto a = std::make_shared<IndexArgs>();
  auto paths = std::make_shared<std::vector<std::string>>();
  auto* cmd = parent->add_subcommand("add", "Add or re-encode files (under the gallery root)");
  cmd->add_option("index", a->index, "Index directory")->required();
  cmd->add_option("paths", *paths, "Image files or directories")->required();
  add_encoder_flags(cmd, *a);
  cmd->callback([a, paths] { print_report(engine::add_to_index(a->index, *paths, ingest_options(*a))); });
}

void register_remove(CLI::App* parent) {
  auto index_dir = std::make_shared<std::string>();
  auto ids = std::make_shared<std::vector<std::string>>();
  auto* cmd = parent->add_subcommand("remove", "Remove items by id (path relative to the gallery root)");
  cmd->add_option("index", *index_dir, "Index directory")->required();
  cmd->add_option("ids", *ids, "Item ids")->required();
  cmd->callback([index_dir, ids] {
    auto store = index::Store::open(*index_dir);
    const int64_t n = store->remove_by_external_ids(*ids);
    std::cout << "removed " << n << " of " << ids->size() << " items\n";
    if (n < static_cast<int64_t>(ids->size())) std::cout << "(ids not in the index were skipped)\n";
    // The removal is committed (SQLite) at this point; what flush writes after it (manifest
    // updated_at, ANN cache, WAL checkpoint) is bookkeeping the next open redoes. Failing the
    // command over it (ENOSPC) would report a removal that happened as one that did not.
    try {
      store->flush();
    } catch (const Error& e) {
      std::cerr << "cir: warning: the removal is committed, but updating the index files afterwards failed: " << e.what()
                << "\n";
    }
  });
}

void print_verify_report(const index::VerifyReport& r, bool as_json) {
  if (as_json) {
    nlohmann::json problems = nlohmann::json::array();
    for (const auto& p : r.problems) problems.push_back({{"file", p.file}, {"byte_offset", p.byte_offset}, {"message", p.message}});
    const nlohmann::json j = {{"dir", r.dir},         {"ok", r.ok()},         {"blocks", r.n_blocks},
                              {"rows", r.n_rows},     {"items", r.n_items},   {"uncommitted_bytes", r.uncommitted_bytes},
                              {"problems", problems}};
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return;
  }
  for (const auto& p : r.problems) {
    std::cout << p.file;
    if (p.byte_offset >= 0) std::cout << " @ byte " << p.byte_offset;
    std::cout << ": " << p.message << "\n";
  }
  std::cout << "checked " << r.n_blocks << " vector blocks (" << r.n_rows << " rows) and " << r.n_items << " items: "
            << (r.ok() ? "ok" : std::to_string(r.problems.size()) + " problem(s)") << "\n";
}

void register_verify(CLI::App* parent) {
  auto index_dir = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  auto* cmd = parent->add_subcommand(
      "verify", "Check every vector block's checksum, SQLite integrity and the items' rows; exit 1 listing problems");
  cmd->add_option("index", *index_dir, "Index directory")->required();
  cmd->add_flag("--json", *as_json, "Print JSON");
  cmd->callback([=] {
    const index::VerifyReport r = index::verify_index(*index_dir);
    print_verify_report(r, *as_json);
    if (!r.ok())
      throw Error(ErrorCode::kCorrupt, "index '" + *index_dir + "' has " + std::to_string(r.problems.size()) + " problem(s)");
  });
}

void register_info(CLI::App* parent) {
  auto index_dir = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  auto recall = std::make_shared<bool>(false);
  auto queries_file = std::make_shared<std::string>();
  auto k = std::make_shared<int>(10);
  auto ef = std::make_shared<int>(0);
  auto nprobe = std::make_shared<int>(0);
  auto* cmd = parent->add_subcommand("info", "Counts, model, dims, index type, disk size, failures");
  cmd->add_option("index", *index_dir, "Index directory")->required();
  cmd->add_flag("--json", *as_json, "Print JSON");
  cmd->add_flag("--recall", *recall, "Measure ANN recall@k against exact search with text and composed queries");
  cmd->add_option("--queries", *queries_file, "Texts for --recall (default: the items' captions)");
  cmd->add_option("-k", *k, "k for --recall")->capture_default_str();
  cmd->add_option("--ef", *ef, "HNSW efSearch for --recall (0 = the search default, max(64, k))")
      ->check(CLI::Range(0, 1 << 16));
  cmd->add_option("--nprobe", *nprobe, "IVF lists probed for --recall (0 = the search default)")
      ->check(CLI::Range(0, 1 << 16));
  cmd->callback([=] {
    nlohmann::json j;
    {
      auto store = index::Store::open(*index_dir, {.read_only = true});
      j = info_json(store->info(), engine::read_gallery_root(*index_dir));
    }
    if (*recall) {
      const auto engine = engine::Engine::open(*index_dir);
      const auto texts = queries_file->empty() ? std::vector<std::string>{} : read_lines(*queries_file);
      const auto r = engine::measure_recall(*engine, texts, *k, *ef, *nprobe);
      j["recall"] = {{"k", r.k},
                     {"ef_search", r.ef_search},
                     {"nprobe", r.nprobe},
                     {"ann_ms_per_query", r.ann_ms_per_query},
                     {"exact_ms_per_query", r.exact_ms_per_query},
                     {"text_queries", r.n_text_queries},
                     {"composed_queries", r.n_composed_queries},
                     {"text_recall", r.text_recall},
                     {"composed_recall", r.composed_recall},
                     {"index_type", r.index_key}};
    }
    if (*as_json) {
      std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      return;
    }
    std::cout << "index:       " << j["dir"].get<std::string>() << "\n"
              << "gallery:     " << j["gallery_root"].get<std::string>() << "\n"
              << "items:       " << j["items"] << " (" << j["removed"] << " removed, " << j["failures"] << " failed)\n"
              << "model:       " << j["model"]["family"].get<std::string>() << " " << j["model"]["format"].get<std::string>()
              << " " << j["model"]["path"].get<std::string>() << "\n"
              << "weights:     " << j["model"]["weights_sha256"].get<std::string>() << "\n"
              << "vectors:     " << j["vectors"] << " x " << j["embed_dim"] << " " << j["dtype"].get<std::string>()
              << " (" << j["vectors_per_item"] << " per item)\n"
              << "index type:  " << j["index_type"].get<std::string>() << " (key " << j["index_key"].get<std::string>()
              << ", " << j["index_memory_bytes"] << " bytes in memory)\n"
              << "disk:        " << j["disk_bytes"] << " bytes\n";
    if (j.contains("recall"))
      std::cout << "recall@" << j["recall"]["k"] << ":    text " << j["recall"]["text_recall"] << " ("
                << j["recall"]["text_queries"] << " queries), composed " << j["recall"]["composed_recall"] << " ("
                << j["recall"]["composed_queries"] << " queries); " << j["recall"]["ann_ms_per_query"].get<double>()
                << " ms/query against " << j["recall"]["exact_ms_per_query"].get<double>() << " ms exact\n";
  });
}

void register_export_import(CLI::App* parent) {
  auto index_dir = std::make_shared<std::string>();
  auto dir = std::make_shared<std::string>();
  auto* exp = parent->add_subcommand("export", "Write clip-retrieval's layout (img_emb/img_emb_0.npy + metadata)");
  exp->add_option("index", *index_dir, "Index directory")->required();
  exp->add_option("--out", *dir, "Output directory")->required();
  exp->callback([=] {
    auto store = index::Store::open(*index_dir, {.read_only = true});
    std::cout << "exported " << store->export_clip_retrieval(*dir) << " rows to " << *dir << "\n";
  });
  auto index_dir2 = std::make_shared<std::string>();
  auto dir2 = std::make_shared<std::string>();
  auto* imp = parent->add_subcommand("import", "Add rows of clip-retrieval's layout to an index");
  imp->add_option("index", *index_dir2, "Index directory")->required();
  imp->add_option("--from", *dir2, "Directory holding img_emb/ (and metadata/)")->required();
  imp->callback([=] {
    auto store = index::Store::open(*index_dir2);
    std::cout << "imported " << store->import_clip_retrieval(*dir2) << " rows\n";
    store->flush();
  });
}

}  // namespace

void register_index_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("index", "Build and maintain gallery indexes");
  cmd->require_subcommand(1);
  register_build(cmd);
  register_sync(cmd);
  register_add(cmd);
  register_remove(cmd);
  register_info(cmd);
  register_verify(cmd);
  register_export_import(cmd);
  register_caption_subcommands(cmd);
}

}  // namespace cir::cli
