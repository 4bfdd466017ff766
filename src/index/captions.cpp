// CaptionStore: generated captions and edits in <index>/captions.sqlite (see include/cir/index.h).
#include <nlohmann/json.hpp>

#include <ctime>
#include <filesystem>
#include <mutex>

#include "cir/index.h"
#include "index/sqlite_db.h"

namespace cir::index {
namespace fs = std::filesystem;

namespace {

constexpr const char* kCaptionsFile = "captions.sqlite";
constexpr const char* kManifestFile = "manifest.json";

// Primary keys are the resume keys of generation.md 7.1: a rerun replaces, never duplicates.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS captions(
  item_id INTEGER NOT NULL, captioner_key TEXT NOT NULL, sample_idx INTEGER NOT NULL,
  text TEXT NOT NULL, failed INTEGER NOT NULL, created_at INTEGER NOT NULL,
  PRIMARY KEY(item_id, captioner_key, sample_idx));
CREATE TABLE IF NOT EXISTS edits(
  item_id INTEGER NOT NULL, modification TEXT NOT NULL, editor_key TEXT NOT NULL, slot INTEGER NOT NULL,
  caption TEXT NOT NULL, text TEXT NOT NULL, failed INTEGER NOT NULL, created_at INTEGER NOT NULL,
  PRIMARY KEY(item_id, modification, editor_key, slot));
CREATE TABLE IF NOT EXISTS captioners(key TEXT PRIMARY KEY, spec TEXT NOT NULL, recorded_at INTEGER NOT NULL);
)sql";

int64_t now_seconds() { return static_cast<int64_t>(std::time(nullptr)); }

EditSample edit_from_row(const detail::Stmt& st) {
  EditSample e;
  e.item_id = st.col_int(0);
  e.modification = st.col_text(1);
  e.editor_key = st.col_text(2);
  e.slot = static_cast<int>(st.col_int(3));
  e.caption = st.col_text(4);
  e.text = st.col_text(5);
  e.failed = st.col_int(6) != 0;
  return e;
}

std::vector<std::string> distinct_keys(detail::Db& db, const char* sql) {
  detail::Stmt st(db, sql);
  std::vector<std::string> out;
  while (st.step()) out.push_back(st.col_text(0));
  return out;
}

}  // namespace

struct CaptionStore::Impl {
  std::string dir;
  std::unique_ptr<detail::Db> db;
  mutable std::mutex mutex;  // one connection; statements are prepared per call
};

CaptionStore::CaptionStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CaptionStore::~CaptionStore() = default;

std::unique_ptr<CaptionStore> CaptionStore::open(const std::string& index_dir) {
  if (!fs::exists(fs::path(index_dir) / kManifestFile))
    throw Error(ErrorCode::kNotFound, "'" + index_dir + "' is not a cir index (no manifest.json)");
  auto impl = std::make_unique<Impl>();
  impl->dir = index_dir;
  impl->db = std::make_unique<detail::Db>((fs::path(index_dir) / kCaptionsFile).string(), true, false);
  impl->db->exec("PRAGMA journal_mode=WAL");
  impl->db->exec("PRAGMA synchronous=NORMAL");
  impl->db->exec(kSchema);
  return std::unique_ptr<CaptionStore>(new CaptionStore(std::move(impl)));
}

void CaptionStore::add_captions(const std::vector<CaptionSample>& samples) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  detail::Transaction tx(*impl_->db);
  detail::Stmt st(*impl_->db,
                  "INSERT OR REPLACE INTO captions(item_id, captioner_key, sample_idx, text, failed, created_at) "
                  "VALUES(?,?,?,?,?,?)");
  const int64_t now = now_seconds();
  for (const auto& s : samples) {
    if (s.captioner_key.empty()) throw Error(ErrorCode::kInvalidArgument, "caption sample without a captioner key");
    st.reset();
    st.bind(1, s.item_id).bind(2, s.captioner_key).bind(3, int64_t{s.sample_idx}).bind(4, s.text);
    st.bind(5, int64_t{s.failed ? 1 : 0}).bind(6, now).run();
  }
  tx.commit();
}

std::vector<std::string> CaptionStore::captions(int64_t item_id, const std::string& captioner_key) const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  detail::Stmt st(*impl_->db,
                  "SELECT text FROM captions WHERE item_id=? AND captioner_key=? AND failed=0 ORDER BY sample_idx");
  st.bind(1, item_id).bind(2, captioner_key);
  std::vector<std::string> out;
  while (st.step()) out.push_back(st.col_text(0));
  return out;
}

std::vector<CaptionSample> CaptionStore::all_captions(const std::string& captioner_key) const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  detail::Stmt st(*impl_->db,
                  "SELECT item_id, sample_idx, text, failed FROM captions WHERE captioner_key=? "
                  "ORDER BY item_id, sample_idx");
  st.bind(1, captioner_key);
  std::vector<CaptionSample> out;
  while (st.step())
    out.push_back({st.col_int(0), captioner_key, static_cast<int>(st.col_int(1)), st.col_text(2), st.col_int(3) != 0});
  return out;
}

std::vector<int64_t> CaptionStore::missing_items(const std::vector<int64_t>& item_ids, const std::string& captioner_key,
                                                 int n_samples) const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  detail::Stmt st(*impl_->db, "SELECT COUNT(*) FROM captions WHERE item_id=? AND captioner_key=? AND failed=0");
  std::vector<int64_t> out;
  for (int64_t id : item_ids) {
    st.reset();
    st.bind(1, id).bind(2, captioner_key);
    if (!st.step() || st.col_int(0) < n_samples) out.push_back(id);
  }
  return out;
}

std::vector<std::string> CaptionStore::captioner_keys() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return distinct_keys(*impl_->db, "SELECT DISTINCT captioner_key FROM captions ORDER BY captioner_key");
}

void CaptionStore::add_edits(const std::vector<EditSample>& edits) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  detail::Transaction tx(*impl_->db);
  detail::Stmt st(*impl_->db,
                  "INSERT OR REPLACE INTO edits(item_id, modification, editor_key, slot, caption, text, failed, "
                  "created_at) VALUES(?,?,?,?,?,?,?,?)");
  const int64_t now = now_seconds();
  for (const auto& e : edits) {
    if (e.editor_key.empty()) throw Error(ErrorCode::kInvalidArgument, "edit without an editor key");
    st.reset();
    st.bind(1, e.item_id).bind(2, e.modification).bind(3, e.editor_key).bind(4, int64_t{e.slot});
    st.bind(5, e.caption).bind(6, e.text).bind(7, int64_t{e.failed ? 1 : 0}).bind(8, now).run();
  }
  tx.commit();
}

std::vector<EditSample> CaptionStore::edits(int64_t item_id, const std::string& modification,
                                            const std::string& editor_key) const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  detail::Stmt st(*impl_->db,
                  "SELECT item_id, modification, editor_key, slot, caption, text, failed FROM edits "
                  "WHERE item_id=? AND modification=? AND editor_key=? ORDER BY slot");
  st.bind(1, item_id).bind(2, modification).bind(3, editor_key);
  std::vector<EditSample> out;
  while (st.step()) out.push_back(edit_from_row(st));
  return out;
}

std::vector<EditSample> CaptionStore::all_edits(const std::string& editor_key) const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  detail::Stmt st(*impl_->db,
                  "SELECT item_id, modification, editor_key, slot, caption, text, failed FROM edits "
                  "WHERE editor_key=? ORDER BY item_id, modification, slot");
  st.bind(1, editor_key);
  std::vector<EditSample> out;
  while (st.step()) out.push_back(edit_from_row(st));
  return out;
}

std::vector<std::string> CaptionStore::editor_keys() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return distinct_keys(*impl_->db, "SELECT DISTINCT editor_key FROM edits ORDER BY editor_key");
}

void CaptionStore::record_captioner(const std::string& captioner_key, const std::string& spec_json) {
  nlohmann::json spec;
  try {
    spec = nlohmann::json::parse(spec_json);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::kInvalidArgument, "captioner spec of '" + captioner_key + "' is not JSON: " + e.what());
  }
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    detail::Stmt st(*impl_->db, "INSERT OR REPLACE INTO captioners(key, spec, recorded_at) VALUES(?,?,?)");
    st.bind(1, captioner_key).bind(2, spec_json).bind(3, now_seconds()).run();
  }
  // The manifest is edited as JSON, not through IndexManifest, so fields this build does not know
  // survive. captions.sqlite stays the source of truth: a writer Store that rewrites the manifest
  // from its struct drops the object, and the next `cir index caption` puts it back.
  const std::string path = (fs::path(impl_->dir) / kManifestFile).string();
  nlohmann::json manifest;
  try {
    manifest = nlohmann::json::parse(read_file_text(path));
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::kCorrupt, "'" + path + "': invalid JSON: " + e.what());
  }
  manifest["captioners"][captioner_key] = spec;
  write_file_atomic(path, manifest.dump(2) + "\n");
}

std::map<std::string, std::string> CaptionStore::captioner_specs() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  detail::Stmt st(*impl_->db, "SELECT key, spec FROM captioners ORDER BY key");
  std::map<std::string, std::string> out;
  while (st.step()) out[st.col_text(0)] = st.col_text(1);
  return out;
}

}  // namespace cir::index
