#pragma once
// The memory tier: cache_key -> immutable entry, bounded by bytes with
// least-recently-used eviction. Sharded by key so io threads rarely meet on a lock; the
// byte total is global and exact. Besides the tier interface it has synchronous
// find/put/erase for the hit path (no coroutine frame for a lookup that never waits),
// a bounded listing for /admin/cache, and entries and bytes per route for /metrics,
// kept as entries come and go.
// Thread-safety: every member is safe to call concurrently.
#include "cache/tier.hpp"
#include "core/metrics.hpp"

#include <atomic>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace pcproxy::cache {

class memory_tier final : public tier {
public:
  memory_tier(std::size_t max_bytes, std::shared_ptr<const core::clock> clock, std::size_t shard_count = 16);

  /// The entry for `key`, or nullptr (also once past its retention_end(), when it is
  /// dropped). Marks it most recently used.
  std::shared_ptr<const entry> find(const cache_key& key);

  /// Stores `e` under `key`, replacing any previous entry, and evicts least recently
  /// used entries until the total fits `max_bytes`. Returns false (and drops any
  /// previous entry for the key) when `e` alone is larger than `max_bytes`.
  bool put(const cache_key& key, std::shared_ptr<const entry> e);

  /// Removes every entry `filter` matches; returns how many.
  std::size_t erase(const purge_filter& filter);

  struct listed {
    cache_key key;
    std::shared_ptr<const entry> value;
  };
  /// Up to `limit` entries (shard by shard, most recently used first within a shard).
  std::vector<listed> list(std::size_t limit) const;

  struct route_usage {
    std::size_t entries = 0;
    std::size_t bytes = 0;
  };
  /// Entries and bytes per route pattern (entry::route), as kept on every change.
  std::map<std::string, route_usage> usage_by_route() const;

  // The tier interface, over the members above.
  const char* name() const noexcept override { return "memory"; }
  awaitable<lookup_result> lookup(const cache_key& key) override;
  awaitable<tier_failure> insert(const cache_key& key, std::shared_ptr<const entry> e) override;
  awaitable<purge_result> purge(purge_filter filter) override;
  awaitable<void> flush() override;
  tier_stats stats() const override;

private:
  struct node {
    cache_key key;
    std::shared_ptr<const entry> value;
    std::size_t bytes;
    std::chrono::steady_clock::rep last_used;
  };
  using lru_list = std::list<node>;
  struct alignas(64) shard {
    mutable std::mutex mutex;
    lru_list lru;  // front = most recently used
    std::unordered_map<cache_key, lru_list::iterator, cache_key_hash> index;
  };

  shard& shard_for(const cache_key& key);
  void erase_locked(shard& s, lru_list::iterator it);
  void evict_to_fit();
  void account(const entry& e, std::size_t bytes, bool added);

  const std::size_t max_bytes_;
  const std::shared_ptr<const core::clock> clock_;
  std::vector<shard> shards_;
  std::atomic<std::size_t> bytes_{0};
  std::atomic<std::size_t> entries_{0};
  std::atomic<std::uint64_t> evictions_{0}, writes_{0};
  core::counter_array lookups_{2};  // [0] hits, [1] misses: striped, a hit takes no shared line
  mutable std::mutex usage_mutex_;  // taken only when entries come and go, never on a hit
  std::map<std::string, route_usage, std::less<>> usage_;
};

}  // namespace pcproxy::cache
