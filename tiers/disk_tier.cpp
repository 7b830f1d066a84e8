#include "tiers/disk_tier.hpp"

#include "core/completion.hpp"
#include "core/log.hpp"
#include "core/log_limiter.hpp"
#include "tiers/sqlite.hpp"

#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pcproxy::tiers {

namespace fs = std::filesystem;
using steady = std::chrono::steady_clock;

namespace {

const std::shared_ptr<spdlog::logger>& log() {
  static const auto l = core::logger("disk");
  return l;
}

constexpr std::int64_t application_id = 0x50435058;  // "PCPX" in the file header
constexpr std::int64_t schema_version = 1;
constexpr std::size_t max_batch = 256;
constexpr std::size_t max_pending_touches = 16384;
// Bytes a row costs beside its value: its metadata columns and index entries.
constexpr std::size_t row_overhead = 160;

// The entry's bytes live in `bodies`, apart from the metadata, so that purges, sweeps
// and eviction scan small rows. Triggers keep the totals, so start-up reads one row.
constexpr const char* schema = R"sql(
CREATE TABLE entries (
  id INTEGER PRIMARY KEY,
  key BLOB NOT NULL UNIQUE,     -- SHA-256 of the cache key: no token, no query
  scope TEXT NOT NULL,          -- a scope id (a hash), for purges by scope
  path TEXT NOT NULL,           -- the request path, for purges by prefix
  route TEXT NOT NULL,
  bytes INTEGER NOT NULL,       -- charged against cache.disk.max_bytes
  expires_at INTEGER NOT NULL,  -- unix seconds: past every window, swept
  last_used INTEGER NOT NULL    -- a sequence number: least recently used goes first
);
CREATE TABLE bodies (id INTEGER PRIMARY KEY, value BLOB NOT NULL);  -- cache/entry_codec bytes
CREATE INDEX entries_by_recency ON entries(last_used);
CREATE INDEX entries_by_scope_path ON entries(scope, path);
CREATE TABLE totals (id INTEGER PRIMARY KEY CHECK (id = 0), entries INTEGER NOT NULL, bytes INTEGER NOT NULL);
INSERT INTO totals VALUES (0, 0, 0);
CREATE TRIGGER entries_added AFTER INSERT ON entries BEGIN
  UPDATE totals SET entries = entries + 1, bytes = bytes + NEW.bytes WHERE id = 0;
END;
CREATE TRIGGER entries_removed AFTER DELETE ON entries BEGIN
  UPDATE totals SET entries = entries - 1, bytes = bytes - OLD.bytes WHERE id = 0;
  DELETE FROM bodies WHERE id = OLD.id;
END;
CREATE TRIGGER entries_resized AFTER UPDATE OF bytes ON entries BEGIN
  UPDATE totals SET bytes = bytes - OLD.bytes + NEW.bytes WHERE id = 0;
END;
)sql";

constexpr int open_flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;

std::int64_t unix_seconds(core::sys_time t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::string_view key_bytes(const cache::cache_key& key) {
  return {reinterpret_cast<const char*>(key.digest.data()), key.digest.size()};
}

std::string utc_stamp() {
  const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%dT%H%M%SZ", &tm);
  return text;
}

// Creates the directory (0700) when it does not exist and proves it writable with a
// probe file. Start-up errors name the path and the reason.
void prepare_directory(const std::string& directory) {
  std::error_code ec;
  if (!fs::exists(directory, ec)) {
    fs::create_directories(directory, ec);
    if (ec)
      throw std::runtime_error("cache.disk.path: cannot create \"" + directory + "\": " + ec.message());
    ::chmod(directory.c_str(), 0700);
  } else if (!fs::is_directory(directory, ec)) {
    throw std::runtime_error("cache.disk.path: \"" + directory + "\" is not a directory");
  }
  const auto probe = (fs::path(directory) / ".pcproxy-write-probe").string();
  const int fd = ::open(probe.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    throw std::runtime_error("cache.disk.path: cannot write in \"" + directory + "\": " + std::strerror(errno));
  ::close(fd);
  ::unlink(probe.c_str());
}

// Result of bringing a database file into service.
enum class opening { ready, unusable };

// Checks that `db` is pcproxy's format (creating the schema in an empty file) and
// switches it to WAL. `why` says what is wrong when it is not usable.
opening adopt(connection& db, std::string& why) {
  if (!db.ok()) {
    why = "cannot open it (SQLite result " + std::to_string(db.open_result()) + ")";
    return opening::unusable;
  }
  db.exec("PRAGMA busy_timeout = 5000");
  auto tables = db.prepare("SELECT count(*) FROM sqlite_master");
  if (const int rc = tables.step(); rc != SQLITE_ROW) {
    why = "it is not a readable SQLite database (" + db.error() + ")";
    return opening::unusable;
  }
  const auto table_count = tables.int64(0);
  tables.reset();
  if (table_count == 0) {
    if (db.exec("PRAGMA journal_mode = WAL") != SQLITE_OK || db.exec("BEGIN IMMEDIATE") != SQLITE_OK ||
        db.exec(schema) != SQLITE_OK ||
        db.exec(("PRAGMA application_id = " + std::to_string(application_id)).c_str()) != SQLITE_OK ||
        db.exec(("PRAGMA user_version = " + std::to_string(schema_version)).c_str()) != SQLITE_OK ||
        db.exec("COMMIT") != SQLITE_OK) {
      why = "cannot create the schema (" + db.error() + ")";
      db.exec("ROLLBACK");
      return opening::unusable;
    }
  } else {
    const auto app = db.query_int("PRAGMA application_id", -1);
    const auto version = db.query_int("PRAGMA user_version", -1);
    if (app != application_id || version != schema_version) {
      why = "it is not pcproxy's cache format (application_id " + std::to_string(app) + ", user_version " +
            std::to_string(version) + "; this build reads " + std::to_string(schema_version) + ")";
      return opening::unusable;
    }
    if (db.exec("PRAGMA journal_mode = WAL") != SQLITE_OK) {
      why = "cannot switch it to WAL (" + db.error() + ")";
      return opening::unusable;
    }
  }
  db.exec("PRAGMA synchronous = NORMAL");  // WAL: a crash loses no committed write
  db.exec("PRAGMA temp_store = MEMORY");
  return opening::ready;
}

// ---- jobs for the writer and reader threads, each delivering its result to the
// executor of the coroutine that awaits it ----

template <typename Context>
struct job {
  virtual ~job() = default;
  /// The work, on the job's thread; `ok` false when an earlier step of the batch failed.
  virtual void execute(Context& ctx) = 0;
  /// After the batch: committed = the work is durable.
  virtual void complete(bool committed) = 0;
  /// It will never run (the tier is closing): deliver the failure.
  virtual void abandon() = 0;
};

// A job whose result a coroutine awaits: core::completion delivers it to its executor.
template <typename Context, typename Result, typename Work>
class awaited_job final : public job<Context> {
public:
  awaited_job(Work work, Result failed, std::unique_ptr<core::completion<Result>> done)
      : work_(std::move(work)), failed_(failed), result_(std::move(failed)), done_(std::move(done)) {}

  void execute(Context& ctx) override { result_ = work_(ctx); }
  void complete(bool committed) override { done_->deliver(committed ? std::move(result_) : failed_); }
  void abandon() override { done_->deliver(failed_); }

private:
  Work work_;
  Result failed_;
  Result result_;
  std::unique_ptr<core::completion<Result>> done_;
};

template <typename Context, typename Result, typename Work>
std::unique_ptr<job<Context>> awaited(Work work, Result failed, std::unique_ptr<core::completion<Result>> done) {
  return std::make_unique<awaited_job<Context, Result, Work>>(std::move(work), std::move(failed), std::move(done));
}

}  // namespace

// What the writer thread owns.
struct writer_context {
  connection db;
  statement find_id, update_entry, update_body, insert_entry, insert_body, touch, oldest, remove, purge, sweep,
      totals;
  std::int64_t sequence = 0;  // the last last_used handed out
  int failed_rc = SQLITE_OK;  // the first failure of the current batch
  std::string failed_what;
  bool wrote = false;  // the current batch changed the database

  void prepare() {
    find_id = db.prepare("SELECT id FROM entries WHERE key = ?1");
    update_entry = db.prepare(
        "UPDATE entries SET scope = ?2, path = ?3, route = ?4, bytes = ?5, expires_at = ?6, last_used = ?7 WHERE id = ?1");
    update_body = db.prepare("UPDATE bodies SET value = ?2 WHERE id = ?1");
    insert_entry = db.prepare(
        "INSERT INTO entries (key, scope, path, route, bytes, expires_at, last_used) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    insert_body = db.prepare("INSERT INTO bodies (id, value) VALUES (?1, ?2)");
    touch = db.prepare("UPDATE entries SET last_used = ?2 WHERE key = ?1");
    oldest = db.prepare("SELECT id, bytes FROM entries ORDER BY last_used LIMIT 64");
    remove = db.prepare("DELETE FROM entries WHERE id = ?1");
    purge = db.prepare(
        "DELETE FROM entries WHERE (?1 IS NULL OR scope = ?1) AND (?2 IS NULL OR substr(path, 1, length(?2)) = ?2) "
        "AND (?3 IS NULL OR path = ?3)");
    sweep = db.prepare("DELETE FROM entries WHERE expires_at <= ?1");
    totals = db.prepare("SELECT entries, bytes FROM totals WHERE id = 0");
    sequence = db.query_int("SELECT coalesce(max(last_used), 0) FROM entries");
  }

  /// Steps `s` to completion; records the first failure of the batch.
  bool run(statement& s, const char* what) {
    if (failed_rc != SQLITE_OK) return false;
    const int rc = s.step();
    wrote = wrote || rc == SQLITE_DONE;
    if (rc == SQLITE_DONE || rc == SQLITE_ROW) return true;
    failed_rc = rc;
    failed_what = std::string(what) + ": " + db.error();
    return false;
  }
};

// What a reader thread owns.
struct reader_context {
  connection db;
  statement select;
  std::uint64_t generation = ~std::uint64_t{0};
};

using writer_job = job<writer_context>;
using reader_job = job<reader_context>;

struct disk_tier::state : std::enable_shared_from_this<state> {
  state(disk_settings s, std::shared_ptr<const core::clock> c)
      : settings(std::move(s)),
        clock(std::move(c)),
        codec(settings.encryption),
        db_path((fs::path(settings.directory) / "cache.db").string()) {}

  const disk_settings settings;
  const std::shared_ptr<const core::clock> clock;
  const cache::entry_codec codec;
  const std::string db_path;

  std::atomic<std::size_t> entries{0}, bytes{0};
  std::atomic<std::uint64_t> hits{0}, misses{0}, writes{0}, dropped{0}, errors{0}, evictions{0};
  std::atomic<std::uint64_t> generation{0};  // bumped when the database file is replaced
  mutable std::mutex condition_mutex;
  std::string condition = "ok";
  core::log_limiter failure_log;

  // The writer's queue.
  std::mutex writer_mutex;
  std::condition_variable writer_wake;
  std::deque<std::unique_ptr<writer_job>> writer_queue;
  std::vector<cache::cache_key> touches;
  std::size_t queued_writes = 0, queued_write_bytes = 0;
  bool closing = false;
  steady::time_point close_deadline = steady::time_point::max();
  std::thread writer;

  // The readers' queue.
  std::mutex reader_mutex;
  std::condition_variable reader_wake;
  std::deque<std::unique_ptr<reader_job>> reader_queue;
  bool readers_stopping = false;
  std::vector<std::thread> readers;

  void set_condition(std::string text) {
    std::lock_guard lock(condition_mutex);
    condition = std::move(text);
  }

  void note_failure(const std::string& what) {
    ++errors;
    set_condition("failing: " + what);
    std::uint64_t suppressed = 0;
    if (failure_log.allow(suppressed))
      log()->error("disk tier {}: {} ({} more like it not logged); serving goes on from memory and upstream", db_path,
                   what, suppressed);
  }

  // ---- opening and replacing the database ----

  connection open_database() {
    // Created 0600 by us, so SQLite's -wal and -shm files take the same mode.
    const int fd = ::open(db_path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) ::close(fd);
    connection db(db_path, open_flags);
    std::string why;
    if (adopt(db, why) == opening::ready) return db;
    db = connection();
    move_aside(why);
    connection fresh(db_path, open_flags);
    if (adopt(fresh, why) != opening::ready)
      throw std::runtime_error("cache.disk.path: cannot create a database at \"" + db_path + "\": " + why);
    return fresh;
  }

  void move_aside(const std::string& why) {
    auto aside = db_path + ".corrupt-" + utc_stamp();
    for (int n = 2; fs::exists(aside); ++n) aside = db_path + ".corrupt-" + utc_stamp() + "-" + std::to_string(n);
    std::error_code ec;
    fs::rename(db_path, aside, ec);
    for (const char* suffix : {"-wal", "-shm"}) fs::rename(db_path + suffix, aside + suffix, ec);
    log()->warn("disk tier: {} was moved aside to {} because {}; the tier starts empty", db_path, aside, why);
  }

  void read_totals(writer_context& w) {
    if (w.totals.step() == SQLITE_ROW) {
      entries = static_cast<std::size_t>(std::max<std::int64_t>(0, w.totals.int64(0)));
      bytes = static_cast<std::size_t>(std::max<std::int64_t>(0, w.totals.int64(1)));
    }
    w.totals.reset();
  }

  // Corruption found while serving: replace the file (on the writer thread).
  void replace_database(writer_context& w, const std::string& why) {
    w = writer_context{};
    move_aside(why);
    w.db = open_database();
    w.prepare();
    ++generation;
    read_totals(w);
    set_condition("ok");
  }

  // ---- the writer ----

  void run_writer(writer_context w) {
    auto next_sweep = steady::now() + settings.sweep_interval;
    for (;;) {
      std::vector<std::unique_ptr<writer_job>> batch;
      std::vector<cache::cache_key> touched;
      bool sweep_due = false;
      {
        std::unique_lock lock(writer_mutex);
        writer_wake.wait_until(lock, std::min(next_sweep, close_deadline),
                               [&] { return !writer_queue.empty() || !touches.empty() || closing; });
        if (closing && (writer_queue.empty() || steady::now() >= close_deadline)) {
          for (auto& j : writer_queue) j->abandon();
          writer_queue.clear();
          return;
        }
        while (!writer_queue.empty() && batch.size() < max_batch) {
          batch.push_back(std::move(writer_queue.front()));
          writer_queue.pop_front();
        }
        touched.swap(touches);
        sweep_due = steady::now() >= next_sweep;
      }
      run_batch(w, batch, touched);
      if (sweep_due) {
        next_sweep = steady::now() + settings.sweep_interval;
        std::vector<std::unique_ptr<writer_job>> none;
        w.wrote = false;
        w.failed_rc = w.db.exec("BEGIN IMMEDIATE");
        w.failed_what = w.failed_rc == SQLITE_OK ? "" : "BEGIN: " + w.db.error();
        w.sweep.bind(1, unix_seconds(clock->now()));
        w.run(w.sweep, "sweep");
        finish_batch(w, none);
      }
    }
  }

  void run_batch(writer_context& w, std::vector<std::unique_ptr<writer_job>>& batch,
                 const std::vector<cache::cache_key>& touched) {
    if (batch.empty() && touched.empty()) return;
    w.failed_rc = SQLITE_OK;
    w.wrote = false;
    if (const int rc = w.db.exec("BEGIN IMMEDIATE"); rc != SQLITE_OK) {
      w.failed_rc = rc;
      w.failed_what = "BEGIN: " + w.db.error();
    }
    for (const auto& key : touched) {
      w.touch.bind_blob(1, key_bytes(key)).bind(2, ++w.sequence);
      w.run(w.touch, "touch");
    }
    for (auto& j : batch) j->execute(w);
    evict_to_fit(w);
    finish_batch(w, batch);
  }

  void finish_batch(writer_context& w, std::vector<std::unique_ptr<writer_job>>& batch) {
    bool committed = false;
    if (w.failed_rc == SQLITE_OK) {
      const int rc = w.db.exec("COMMIT");
      committed = rc == SQLITE_OK;
      if (!committed) {
        w.failed_rc = rc;
        w.failed_what = "COMMIT: " + w.db.error();
      }
    }
    if (!committed && !sqlite3_get_autocommit(w.db.get())) w.db.exec("ROLLBACK");
    // The state first, then the completions: whoever awaited the batch sees its outcome.
    if (committed && w.wrote) {
      set_condition("ok");  // a write landed: whatever failed before works again
    } else if (w.failed_rc != SQLITE_OK) {
      note_failure(w.failed_what);
      if (is_corruption(w.failed_rc))
        replace_database(w, "SQLite found it corrupt (" + w.failed_what + ")");
      else
        reconnect(w);
    }
    read_totals(w);
    for (auto& j : batch) j->complete(committed);
  }

  // After an I/O error SQLite may keep the connection's pager in an error state: the
  // next batch starts on a fresh connection.
  void reconnect(writer_context& w) {
    w = writer_context{};
    w.db = connection(db_path, open_flags);
    std::string why;
    if (adopt(w.db, why) == opening::ready) w.prepare();
  }

  void evict_to_fit(writer_context& w) {
    if (w.failed_rc != SQLITE_OK) return;
    read_totals(w);
    auto total = bytes.load();
    while (total > settings.max_bytes && w.failed_rc == SQLITE_OK) {
      std::vector<std::pair<std::int64_t, std::int64_t>> oldest;
      while (w.oldest.step() == SQLITE_ROW) oldest.emplace_back(w.oldest.int64(0), w.oldest.int64(1));
      w.oldest.reset();
      if (oldest.empty()) return;
      for (const auto& [id, size] : oldest) {
        if (total <= settings.max_bytes) break;
        w.remove.bind(1, id);
        if (!w.run(w.remove, "evict")) return;
        total -= std::min<std::size_t>(total, static_cast<std::size_t>(size));
        ++evictions;
      }
    }
  }

  // ---- the readers ----

  void run_reader() {
    reader_context r;
    for (;;) {
      std::unique_ptr<reader_job> j;
      {
        std::unique_lock lock(reader_mutex);
        reader_wake.wait(lock, [&] { return !reader_queue.empty() || readers_stopping; });
        if (readers_stopping) return;
        j = std::move(reader_queue.front());
        reader_queue.pop_front();
      }
      if (r.generation != generation.load()) {
        r = reader_context{};
        r.generation = generation.load();
        r.db = connection(db_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX);
        r.db.exec("PRAGMA busy_timeout = 5000");
        r.select = r.db.prepare(
            "SELECT b.value FROM entries e JOIN bodies b ON b.id = e.id WHERE e.key = ?1");
      }
      j->execute(r);
      j->complete(true);
    }
  }

  cache::lookup_result read(reader_context& r, const cache::cache_key& key) {
    r.select.bind_blob(1, key_bytes(key));
    const int rc = r.select.step();
    if (rc == SQLITE_DONE) {
      ++misses;
      return {};
    }
    if (rc != SQLITE_ROW) {
      r.select.reset();
      ++misses;
      note_failure("lookup: " + r.db.error());
      return {nullptr, cache::tier_failure::io};
    }
    auto decoded = codec.decode(key, r.select.blob(0));
    r.select.reset();
    if (!decoded.value) {
      // Another version, a damaged row, another encryption key: a miss, and the row goes.
      ++misses;
      ++errors;
      std::uint64_t suppressed = 0;
      if (failure_log.allow(suppressed))
        log()->warn("disk tier: an entry failed its checks ({}) and was treated as a miss ({} more not logged)",
                    cache::to_string(decoded.error), suppressed);
      forget(key);
      return {nullptr, cache::tier_failure::corrupt};
    }
    if (clock->now() >= cache::retention_end(*decoded.value)) {
      ++misses;
      return {};
    }
    ++hits;
    {
      std::lock_guard lock(writer_mutex);
      if (touches.size() < max_pending_touches) touches.push_back(key);
    }
    return {std::move(decoded.value), cache::tier_failure::none};
  }

  void forget(const cache::cache_key& key);
  class insert_job;

  // ---- queueing ----

  /// Queues a job for the writer; gives it back when it is refused. `write_bytes` > 0:
  /// an insert, bounded by the queue limits; other jobs are taken while the tier is open.
  std::unique_ptr<writer_job> enqueue_write(std::unique_ptr<writer_job> j, std::size_t write_bytes) {
    {
      std::lock_guard lock(writer_mutex);
      if (closing) return j;
      if (write_bytes > 0) {
        if (queued_writes >= settings.max_queued_writes ||
            queued_write_bytes + write_bytes > settings.max_queued_write_bytes)
          return j;
        ++queued_writes;
        queued_write_bytes += write_bytes;
      }
      writer_queue.push_back(std::move(j));
    }
    writer_wake.notify_one();
    return nullptr;
  }

  void dequeued_write(std::size_t write_bytes) {
    std::lock_guard lock(writer_mutex);
    --queued_writes;
    queued_write_bytes -= write_bytes;
  }

  /// Queues a lookup; gives it back when the queue is full or the tier is closed.
  std::unique_ptr<reader_job> enqueue_read(std::unique_ptr<reader_job> j) {
    {
      std::lock_guard lock(reader_mutex);
      if (readers_stopping || reader_queue.size() >= settings.max_queued_reads) return j;
      reader_queue.push_back(std::move(j));
    }
    reader_wake.notify_one();
    return nullptr;
  }
};

// An entry to write: encoded on the writer thread, never on an io thread.
class disk_tier::state::insert_job final : public writer_job {
public:
  insert_job(std::shared_ptr<disk_tier::state> s, cache::cache_key key, std::shared_ptr<const cache::entry> e,
             std::size_t queued_bytes)
      : state_(std::move(s)), key_(key), entry_(std::move(e)), queued_bytes_(queued_bytes) {}

  void execute(writer_context& w) override;
  void complete(bool committed) override {
    state_->dequeued_write(queued_bytes_);
    if (written_ && committed) ++state_->writes;
  }
  void abandon() override {
    state_->dequeued_write(queued_bytes_);
    ++state_->dropped;
  }

private:
  std::shared_ptr<disk_tier::state> state_;
  cache::cache_key key_;
  std::shared_ptr<const cache::entry> entry_;
  std::size_t queued_bytes_;
  bool written_ = false;
};

void disk_tier::state::insert_job::execute(writer_context& w) {
  if (w.failed_rc != SQLITE_OK) return;
  if (entry_->body && entry_->body->size() > cache::entry_codec::max_body_bytes) return;
  const auto value = state_->codec.encode(key_, *entry_);
  const auto charged = value.size() + entry_->scope.size() + entry_->path.size() + entry_->route.size() + row_overhead;
  if (charged > state_->settings.max_bytes) return;  // larger than the whole tier
  const auto expires = unix_seconds(cache::retention_end(*entry_));
  const auto used = ++w.sequence;
  w.find_id.bind_blob(1, key_bytes(key_));
  const int found = w.find_id.step();
  if (found == SQLITE_ROW) {
    const auto id = w.find_id.int64(0);
    w.find_id.reset();
    w.update_entry.bind(1, id).bind(2, entry_->scope).bind(3, entry_->path).bind(4, entry_->route);
    w.update_entry.bind(5, static_cast<std::int64_t>(charged)).bind(6, expires).bind(7, used);
    w.update_body.bind(1, id).bind_blob(2, value);
    written_ = w.run(w.update_entry, "update") && w.run(w.update_body, "update body");
  } else if (found == SQLITE_DONE) {
    w.insert_entry.bind_blob(1, key_bytes(key_)).bind(2, entry_->scope).bind(3, entry_->path).bind(4, entry_->route);
    w.insert_entry.bind(5, static_cast<std::int64_t>(charged)).bind(6, expires).bind(7, used);
    if (w.run(w.insert_entry, "insert")) {
      w.insert_body.bind(1, w.db.last_insert_rowid()).bind_blob(2, value);
      written_ = w.run(w.insert_body, "insert body");
    }
  } else {
    w.failed_rc = found;
    w.failed_what = "find: " + w.db.error();
  }
}

void disk_tier::state::forget(const cache::cache_key& key) {
  struct forget_job final : writer_job {
    cache::cache_key key;
    explicit forget_job(cache::cache_key k) : key(k) {}
    void execute(writer_context& w) override {
      auto s = w.db.prepare("DELETE FROM entries WHERE key = ?1");
      s.bind_blob(1, key_bytes(key));
      w.run(s, "forget");
    }
    void complete(bool) override {}
    void abandon() override {}
  };
  // Refused only while closing: the next start finds the row and forgets it then.
  enqueue_write(std::make_unique<forget_job>(key), 0);
}

disk_tier::disk_tier(disk_settings settings, std::shared_ptr<const core::clock> clock)
    : state_(std::make_shared<state>(std::move(settings), std::move(clock))) {
  auto& s = *state_;
  prepare_directory(s.settings.directory);
  writer_context w;
  w.db = s.open_database();
  w.prepare();
  s.read_totals(w);
  log()->info("disk tier at {}: {} entries, {} bytes of {}{}", s.db_path, s.entries.load(), s.bytes.load(),
              s.settings.max_bytes, s.codec.encrypts() ? ", encrypted" : "");
  s.writer = std::thread([st = state_, w = std::move(w)]() mutable { st->run_writer(std::move(w)); });
  for (std::size_t i = 0; i < std::max<std::size_t>(1, s.settings.reader_threads); ++i)
    s.readers.emplace_back([st = state_] { st->run_reader(); });
}

disk_tier::~disk_tier() { close(steady::now()); }

void disk_tier::close(steady::time_point deadline) {
  auto& s = *state_;
  {
    std::lock_guard lock(s.writer_mutex);
    if (s.closing && !s.writer.joinable()) return;
    s.closing = true;
    s.close_deadline = deadline;
  }
  s.writer_wake.notify_all();
  if (s.writer.joinable()) s.writer.join();
  std::deque<std::unique_ptr<reader_job>> left;
  {
    std::lock_guard lock(s.reader_mutex);
    s.readers_stopping = true;
    left.swap(s.reader_queue);
  }
  s.reader_wake.notify_all();
  for (auto& t : s.readers)
    if (t.joinable()) t.join();
  for (auto& j : left) j->abandon();
}

const std::string& disk_tier::database_path() const noexcept { return state_->db_path; }

awaitable<cache::lookup_result> disk_tier::lookup(const cache::cache_key& key) {
  auto start = [st = state_, key](std::unique_ptr<core::completion<cache::lookup_result>> done) {
    auto work = [st, key](reader_context& r) { return st->read(r, key); };
    const cache::lookup_result refused{nullptr, cache::tier_failure::busy};
    if (auto j = st->enqueue_read(awaited<reader_context>(std::move(work), refused, std::move(done)))) {
      ++st->misses;
      j->abandon();
    }
  };
  co_return co_await core::await_completion<cache::lookup_result>(std::move(start));
}

awaitable<cache::tier_failure> disk_tier::insert(const cache::cache_key& key, std::shared_ptr<const cache::entry> e) {
  const auto queued_bytes = (e->body ? e->body->size() : 0) + 256;
  if (state_->enqueue_write(std::make_unique<state::insert_job>(state_, key, std::move(e), queued_bytes), queued_bytes)) {
    ++state_->dropped;  // the queue is full (or the tier closed): never waits
    co_return cache::tier_failure::busy;
  }
  co_return cache::tier_failure::none;
}

awaitable<cache::purge_result> disk_tier::purge(cache::purge_filter filter) {
  auto start = [st = state_, filter = std::move(filter)](std::unique_ptr<core::completion<cache::purge_result>> done) {
    auto work = [filter](writer_context& w) {
      auto& s = w.purge;
      s.reset();
      if (filter.scope) s.bind(1, *filter.scope);
      if (filter.path_prefix) s.bind(2, *filter.path_prefix);
      if (filter.path) s.bind(3, *filter.path);
      if (!w.run(s, "purge")) return cache::purge_result{0, cache::tier_failure::io};
      return cache::purge_result{static_cast<std::size_t>(w.db.changes()), cache::tier_failure::none};
    };
    const cache::purge_result failed{0, cache::tier_failure::unavailable};
    if (auto j = st->enqueue_write(awaited<writer_context>(std::move(work), failed, std::move(done)), 0)) j->abandon();
  };
  co_return co_await core::await_completion<cache::purge_result>(std::move(start));
}

awaitable<void> disk_tier::flush() {
  auto start = [st = state_](std::unique_ptr<core::completion<bool>> done) {
    auto work = [](writer_context&) { return true; };
    if (auto j = st->enqueue_write(awaited<writer_context>(work, false, std::move(done)), 0)) j->abandon();
  };
  co_await core::await_completion<bool>(std::move(start));
}

awaitable<std::size_t> disk_tier::sweep() {
  auto start = [st = state_](std::unique_ptr<core::completion<std::size_t>> done) {
    auto work = [st](writer_context& w) -> std::size_t {
      w.sweep.bind(1, unix_seconds(st->clock->now()));
      return w.run(w.sweep, "sweep") ? static_cast<std::size_t>(w.db.changes()) : 0;
    };
    if (auto j = st->enqueue_write(awaited<writer_context>(std::move(work), std::size_t{0}, std::move(done)), 0))
      j->abandon();
  };
  co_return co_await core::await_completion<std::size_t>(std::move(start));
}

cache::tier_stats disk_tier::stats() const {
  const auto& s = *state_;
  cache::tier_stats out;
  out.entries = s.entries.load();
  out.bytes = s.bytes.load();
  out.max_bytes = s.settings.max_bytes;
  out.hits = s.hits.load();
  out.misses = s.misses.load();
  out.evictions = s.evictions.load();
  out.writes = s.writes.load();
  out.dropped_writes = s.dropped.load();
  out.errors = s.errors.load();
  std::lock_guard lock(s.condition_mutex);
  out.state = s.condition;
  return out;
}

}  // namespace pcproxy::tiers
