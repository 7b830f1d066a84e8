#pragma once
// The in-memory store: cache_key -> immutable entry, bounded by bytes with
// least-recently-used eviction. Sharded by key so io threads rarely meet on a lock;
// the byte total is global and exact. The narrow interface (find / insert / erase_if)
// is all the proxy uses, so the implementation can change without touching callers.
// Thread-safety: every member is safe to call concurrently.
#include "cache/entry.hpp"
#include "cache/key.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace pcproxy::cache {

class store {
public:
  explicit store(std::size_t max_bytes, std::size_t shard_count = 16);

  /// The entry for `key`, or nullptr. Marks it most recently used.
  std::shared_ptr<const entry> find(const cache_key& key);

  /// Stores `e` under `key`, replacing any previous entry, and evicts least recently
  /// used entries until the total fits `max_bytes`. Returns false (and drops any
  /// previous entry for the key) when `e` alone is larger than `max_bytes`.
  bool insert(const cache_key& key, std::shared_ptr<const entry> e);

  /// Removes every entry for which `pred` is true; returns how many.
  std::size_t erase_if(const std::function<bool(const entry&)>& pred);

  struct statistics {
    std::size_t entries = 0;
    std::size_t bytes = 0;
    std::size_t max_bytes = 0;
    std::uint64_t evictions = 0;
  };
  statistics stats() const;

  /// Calls `visit` for every entry (shard by shard, most recently used first within a
  /// shard) with its key, for admin listings. Holds one shard's lock at a time.
  void for_each(const std::function<void(const cache_key&, const entry&)>& visit) const;

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

  const std::size_t max_bytes_;
  std::vector<shard> shards_;
  std::atomic<std::size_t> bytes_{0};
  std::atomic<std::uint64_t> evictions_{0};
};

}  // namespace pcproxy::cache
