// Ingestion: gallery files -> decoded, preprocessed pixels -> model -> store, resumable.
//
// Pipeline: while the model encodes batch b on the main thread (torch's own thread pool), the
// next batch is read, hashed, decoded and preprocessed by a worker pool, so decoding hides
// behind the model. A batch is committed to the store (one crash-safe transaction) as soon as it
// is encoded; a rerun skips every committed item whose file is unchanged, which is what makes an
// interrupted build resumable.
#include <chrono>
#include <filesystem>
#include <future>
#include <optional>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "cir/engine.h"
#include "scan.h"

namespace cir::engine {
namespace fs = std::filesystem;

namespace {

constexpr const char* kGalleryFile = "gallery.json";

struct Prepared {
  std::vector<size_t> file_index;   // into the work list, for the items that decoded
  std::vector<std::string> hashes;
  std::vector<float> pixels;        // n x 3 x S x S
  std::vector<std::pair<size_t, std::string>> failures;  // work index, reason
};

struct WorkItem {
  ScannedFile file;
  Metadata metadata;
  std::string caption;
};

// gallery.json says where the items come from, so sync re-reads the same source: rescanning a
// list-built index's root instead of its list would delete every item outside that directory
// and pull in every other image of it.
void write_gallery_file(const std::string& index_dir, const GallerySource& source, const std::string& images) {
  nlohmann::json j = {{"root", source.root}, {"images", images}};
  j["source"] = source.list_file.empty() ? "directory" : "list";
  if (!source.list_file.empty()) j["list"] = source.list_file;
  write_file_atomic((fs::path(index_dir) / kGalleryFile).string(), j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

// A failure reason safe to log: a file reached through a symlink out of the gallery may be
// anything (/etc/shadow), and decoders quote the first bytes of what they cannot read.
std::string failure_reason(const ScannedFile& file, const Error& e) {
  if (!file.outside_root) return e.what();
  return std::string(error_code_name(e.code())) +
         ": cannot index this file, which lies outside the gallery root (reached through a symbolic link); "
         "details are withheld so its content never reaches the failure log";
}

Prepared prepare_batch(const std::vector<WorkItem>& work, size_t begin, size_t end, const PreprocessSpec& spec,
                       const EncoderOptions& options) {
  const size_t n = end - begin;
  const int64_t plane = 3LL * spec.image_size * spec.image_size;
  std::vector<float> pixels(n * static_cast<size_t>(plane));
  std::vector<std::string> hashes(n), errors(n);
  std::vector<char> ok(n, 0);
  parallel_for(static_cast<int64_t>(n), options.n_threads, [&](int64_t i) {
    const auto& file = work[begin + i].file;
    try {
      const auto bytes = read_file_bytes(file.path);
      hashes[i] = sha256_hex(bytes);
      const image::ImageU8 img = image::decode_image(bytes, file.path, options.decode);
      image::preprocess_into(img, spec, pixels.data() + i * plane);
      ok[i] = 1;
    } catch (const Error& e) {
      errors[i] = failure_reason(file, e);
    } catch (const std::exception& e) {
      errors[i] = file.outside_root ? "internal: unexpected error (details withheld: outside the gallery root)"
                                    : std::string("unexpected error: ") + e.what();
    }
  });
  Prepared p;
  size_t kept = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!ok[i]) {
      p.failures.emplace_back(begin + i, errors[i]);
      continue;
    }
    if (kept != i) std::copy_n(pixels.data() + i * plane, plane, pixels.data() + kept * plane);
    p.file_index.push_back(begin + i);
    p.hashes.push_back(std::move(hashes[i]));
    ++kept;
  }
  pixels.resize(kept * static_cast<size_t>(plane));
  p.pixels = std::move(pixels);
  return p;
}

void append_failures_jsonl(const std::string& index_dir, const std::vector<std::pair<std::string, std::string>>& failures) {
  if (failures.empty()) return;
  // failures.jsonl is a human-facing log; the authoritative list lives in the store (SQLite).
  FILE* f = std::fopen((fs::path(index_dir) / "failures.jsonl").c_str(), "a");
  if (!f) throw Error(ErrorCode::kIo, "cannot append to '" + index_dir + "/failures.jsonl'");
  for (const auto& [path, reason] : failures) {
    const nlohmann::json j = {{"file", path}, {"reason", reason}};
    const std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    std::fwrite(line.data(), 1, line.size(), f);
  }
  std::fclose(f);
}

// Records files that failed (store first: it is the authoritative list; then the log).
void record_failures(index::Store& store, const std::string& index_dir,
                     const std::vector<std::pair<std::string, std::string>>& failures) {
  for (const auto& [external_id, reason] : failures) store.record_failure(external_id, reason);
  append_failures_jsonl(index_dir, failures);
}

// Encodes and commits the work list in batches; returns (added or updated, failed).
std::pair<int64_t, int64_t> encode_and_store(const std::vector<WorkItem>& work, index::Store& store, const Encoder& encoder,
                                             const std::string& index_dir, Progress& progress) {
  const auto& options = encoder.options();
  const auto& spec = encoder.spec().preprocess;
  const size_t batch = static_cast<size_t>(std::max(1, options.batch_size));
  int64_t stored = 0, failed = 0;
  std::future<Prepared> next;
  auto launch = [&](size_t begin) {
    const size_t end = std::min(work.size(), begin + batch);
    return std::async(std::launch::async, [&, begin, end] { return prepare_batch(work, begin, end, spec, options); });
  };
  if (!work.empty()) next = launch(0);
  for (size_t begin = 0; begin < work.size(); begin += batch) {
    Prepared cur = next.get();
    if (begin + batch < work.size()) next = launch(begin + batch);
    std::vector<std::pair<std::string, std::string>> failure_rows;
    for (const auto& [wi, reason] : cur.failures) failure_rows.emplace_back(work[wi].file.external_id, reason);
    record_failures(store, index_dir, failure_rows);
    failed += static_cast<int64_t>(cur.failures.size());
    const int64_t n_ok = static_cast<int64_t>(cur.file_index.size());
    if (n_ok > 0) {
      // CLIP: one normalised row and its raw norm; BLIP-2: vectors_per_image rows per image.
      const ImageRows encoded = encoder.encode_pixel_rows(cur.pixels.data(), n_ok);
      std::vector<index::NewItem> items(static_cast<size_t>(n_ok));
      for (int64_t i = 0; i < n_ok; ++i) {
        const WorkItem& w = work[cur.file_index[i]];
        auto& item = items[i];
        item.external_id = w.file.external_id;
        item.content_hash = cur.hashes[i];
        item.size_bytes = w.file.size_bytes;
        item.mtime = w.file.mtime_ns;
        item.caption = w.caption;
        item.metadata = w.metadata;
        if (!encoded.norms.empty()) item.metadata[kFeatureNormKey] = encoded.norms[i];
        item.vectors = encoded.rows.row(i * encoded.vectors_per_image);
        item.n_vectors = encoded.vectors_per_image;
      }
      store.add_items(items);
      stored += n_ok;
    }
    progress.advance(n_ok + static_cast<int64_t>(cur.failures.size()), static_cast<int64_t>(cur.failures.size()));
  }
  return {stored, failed};
}

std::unordered_map<std::string, index::ItemRecord> existing_items(const index::Store& store) {
  std::unordered_map<std::string, index::ItemRecord> out;
  index::ListRequest req;
  req.limit = 10000;
  req.with_metadata = false;
  for (;;) {
    auto page = store.list_items(req);
    if (page.empty()) break;
    req.after_id = page.back().id;
    for (auto& rec : page) out.emplace(rec.external_id, std::move(rec));
  }
  return out;
}

// Decides what needs (re-)encoding: new files, and files whose size/mtime changed and whose
// content hash differs (a touched but identical file is not re-encoded).
// Entries the scan already knows cannot be indexed (FIFOs, dangling links...) go to `rejected`
// (external id, reason) without being opened.
std::vector<WorkItem> plan_work(const std::vector<ScannedFile>& files, const index::Store& store,
                                const std::map<std::string, Metadata>& metadata_file, IngestReport& report,
                                std::vector<std::string>& unreadable,
                                std::vector<std::pair<std::string, std::string>>& rejected) {
  const auto existing = existing_items(store);
  std::vector<WorkItem> work;
  for (const auto& f : files) {
    ++report.n_scanned;
    if (!f.problem.empty()) {
      rejected.emplace_back(f.external_id, f.problem);
      continue;
    }
    auto it = existing.find(f.external_id);
    if (it != existing.end()) {
      const auto& rec = it->second;
      if (rec.size_bytes == f.size_bytes && rec.mtime == f.mtime_ns) {
        ++report.n_unchanged;
        continue;
      }
      try {
        if (sha256_file(f.path) == rec.content_hash) {
          ++report.n_unchanged;
          continue;
        }
      } catch (const Error&) {
        // unreadable now: let the pipeline record the failure
      }
      ++report.n_updated;
    }
    WorkItem w;
    w.file = f;
    try {
      read_sidecars(f.path, w.metadata, w.caption);
    } catch (const Error& e) {
      unreadable.push_back(f.external_id + ": " + e.what());
    }
    if (auto m = metadata_file.find(f.external_id); m != metadata_file.end())
      for (const auto& [k, v] : m->second) w.metadata[k] = v;
    work.push_back(std::move(w));
  }
  return work;
}

IngestReport ingest(const std::string& index_dir, index::Store& store, const Encoder& encoder,
                    const std::vector<ScannedFile>& files, const IngestOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  IngestReport report;
  std::map<std::string, Metadata> metadata_file;
  if (!options.metadata_file.empty()) metadata_file = read_metadata_file(options.metadata_file);
  std::vector<std::string> sidecar_problems;
  std::vector<std::pair<std::string, std::string>> rejected;
  const auto work = plan_work(files, store, metadata_file, report, sidecar_problems, rejected);
  for (const auto& problem : sidecar_problems) log(LogLevel::kWarn, "sidecar ignored: " + problem);
  record_failures(store, index_dir, rejected);
  Progress progress("indexing", static_cast<int64_t>(work.size()), options.progress);
  const auto [stored, failed] = encode_and_store(work, store, encoder, index_dir, progress);
  progress.finish();
  report.n_added = stored - report.n_updated;
  report.n_failed = failed + static_cast<int64_t>(rejected.size());
  store.flush();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

index::IndexManifest new_manifest(const Encoder& encoder, const IngestOptions& options) {
  index::IndexManifest m;
  m.model = model_identity(encoder.spec());
  m.preprocess = encoder.spec().preprocess;
  m.embed_dim = encoder.spec().embed_dim;
  m.vectors_per_item = encoder.vectors_per_image();
  m.row_parts = encoder.row_parts();
  m.dtype = options.vector_dtype;
  m.index_key = options.index_key;
  m.memory_budget_bytes = options.memory_budget_bytes;
  m.cir_version = "0.1.0";
  return m;
}

std::unique_ptr<Encoder> open_encoder_for(const index::Store& store, const IngestOptions& options) {
  const std::string model = options.model.empty() ? store.manifest().model.path : options.model;
  auto encoder = Encoder::open(model, options.encoder);
  store.check_compatible(model_identity(encoder->spec()), encoder->spec().embed_dim);
  return encoder;
}

}  // namespace

index::ModelIdentity model_identity(const model::ModelSpec& spec) {
  index::ModelIdentity id;
  id.family = spec.family;
  id.format = spec.format;
  id.path = fs::absolute(spec.path).lexically_normal().string();
  id.weights_sha256 = spec.weights_sha256;
  return id;
}

namespace {

// gallery.json written before it named its source ("source"/"list"): a directory build recorded
// root == its absolute --images; a list build recorded the list as given, whose directory was the
// root unless list_root moved it (cir eval: an absolute list path).
// Whether --images as given (absolute, or relative to the cwd of the build) spelled `root`.
bool names_root(const fs::path& given, const std::string& root) {
  std::string g = given.lexically_normal().generic_string();
  while (g.size() > 1 && g.back() == '/') g.pop_back();
  const std::string r = fs::path(root).lexically_normal().generic_string();
  return given.is_absolute() ? g == r : (g == "." || r.ends_with("/" + g));
}

GallerySource legacy_source(const std::string& root, const std::string& images, const std::string& file) {
  GallerySource source{root, ""};
  const fs::path given(images);
  std::error_code ec;
  if (given.is_absolute() && fs::is_regular_file(given, ec)) {
    source.list_file = given.lexically_normal().string();
  } else if (!given.is_absolute() && !images.empty() && fs::is_regular_file(fs::path(root) / given.filename(), ec)) {
    source.list_file = (fs::path(root) / given.filename()).string();
  } else if (!names_root(given, root)) {
    throw Error(ErrorCode::kInvalidArgument, "'" + file + "' does not say whether the index was built from a directory or a "
                                                 "list file ('" + images + "'); rebuild it with `cir index build` to record it");
  }
  return source;
}

}  // namespace

namespace {

// gallery.json as an object with a string "root"; nullopt when the index has none.
std::optional<nlohmann::json> read_gallery_json(const std::string& index_dir, std::string& file) {
  const fs::path p = fs::path(index_dir) / kGalleryFile;
  file = p.string();
  if (!fs::exists(p)) return std::nullopt;
  auto j = nlohmann::json::parse(read_file_text(file), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("root") || !j["root"].is_string())
    throw Error(ErrorCode::kCorrupt, "'" + file + "' is not a valid gallery file (needs a string 'root')");
  return j;
}

}  // namespace

std::optional<GallerySource> read_gallery_source(const std::string& index_dir) {
  std::string file;
  const auto j = read_gallery_json(index_dir, file);
  if (!j) return std::nullopt;
  const std::string root = (*j)["root"].get<std::string>();
  const auto images = j->find("images");
  if (!j->contains("source"))
    return legacy_source(root, images != j->end() && images->is_string() ? images->get<std::string>() : "", file);
  const auto& kind = (*j)["source"];
  if (kind == "directory") return GallerySource{root, ""};
  if (kind == "list" && j->contains("list") && (*j)["list"].is_string()) return GallerySource{root, (*j)["list"].get<std::string>()};
  throw Error(ErrorCode::kCorrupt, "'" + file + "': 'source' must be \"directory\" or \"list\" (with a string 'list')");
}

std::string read_gallery_root(const std::string& index_dir) {
  std::string file;
  const auto j = read_gallery_json(index_dir, file);
  return j ? (*j)["root"].get<std::string>() : "";
}

IngestReport build_index(const std::string& index_dir, const IngestOptions& options) {
  if (options.images.empty()) throw Error(ErrorCode::kInvalidArgument, "index build needs --images");
  std::string model = options.model;
  if (model.empty() && fs::exists(fs::path(index_dir) / "manifest.json"))
    model = index::read_manifest(index_dir).model.path;  // resuming without --model
  if (model.empty()) throw Error(ErrorCode::kInvalidArgument, "index build needs --model");
  const auto encoder = Encoder::open(model, options.encoder);
  return build_index(index_dir, options, *encoder);
}

IngestReport build_index(const std::string& index_dir, const IngestOptions& options, const Encoder& encoder) {
  if (options.images.empty()) throw Error(ErrorCode::kInvalidArgument, "index build needs --images");
  GallerySource source;
  const auto files = scan_gallery(options.images, source, options.list_root);
  const std::string& root = source.root;
  std::unique_ptr<index::Store> store;
  if (fs::exists(fs::path(index_dir) / "manifest.json")) {
    store = index::Store::open(index_dir);  // resume / update an existing index
    store->check_compatible(model_identity(encoder.spec()), encoder.spec().embed_dim);
    const std::string recorded = read_gallery_root(index_dir);
    if (!recorded.empty() && recorded != root)
      throw Error(ErrorCode::kInvalidArgument, "index '" + index_dir + "' was built from '" + recorded + "', not '" + root +
                                                   "'; use a new --out or `cir index add`");
  } else {
    store = index::Store::create(index_dir, new_manifest(encoder, options));
  }
  write_gallery_file(index_dir, source, options.images);
  return ingest(index_dir, *store, encoder, files, options);
}

IngestReport sync_index(const std::string& index_dir, const IngestOptions& options) {
  auto store = index::Store::open(index_dir);
  const auto recorded = read_gallery_source(index_dir);
  if (!recorded) throw Error(ErrorCode::kNotFound, "index '" + index_dir + "' records no gallery root (gallery.json)");
  // A list-built index (cir eval's caches among them) is synced from its list, never from the
  // root: the root directory holds files the list left out on purpose.
  std::error_code ec;
  if (!recorded->list_file.empty() && !fs::is_regular_file(recorded->list_file, ec))
    throw Error(ErrorCode::kNotFound, "index '" + index_dir + "' was built from the list file '" + recorded->list_file +
                                          "', which is gone; sync re-reads that list (it never rescans '" + recorded->root +
                                          "'): restore the list or rebuild the index");
  GallerySource scanned;
  const auto files = recorded->list_file.empty() ? scan_gallery(recorded->root, scanned)
                                                 : scan_gallery(recorded->list_file, scanned, recorded->root);
  auto encoder = open_encoder_for(*store, options);
  IngestReport report = ingest(index_dir, *store, *encoder, files, options);
  // Files that are gone: remove their items.
  std::unordered_map<std::string, bool> present;
  for (const auto& f : files) present[f.external_id] = true;
  std::vector<std::string> gone;
  for (const auto& [external_id, rec] : existing_items(*store))
    if (!present.count(external_id)) gone.push_back(external_id);
  report.n_removed = store->remove_by_external_ids(gone);
  store->flush();
  return report;
}

IngestReport add_to_index(const std::string& index_dir, const std::vector<std::string>& paths, const IngestOptions& options) {
  auto store = index::Store::open(index_dir);
  const std::string root = read_gallery_root(index_dir);
  if (root.empty()) throw Error(ErrorCode::kNotFound, "index '" + index_dir + "' records no gallery root (gallery.json)");
  std::vector<ScannedFile> files;
  for (const auto& p : paths) {
    const fs::path abs = fs::absolute(p).lexically_normal();
    const std::string rel = abs.lexically_relative(root).generic_string();
    if (rel.empty() || rel.rfind("..", 0) == 0)
      throw Error(ErrorCode::kInvalidArgument, "'" + p + "' is outside the gallery root '" + root + "'");
    if (fs::is_directory(abs)) {
      GallerySource ignored;
      auto found = scan_gallery(abs.string(), ignored);
      for (auto& f : found) f.external_id = fs::path(f.path).lexically_relative(root).generic_string();
      files.insert(files.end(), found.begin(), found.end());
    } else {
      ScannedFile f = stat_file(abs, root);
      if (!f.problem.empty()) throw Error(ErrorCode::kNotFound, "'" + p + "' cannot be indexed: " + f.problem);
      files.push_back(std::move(f));
    }
  }
  auto encoder = open_encoder_for(*store, options);
  return ingest(index_dir, *store, *encoder, files, options);
}

}  // namespace cir::engine
