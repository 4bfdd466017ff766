// The response cache of generation.md §6.7: one SQLite table (WAL) keyed by the sha256 of the
// canonical request. It stores raw bodies; parsing runs on every read, so a parser fix never
// needs new LLM calls. Thread-safe (one connection behind a mutex); several processes may share
// the file (SQLite locking, busy timeout).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

struct sqlite3;

namespace cir::gen {

struct CacheRow {
  std::string key;
  std::string request_json;   ///< canonical key source (images as sha256 + mime, no API key)
  std::string response_json;  ///< the raw 2xx body
  std::string model_reported;
  std::string system_fingerprint;
  std::string finish_reasons;  ///< JSON array
  std::string usage_json;
};

class GenerationCache {
 public:
  /// Opens or creates the cache at `path` (parent directories created). kIo naming the path.
  explicit GenerationCache(const std::string& path);
  ~GenerationCache();
  GenerationCache(const GenerationCache&) = delete;
  GenerationCache& operator=(const GenerationCache&) = delete;

  /// The raw response stored under `key`.
  std::optional<std::string> find_response(const std::string& key);
  /// Inserts or replaces a row (created_at = now, cir_version = this build).
  void store(const CacheRow& row);
  int64_t row_count();
  const std::string& path() const { return path_; }

 private:
  [[noreturn]] void fail(const std::string& what, int rc);

  std::string path_;
  sqlite3* db_ = nullptr;
  std::mutex mutex_;
};

}  // namespace cir::gen
