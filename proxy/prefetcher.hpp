#pragma once
// Next-page prefetch for clients paging by hand (routes[].prefetch_next, DESIGN.md §12):
// after a page of such a route is fetched, or its prefetched copy is served for the first
// time, the page its links.next points at is fetched in the background, with the key the
// client's own next request will have (same scope, Accept, X-Locale, the link's
// MS-ContinuationToken), so that request is a hit: "Cache-Status: ...; detail=prefetched".
// Bounded: one prefetch per scope at a time, limits.max_prefetches in all, and none while
// upstream would hold the scope back (a 429's Retry-After), the circuit is open or the
// retry budget is spent.
// Thread-safety: every member may be called concurrently.
#include "cache/key.hpp"
#include "cache/tiered.hpp"
#include "proxy/fetcher.hpp"
#include "proxy/request_context.hpp"
#include "upstream/client.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_set>

namespace pcproxy::proxy {

class prefetcher : public std::enable_shared_from_this<prefetcher> {
public:
  prefetcher(std::shared_ptr<fetcher> fetch, std::shared_ptr<upstream::transport> upstream,
             std::shared_ptr<cache::tiered> store, upstream::random_source random);

  /// After `c` was answered with `page`: prefetch its next page when the route asks for
  /// it and the bounds allow.
  void after(const call& c, const cache::entry& page, net::any_io_executor executor);

  /// True, once, for a key that was prefetched and has not been served since.
  bool take(const cache::cache_key& key);

  /// Prefetches running now.
  std::size_t running() const { return running_.load(); }

private:
  awaitable<void> run(server::request next, identity who, std::string authorization, config::route_config route,
                      const config::config* settings, std::shared_ptr<const void> hold, cache::cache_key key);
  void done(const std::string& scope);

  const std::shared_ptr<fetcher> fetch_;
  const std::shared_ptr<upstream::transport> upstream_;
  const std::shared_ptr<cache::tiered> store_;
  const upstream::random_source random_;
  std::mutex mutex_;
  std::set<std::string> scopes_;  // with a prefetch running
  std::unordered_set<cache::cache_key, cache::cache_key_hash> unserved_;
  std::atomic<std::size_t> unserved_count_{0};  // lets a hit skip the lock when nothing waits
  std::atomic<std::size_t> running_{0};
};

}  // namespace pcproxy::proxy
