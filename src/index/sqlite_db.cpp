#include "index/sqlite_db.h"

#include <sqlite3.h>

#include "cir/core.h"

namespace cir::index::detail {
namespace {

ErrorCode code_for(int rc) {
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return ErrorCode::kCorrupt;
    case SQLITE_FULL:
    case SQLITE_NOMEM: return ErrorCode::kResourceExhausted;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_RANGE: return ErrorCode::kInvalidArgument;
    case SQLITE_ERROR:
    case SQLITE_MISUSE: return ErrorCode::kInternal;
    default: return ErrorCode::kIo;
  }
}

}  // namespace

Db::Db(const std::string& path, bool create, bool read_only) : path_(path) {
  int flags = SQLITE_OPEN_FULLMUTEX;
  flags |= read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
  if (create && !read_only) flags |= SQLITE_OPEN_CREATE;
  const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    const std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    const ErrorCode code = (rc == SQLITE_CANTOPEN && !create) ? ErrorCode::kNotFound : code_for(rc);
    throw Error(code, "cannot open '" + path + "': " + msg);
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, 5000);
}

Db::~Db() {
  if (db_) sqlite3_close_v2(db_);
}

int64_t Db::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }

void Db::fail(int rc, const std::string& operation) const {
  std::string msg = sqlite3_errmsg(db_);
  if (msg == "not an error" || msg.empty()) msg = sqlite3_errstr(rc);
  throw Error(code_for(rc), "'" + path_ + "': " + operation + ": " + msg);
}

void Db::exec(const std::string& sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    const std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    throw Error(code_for(rc), "'" + path_ + "': " + sql.substr(0, 60) + ": " + msg);
  }
}

Stmt::Stmt(Db& db, const char* sql) : db_(db), sql_(sql) {
  const int rc = sqlite3_prepare_v2(db.handle(), sql, -1, &stmt_, nullptr);
  if (rc != SQLITE_OK) db.fail(rc, std::string("prepare '") + sql + "'");
}

Stmt::~Stmt() { sqlite3_finalize(stmt_); }

Stmt& Stmt::bind(int i, int64_t value) {
  const int rc = sqlite3_bind_int64(stmt_, i, value);
  if (rc != SQLITE_OK) db_.fail(rc, "bind");
  return *this;
}

Stmt& Stmt::bind(int i, double value) {
  const int rc = sqlite3_bind_double(stmt_, i, value);
  if (rc != SQLITE_OK) db_.fail(rc, "bind");
  return *this;
}

Stmt& Stmt::bind(int i, std::string_view value) {
  const int rc = sqlite3_bind_text64(stmt_, i, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK) db_.fail(rc, "bind");
  return *this;
}

Stmt& Stmt::bind_null(int i) {
  const int rc = sqlite3_bind_null(stmt_, i);
  if (rc != SQLITE_OK) db_.fail(rc, "bind");
  return *this;
}

bool Stmt::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  db_.fail(rc, "step '" + sql_.substr(0, 80) + "'");
}

void Stmt::run() {
  if (step()) throw Error(ErrorCode::kInternal, "statement returned rows: " + sql_);
  reset();
}

void Stmt::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int64_t Stmt::col_int(int i) const { return sqlite3_column_int64(stmt_, i); }
double Stmt::col_double(int i) const { return sqlite3_column_double(stmt_, i); }
bool Stmt::col_is_null(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }
std::string Stmt::col_text(int i) const {
  const auto* p = sqlite3_column_text(stmt_, i);
  if (!p) return {};
  return std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, i)));
}

Transaction::Transaction(Db& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
  if (!done_) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

}  // namespace cir::index::detail
