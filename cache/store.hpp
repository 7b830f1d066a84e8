#pragma once
// The in-memory store: cache_key -> immutable entry, bounded by bytes with
// least-recently-used eviction. The narrow interface (find / insert / erase_if) is all
// the proxy uses, so the implementation can change (sharding, a persistent tier)
// without touching callers.
// Thread-safety: every member is safe to call concurrently.
#include "cache/entry.hpp"
#include "cache/key.hpp"

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace pcproxy::cache {

class store {
public:
  explicit store(std::size_t max_bytes);

  /// The entry for `key`, or nullptr. Marks it most recently used.
  std::shared_ptr<const entry> find(const cache_key& key);

  /// Stores `e` under `key`, replacing any previous entry, and evicts least recently
  /// used entries until the total fits `max_bytes`. Returns false (and stores nothing)
  /// when the entry alone is larger than `max_bytes`.
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

  /// Calls `visit` for every entry, most recently used first (for admin listings).
  void for_each(const std::function<void(const entry&)>& visit) const;

private:
  struct node {
    cache_key key;
    std::shared_ptr<const entry> value;
    std::size_t bytes;
  };
  using lru_list = std::list<node>;

  void erase_locked(lru_list::iterator it);

  const std::size_t max_bytes_;
  mutable std::mutex mutex_;
  lru_list lru_;  // front = most recently used
  std::unordered_map<cache_key, lru_list::iterator, cache_key_hash> index_;
  std::size_t bytes_ = 0;
  std::uint64_t evictions_ = 0;
};

}  // namespace pcproxy::cache
