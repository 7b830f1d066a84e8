#include "tiers/sqlite.hpp"

namespace pcproxy::tiers {

statement::statement(sqlite3* db, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  if (db && sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr) == SQLITE_OK) stmt_.reset(raw);
}

statement& statement::bind(int index, std::int64_t value) {
  sqlite3_bind_int64(stmt_.get(), index, value);
  return *this;
}

statement& statement::bind(int index, std::string_view text) {
  sqlite3_bind_text64(stmt_.get(), index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}

statement& statement::bind_blob(int index, std::string_view bytes) {
  // The bytes outlive the step that reads them: no copy.
  sqlite3_bind_blob64(stmt_.get(), index, bytes.data(), bytes.size(), SQLITE_STATIC);
  return *this;
}

int statement::step() {
  if (!stmt_) return SQLITE_MISUSE;
  const int rc = sqlite3_step(stmt_.get());
  if (rc != SQLITE_ROW) sqlite3_reset(stmt_.get());
  return rc;
}

void statement::reset() {
  if (!stmt_) return;
  sqlite3_reset(stmt_.get());
  sqlite3_clear_bindings(stmt_.get());
}

std::int64_t statement::int64(int column) const { return sqlite3_column_int64(stmt_.get(), column); }

std::string_view statement::text(int column) const {
  const auto* p = sqlite3_column_text(stmt_.get(), column);
  return p ? std::string_view(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(stmt_.get(), column)))
           : std::string_view{};
}

std::string_view statement::blob(int column) const {
  const auto* p = sqlite3_column_blob(stmt_.get(), column);
  return p ? std::string_view(static_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(stmt_.get(), column)))
           : std::string_view{};
}

connection::connection(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  open_rc_ = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  db_.reset(raw);  // closed even when opening failed
  if (ok()) sqlite3_extended_result_codes(raw, 1);
}

int connection::exec(const char* sql) { return sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr); }

std::int64_t connection::query_int(const char* sql, std::int64_t fallback) {
  statement s(db_.get(), sql);
  const auto rc = s.step();
  return rc == SQLITE_ROW ? s.int64(0) : fallback;
}

std::string connection::error() const { return db_ ? sqlite3_errmsg(db_.get()) : "out of memory"; }

}  // namespace pcproxy::tiers
