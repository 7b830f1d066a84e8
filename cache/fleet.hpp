#pragma once
// What the instances that share a cache tell each other (DESIGN.md §6, §8): who fetches
// a page (a lease, so that concurrent misses across the fleet make one upstream
// request) and that upstream throttles a caller. The shared tier implements it over
// Redis; a lone instance has none, and every caller must cope with "unavailable" by
// going on alone.
// Thread-safety: every member may be called from any thread.
#include "cache/entry.hpp"
#include "cache/key.hpp"
#include "cache/tier.hpp"
#include "core/net.hpp"

#include <chrono>
#include <memory>
#include <string>

namespace pcproxy::cache {

class fleet {
public:
  enum class lease {
    mine,         // this instance fetches the page; release() when done
    taken,        // another instance fetches it: wait_for() its page
    unavailable,  // no coordination right now: fetch alone
  };

  virtual ~fleet() = default;

  virtual awaitable<lease> acquire(const cache_key& key) = 0;

  /// The page as the fleet holds it now, or null (a fetch may have ended between a miss
  /// and acquire(): the lease is free again, and the page is there).
  virtual awaitable<std::shared_ptr<const entry>> stored(const cache_key& key) = 0;

  /// Waits until the lease holder has stored the page (the entry), or has given the
  /// lease up or let it lapse without one (null: try acquire() again), or `until`.
  virtual awaitable<std::shared_ptr<const entry>> wait_for(const cache_key& key,
                                                          std::chrono::steady_clock::time_point until) = 0;

  /// Gives the lease up, after the page was stored (or the fetch failed), and wakes the
  /// instances waiting for it.
  virtual void release(const cache_key& key) = 0;

  /// Tells every instance that upstream throttled `scope` for `wait` (a 429 with
  /// Retry-After): they hold that caller back too.
  virtual void announce_hold(const std::string& scope, std::chrono::milliseconds wait) = 0;
};

/// What other instances announce, delivered to this one.
class fleet_events {
public:
  virtual ~fleet_events() = default;
  /// Another instance purged: drop the same pages from this instance's own tiers.
  virtual void purged(const purge_filter& filter) = 0;
  /// Another instance saw upstream throttle `scope` for `wait`.
  virtual void held(const std::string& scope, std::chrono::milliseconds wait) = 0;
};

}  // namespace pcproxy::cache
