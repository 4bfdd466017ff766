#include "gen/cache.h"

#include <sqlite3.h>

#include <chrono>
#include <filesystem>

#include "cir/core.h"

#ifndef CIR_VERSION_STRING
#define CIR_VERSION_STRING "unknown"
#endif

namespace cir::gen {

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS generations (
  key TEXT PRIMARY KEY,
  request_json TEXT NOT NULL,
  response_json TEXT NOT NULL,
  model_reported TEXT NOT NULL,
  system_fingerprint TEXT NOT NULL,
  finish_reasons TEXT NOT NULL,
  usage_json TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  cir_version TEXT NOT NULL
);)sql";

// A statement that finalises itself, so an early throw leaks nothing.
struct Statement {
  sqlite3_stmt* stmt = nullptr;
  ~Statement() { sqlite3_finalize(stmt); }
};

}  // namespace

GenerationCache::GenerationCache(const std::string& path) : path_(path) {
  std::error_code ec;
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  const int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                                 nullptr);
  if (rc != SQLITE_OK) fail("open", rc);
  sqlite3_busy_timeout(db_, 10000);
  // WAL: readers never block the writer and a crash mid-write loses at most that row.
  for (const char* sql : {"PRAGMA journal_mode=WAL;", "PRAGMA synchronous=NORMAL;", kSchema}) {
    const int r = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
    if (r != SQLITE_OK) fail("initialise", r);
  }
}

GenerationCache::~GenerationCache() { sqlite3_close(db_); }

void GenerationCache::fail(const std::string& what, int rc) {
  const std::string detail = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  throw Error(ErrorCode::kIo, "LLM cache " + path_ + ": cannot " + what + ": " + detail);
}

std::optional<std::string> GenerationCache::find_response(const std::string& key) {
  std::lock_guard lock(mutex_);
  Statement s;
  if (sqlite3_prepare_v2(db_, "SELECT response_json FROM generations WHERE key = ?1", -1, &s.stmt, nullptr) != SQLITE_OK)
    fail("read", sqlite3_errcode(db_));
  sqlite3_bind_text(s.stmt, 1, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
  const int rc = sqlite3_step(s.stmt);
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) fail("read", rc);
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s.stmt, 0));
  return std::string(text ? text : "", static_cast<size_t>(sqlite3_column_bytes(s.stmt, 0)));
}

void GenerationCache::store(const CacheRow& row) {
  std::lock_guard lock(mutex_);
  Statement s;
  const char* sql =
      "INSERT OR REPLACE INTO generations (key, request_json, response_json, model_reported, system_fingerprint, "
      "finish_reasons, usage_json, created_at, cir_version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
  if (sqlite3_prepare_v2(db_, sql, -1, &s.stmt, nullptr) != SQLITE_OK) fail("write", sqlite3_errcode(db_));
  int i = 1;
  for (const std::string* v : {&row.key, &row.request_json, &row.response_json, &row.model_reported,
                               &row.system_fingerprint, &row.finish_reasons, &row.usage_json})
    sqlite3_bind_text(s.stmt, i++, v->data(), static_cast<int>(v->size()), SQLITE_TRANSIENT);
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
  sqlite3_bind_int64(s.stmt, i++, now.count());
  sqlite3_bind_text(s.stmt, i, CIR_VERSION_STRING, -1, SQLITE_STATIC);
  const int rc = sqlite3_step(s.stmt);
  if (rc != SQLITE_DONE) fail("write", rc);
}

int64_t GenerationCache::row_count() {
  std::lock_guard lock(mutex_);
  Statement s;
  if (sqlite3_prepare_v2(db_, "SELECT COUNT(*) FROM generations", -1, &s.stmt, nullptr) != SQLITE_OK)
    fail("read", sqlite3_errcode(db_));
  if (sqlite3_step(s.stmt) != SQLITE_ROW) fail("read", sqlite3_errcode(db_));
  return sqlite3_column_int64(s.stmt, 0);
}

}  // namespace cir::gen
