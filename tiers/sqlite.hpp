#pragma once
// A thin RAII layer over SQLite's C API for the disk tier: a connection, prepared
// statements, result codes as values (an error on the data plane is counted and logged
// by the caller, never thrown).
// Thread-safety: a connection and its statements belong to one thread at a time.
#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace pcproxy::tiers {

class statement {
public:
  statement() = default;
  statement(sqlite3* db, const char* sql);
  explicit operator bool() const noexcept { return stmt_ != nullptr; }

  statement& bind(int index, std::int64_t value);
  statement& bind(int index, std::string_view text);
  statement& bind_blob(int index, std::string_view bytes);

  /// SQLITE_ROW, SQLITE_DONE or an error code. After SQLITE_DONE or an error the
  /// statement is reset (bindings kept) for its next use.
  int step();
  /// Resets the statement and clears its bindings.
  void reset();

  std::int64_t int64(int column) const;
  std::string_view text(int column) const;
  std::string_view blob(int column) const;

private:
  struct finalizer {
    void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
  };
  std::unique_ptr<sqlite3_stmt, finalizer> stmt_;
};

class connection {
public:
  connection() = default;
  /// Opens `path` with `flags` (SQLITE_OPEN_*); check ok() and error().
  connection(const std::string& path, int flags);
  bool ok() const noexcept { return db_ != nullptr && open_rc_ == SQLITE_OK; }
  int open_result() const noexcept { return open_rc_; }

  /// Runs one or more statements without results; the result code.
  int exec(const char* sql);
  /// The first column of the first row of `sql` as an integer, or `fallback`.
  std::int64_t query_int(const char* sql, std::int64_t fallback = 0);
  statement prepare(const char* sql) { return statement(db_.get(), sql); }

  /// The last error message of this connection.
  std::string error() const;
  std::int64_t changes() const { return sqlite3_changes64(db_.get()); }
  std::int64_t last_insert_rowid() const { return sqlite3_last_insert_rowid(db_.get()); }
  sqlite3* get() const noexcept { return db_.get(); }

private:
  struct closer {
    void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
  };
  std::unique_ptr<sqlite3, closer> db_;
  int open_rc_ = SQLITE_CANTOPEN;
};

/// True for result codes that mean the file is not (or no longer) a usable database.
inline bool is_corruption(int rc) noexcept {
  const int primary = rc & 0xff;
  return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB;
}

}  // namespace pcproxy::tiers
