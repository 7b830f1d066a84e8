#pragma once
// The cache as a component (DESIGN.md §6a): a tier keeps entries by key. Memory is one
// tier (cache/memory_tier); the disk and shared tiers do I/O behind this same interface
// (tiers/). cache/tiered composes them. Everything a caller can ask of a tier is here,
// as data: a purge is a filter value, never a C++ predicate, because a disk or a remote
// tier cannot run one. Failures are values; a tier never throws on the data plane.
//
// The contract every tier keeps (tests/unit/tier_conformance_test.cpp checks it):
// - lookup() returns what insert() stored under the key, byte for byte, or a miss;
//   never an entry past its retention_end(), never another key's entry.
// - insert() replaces what the key held. It returns once the entry is stored, queued
//   for a background write, or refused; it never waits on I/O. flush() waits for the
//   queued writes.
// - purge() removes every entry its filter matches, in every scope it names, and says
//   how many.
// - stats() is the tier's own bookkeeping: it never walks the entries.
// Thread-safety: every member may be called concurrently from any thread.
#include "cache/entry.hpp"
#include "cache/key.hpp"
#include "core/net.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace pcproxy::cache {

/// Which entries a purge removes: those matching every field that is set; a filter
/// with no field set matches everything.
struct purge_filter {
  std::optional<std::string> scope;        // this scope id only
  std::optional<std::string> path_prefix;  // paths starting with this
  std::optional<std::string> path;         // exactly this path

  bool matches(const entry& e) const noexcept;
  std::string describe() const;  // "scope c-12ab..., prefix /v1/customers" for logs
};

/// Why a tier could not do what was asked.
enum class tier_failure {
  none,
  busy,         // its queue is full: the operation was dropped (a miss, an unwritten entry)
  too_large,    // the entry alone is larger than the tier's max_bytes: not stored
  unavailable,  // the tier is down or switched off for now
  timeout,      // no answer within the tier's deadline
  corrupt,      // what it held failed its checks (version, checksum, key): treated as a miss
  io,           // the operating system or the engine refused (disk full, I/O error, ...)
};
const char* to_string(tier_failure f) noexcept;

struct lookup_result {
  std::shared_ptr<const entry> found;  // null: a miss, or a failure
  tier_failure failure = tier_failure::none;
};

struct purge_result {
  std::size_t purged = 0;
  tier_failure failure = tier_failure::none;
};

/// What a tier counts about itself.
struct tier_stats {
  std::size_t entries = 0;
  std::size_t bytes = 0;      // as charged against max_bytes
  std::size_t max_bytes = 0;
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t evictions = 0;       // removed to stay within max_bytes
  std::uint64_t writes = 0;          // entries written
  std::uint64_t dropped_writes = 0;  // writes refused because the queue was full
  std::uint64_t errors = 0;          // failed operations (I/O, corrupt entries, timeouts)
  std::uint64_t timeouts = 0;        // of them, deadlines missed (a remote tier's calls)
  std::string state = "ok";          // "ok", or what is wrong right now
};

class tier {
public:
  virtual ~tier() = default;
  /// "memory", "disk", "shared": what Cache-Status' detail says of a hit from it.
  virtual const char* name() const noexcept = 0;
  /// True for a tier other instances share (what they purge reaches it already).
  virtual bool shared() const noexcept { return false; }
  virtual awaitable<lookup_result> lookup(const cache_key& key) = 0;
  virtual awaitable<tier_failure> insert(const cache_key& key, std::shared_ptr<const entry> e) = 0;
  virtual awaitable<purge_result> purge(purge_filter filter) = 0;
  virtual awaitable<void> flush() = 0;
  virtual tier_stats stats() const = 0;
};

}  // namespace pcproxy::cache
