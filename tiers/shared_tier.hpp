#pragma once
// The shared tier (DESIGN.md §6a): pages in Redis, shared by a fleet of pcproxy
// instances, and the fleet's coordination (cache::fleet): a lease per page so that one
// instance fetches it, purges and throttle holds announced to every instance.
//
// Keys hold hashes only (no token, no body text, no customer id); with prefix P:
//   P e:<key digest>   the page: cache/entry_codec bytes (encrypted when a key is set),
//                      expiring with the page's last window
//   P i:<scope id>     hash: key digest -> path, for purges by scope and prefix
//   P scopes           set of the scope ids with pages
//   P l:<key digest>   the fetch lease: the holder's instance id, PX cache.shared.lock_ms
//   P events           the channel: fill, purge, hold
// Every call has cache.shared.timeout_ms; a failing Redis is a miss, never an error, and
// the client's breaker keeps the fleet from waiting on it (tiers/redis_client.hpp).
// Writes are sent without waiting, in order with the lease's release, so an instance
// woken by "fill" finds the page.
// Thread-safety: every member may be called concurrently from any thread.
#include "cache/entry_codec.hpp"
#include "cache/fleet.hpp"
#include "cache/tier.hpp"
#include "tiers/redis_client.hpp"

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace pcproxy::core {
class wakeup;
}

namespace pcproxy::tiers {

struct shared_settings {
  redis_settings redis;
  std::string key_prefix = "pcproxy:";
  std::chrono::milliseconds lock{30000};
  std::optional<cache::encryption_key> encryption;
  std::chrono::milliseconds poll{100};  // how often a lease waiter looks, besides the notifications
};

class shared_tier final : public cache::tier, public cache::fleet, public std::enable_shared_from_this<shared_tier> {
public:
  /// Start-up: throws std::runtime_error when the TLS settings are unusable.
  shared_tier(net::any_io_executor executor, shared_settings settings, std::shared_ptr<const core::clock> clock);
  ~shared_tier() override;

  /// Subscribes to the fleet's announcements, delivered to `events` (this instance's own
  /// are not) while its owner keeps it. Held weakly: the listener owns the store, which
  /// owns this tier, and an owning pointer back would keep all of them alive for ever.
  /// Call on a tier made by std::make_shared.
  void start(std::weak_ptr<cache::fleet_events> events);
  void close();

  // cache::tier
  const char* name() const noexcept override { return "shared"; }
  bool shared() const noexcept override { return true; }
  awaitable<cache::lookup_result> lookup(const cache::cache_key& key) override;
  awaitable<cache::tier_failure> insert(const cache::cache_key& key, std::shared_ptr<const cache::entry> e) override;
  awaitable<cache::purge_result> purge(cache::purge_filter filter) override;
  awaitable<void> flush() override;
  cache::tier_stats stats() const override;

  // cache::fleet
  awaitable<lease> acquire(const cache::cache_key& key) override;
  awaitable<std::shared_ptr<const cache::entry>> stored(const cache::cache_key& key) override;
  awaitable<std::shared_ptr<const cache::entry>> wait_for(const cache::cache_key& key,
                                                          std::chrono::steady_clock::time_point until) override;
  void release(const cache::cache_key& key) override;
  void announce_hold(const std::string& scope, std::chrono::milliseconds wait) override;

  struct fleet_statistics {
    std::uint64_t leases_taken = 0;  // this instance fetched for the fleet
    std::uint64_t lease_waits = 0;   // this instance waited for another's fetch
    std::uint64_t waits_filled = 0;  // ... and got the page from it
    std::uint64_t purges_received = 0, holds_received = 0;
    bool subscribed = false;
  };
  fleet_statistics fleet_stats() const;

private:
  std::string key(std::string_view kind, const cache::cache_key& k) const;
  void on_message(const std::string& message);
  void wake(const std::string& digest);

  const shared_settings settings_;
  const std::shared_ptr<const core::clock> clock_;
  const cache::entry_codec codec_;
  const std::string instance_;  // random: tells this instance's announcements apart
  const net::any_io_executor executor_;
  std::shared_ptr<redis_client> redis_;
  std::unique_ptr<redis_subscriber> subscriber_;
  std::weak_ptr<cache::fleet_events> events_;

  std::mutex waiters_mutex_;
  std::multimap<std::string, std::weak_ptr<core::wakeup>> waiters_;  // key digest -> lease waiters

  std::atomic<std::uint64_t> hits_{0}, misses_{0}, writes_{0}, dropped_{0}, errors_{0};
  std::atomic<std::uint64_t> leases_taken_{0}, lease_waits_{0}, waits_filled_{0}, purges_received_{0},
      holds_received_{0};
};

}  // namespace pcproxy::tiers
