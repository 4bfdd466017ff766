// A thin RAII layer over SQLite that turns every failure into cir::Error naming the database file
// and the operation, so nothing outside src/index ever sees an SQLite code.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace cir::index::detail {

class Db;

/// A prepared statement; binds are 1-based, columns 0-based (SQLite convention).
class Stmt {
 public:
  Stmt(Db& db, const char* sql);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, int64_t value);
  Stmt& bind(int i, double value);
  Stmt& bind(int i, std::string_view value);
  Stmt& bind_null(int i);
  /// Advances; true when a row is available, false when done. Throws on error.
  bool step();
  /// step() that must finish without rows (INSERT/UPDATE/DELETE).
  void run();
  /// Ready for new binds (also clears old binds).
  void reset();

  int64_t col_int(int i) const;
  double col_double(int i) const;
  std::string col_text(int i) const;
  bool col_is_null(int i) const;

 private:
  Db& db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
};

class Db {
 public:
  /// Opens (create=true: creates) the database file. Throws kNotFound/kCorrupt/kIo.
  Db(const std::string& path, bool create, bool read_only);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  /// Runs one or more statements without results.
  void exec(const std::string& sql);
  sqlite3* handle() const { return db_; }
  /// Row id of the last INSERT on this connection.
  int64_t last_insert_rowid() const;
  const std::string& path() const { return path_; }
  /// Throws the cir::Error for SQLite result code `rc` during `operation`.
  [[noreturn]] void fail(int rc, const std::string& operation) const;

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
};

/// BEGIN IMMEDIATE ... COMMIT; rolls back in the destructor unless committed.
class Transaction {
 public:
  explicit Transaction(Db& db);
  ~Transaction();
  void commit();

 private:
  Db& db_;
  bool done_ = false;
};

}  // namespace cir::index::detail
