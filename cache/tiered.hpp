#pragma once
// The store the pipeline uses (DESIGN.md §6a): the memory tier in front of the lower
// tiers (disk, then shared, each optional). A lookup falls through the tiers in order
// and promotes what it finds into every tier above; an insert goes into memory at once
// and into every lower tier as a queued, asynchronous write; a purge reaches them all.
// A lower tier's failure is a miss there, never an error for the request.
// Thread-safety: every member may be called concurrently from any thread.
#include "cache/memory_tier.hpp"
#include "cache/tier.hpp"

#include <atomic>
#include <memory>
#include <vector>

namespace pcproxy::cache {

class tiered {
public:
  /// `lower`: the tiers behind memory, nearest first.
  tiered(std::shared_ptr<memory_tier> memory, std::vector<std::shared_ptr<tier>> lower = {});

  struct found {
    std::shared_ptr<const entry> value;  // null: no tier holds the key
    const tier* from = nullptr;          // the tier that held it
  };
  awaitable<found> lookup(const cache_key& key);

  /// Stores `e` in memory now and queues it for every lower tier (with `everywhere`
  /// false, for this instance's own tiers only: the page came from the shared one).
  /// False when no tier took it (larger than every tier's max_bytes, every queue full).
  awaitable<bool> insert(const cache_key& key, std::shared_ptr<const entry> e, bool everywhere = true);

  struct purged {
    const tier* from = nullptr;
    purge_result result;
  };
  /// Removes what `filter` matches from every tier (waiting for the lower tiers), or,
  /// with `everywhere` false, from this instance's own tiers only (another instance
  /// purged the shared one and announced it).
  awaitable<std::vector<purged>> purge(purge_filter filter, bool everywhere = true);

  /// Waits for the lower tiers' queued writes (shutdown).
  awaitable<void> flush();

  memory_tier& memory() const noexcept { return *memory_; }
  /// Memory first, then the lower tiers in order.
  std::vector<const tier*> tiers() const;
  bool has_lower_tiers() const noexcept { return !lower_.empty(); }

private:
  const std::shared_ptr<memory_tier> memory_;
  const std::vector<std::shared_ptr<tier>> lower_;
  /// Counts purges: a lower tier's answer to a lookup that a purge overtook is dropped
  /// rather than promoted (it may be what the purge removed).
  std::atomic<std::uint64_t> purges_{0};
};

}  // namespace pcproxy::cache
