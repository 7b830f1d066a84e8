#pragma once
// The persistent tier (DESIGN.md §6a): entries in a SQLite database in WAL mode under
// cache.disk.path, so a restart (every deploy of a sidecar) finds the pages it had.
//
// - No I/O on an io thread: one writer thread owns the read-write connection and applies
//   queued writes in batches, one transaction each; a few reader threads own connections
//   of their own for lookups. Results are posted back to the awaiting coroutine's
//   executor. A write that finds the queue full is dropped and counted; it never waits.
// - What is stored is cache/entry_codec's bytes (checksummed, compressed, optionally
//   encrypted); the columns beside them hold only hashes (key, scope) and what purges
//   and eviction need (path, route, sizes, expiry, recency). No token byte is on disk.
// - Start-up reads no entry: it opens the file, checks its format and reads the totals
//   that triggers keep. A database that is corrupt or of another format is moved aside
//   (cache.db.corrupt-<UTC time>) and the tier starts empty; corruption found later
//   does the same on the writer thread while lookups miss.
// - Bounded by bytes (least recently used first); entries past their last window are
//   swept in the background; stats come from the tier's own counters.
// Thread-safety: every member may be called concurrently from any thread.
#include "cache/entry_codec.hpp"
#include "cache/tier.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace pcproxy::tiers {

struct disk_settings {
  std::string directory;  // created (0700) when missing
  std::size_t max_bytes = std::size_t{4} << 30;
  std::optional<cache::encryption_key> encryption;
  std::size_t reader_threads = 2;
  std::size_t max_queued_writes = 4096;
  std::size_t max_queued_write_bytes = std::size_t{64} << 20;  // bodies waiting to be written
  std::size_t max_queued_reads = 1024;
  std::chrono::milliseconds sweep_interval{60000};
};

class disk_tier final : public cache::tier {
public:
  /// Opens or creates <directory>/cache.db. Start-up: throws std::runtime_error naming
  /// the path and the reason when the directory cannot be created or written to.
  disk_tier(disk_settings settings, std::shared_ptr<const core::clock> clock);
  /// close() with no time to wait beyond the writes in progress.
  ~disk_tier() override;
  disk_tier(const disk_tier&) = delete;
  disk_tier& operator=(const disk_tier&) = delete;

  const char* name() const noexcept override { return "disk"; }
  awaitable<cache::lookup_result> lookup(const cache::cache_key& key) override;
  awaitable<cache::tier_failure> insert(const cache::cache_key& key, std::shared_ptr<const cache::entry> e) override;
  awaitable<cache::purge_result> purge(cache::purge_filter filter) override;
  awaitable<void> flush() override;
  cache::tier_stats stats() const override;

  /// Removes the entries past their retention_end() now (the background sweep's work).
  awaitable<std::size_t> sweep();

  /// Shutdown: stops taking writes, writes what is queued until `deadline`, drops the
  /// rest (counted), and stops the threads. Blocks; idempotent.
  void close(std::chrono::steady_clock::time_point deadline);

  /// The database file (for logs and tests).
  const std::string& database_path() const noexcept;

private:
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace pcproxy::tiers
