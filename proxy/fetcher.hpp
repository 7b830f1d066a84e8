#pragma once
// Filling the cache from upstream (DESIGN.md §5, §6): one upstream request per key at a
// time (single flight: the others wait, bounded, for the leader's answer), the answer
// judged by the route's policy, turned into an entry and stored in every tier (a
// response that varies also under its variant's key); a stored entry is revalidated
// with If-None-Match (and If-Modified-Since on RFC 9111 routes), and a 304 or a 200
// with the same validator renews it without replacing its bytes (a 304's headers
// updating the stored ones on RFC 9111 routes). stale-while-revalidate refreshes run
// here, in the background.
// Thread-safety: every member may be called concurrently from any executor.
#include "cache/fleet.hpp"
#include "cache/policy.hpp"
#include "cache/tiered.hpp"
#include "proxy/entry_builder.hpp"
#include "proxy/request_context.hpp"
#include "proxy/single_flight.hpp"
#include "proxy/telemetry.hpp"
#include "proxy/token_verdicts.hpp"
#include "upstream/client.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pcproxy::proxy {

/// What one upstream fetch produced, shared by a single flight's leader and followers.
struct fetched {
  std::shared_ptr<const cache::entry> response;  // upstream's answer as an immutable entry
  bool stored = false;                           // `response` is in the cache
  bool revalidated = false;                      // upstream confirmed the stored bytes
  bool shared = false;                           // another instance fetched it (the fleet's lease)
  upstream::failure error = upstream::failure::none;
  std::string detail;
  std::optional<std::chrono::milliseconds> retry_after;
  upstream::correlation sent;
  std::vector<upstream::attempt_record> attempts;  // upstream attempts made for it
};

/// Everything one upstream fetch for the cache needs, owned, so a background refresh
/// can outlive the request that started it.
struct fetch_plan {
  upstream::request request;
  upstream::correlation corr;
  cache::cache_key key;
  identity who;
  std::string authorization;
  std::string path;
  config::route_config route;
  const cache::route_policy* policy = nullptr;
  cache::cache_control directives;             // the client's (no-store keeps the answer out)
  bool authorization_restricts = false;        // RFC 9111 §3.5 (tenant scope)
  cache::header_list client_headers;           // the client's request fields (a Vary selects on them)
  bool client_conditional = false;             // the client's own If-None-Match / If-Modified-Since went upstream
  std::shared_ptr<const cache::entry> stored;  // to revalidate (If-None-Match)
  std::chrono::seconds stale_if_error{0};
  std::chrono::milliseconds single_flight_wait{0};
  std::shared_ptr<std::string> body_etag;  // set by request.check (JSON routes)
};

class fetcher : public std::enable_shared_from_this<fetcher> {
public:
  fetcher(std::shared_ptr<upstream::transport> upstream, std::shared_ptr<cache::tiered> store,
          std::shared_ptr<const core::clock> clock, std::shared_ptr<const entry_builder> builder,
          std::shared_ptr<traffic_metrics> metrics, std::shared_ptr<token_verdicts> verdicts,
          std::shared_ptr<cache::fleet> fleet);

  /// The upstream request for `c` (a GET also for HEAD: the stored GET answers both),
  /// conditional when `stored` has a validator, with the JSON check its policy asks for.
  /// On RFC 9111 routes with nothing stored, the client's own conditions go upstream
  /// (and the answer, a 304 perhaps, is this request's alone).
  fetch_plan plan(const call& c, const cache::cache_key& key, std::shared_ptr<const cache::entry> stored,
                  const cache::cache_control& directives) const;

  struct outcome {
    std::shared_ptr<const fetched> result;
    bool own = false;  // this request's own upstream call (not a flight leader's)
  };
  /// Leads the key's single flight or follows it. Within a tenant scope the leader may
  /// hold another token: only its successes are shared, other followers fetch anew.
  /// With a fleet, the leader also takes the page's lease, or waits for the instance
  /// that holds it (up to cache.single_flight_wait_ms).
  awaitable<outcome> fetch_collapsed(const fetch_plan& plan);

  /// One upstream exchange outside any flight (an unverified tenant token's own).
  awaitable<std::shared_ptr<const fetched>> fetch(const fetch_plan& plan);

  /// Refreshes `plan.key` on `executor` unless it is being fetched already.
  void refresh_in_background(fetch_plan plan, net::any_io_executor executor);

  /// Requests waiting for another's upstream answer right now.
  std::size_t waiters() const { return flights_.waiting(); }

private:
  using flights = single_flight<cache::cache_key, fetched, cache::cache_key_hash>;

  awaitable<std::shared_ptr<const fetched>> fetch_for_fleet(const fetch_plan& plan);

  const std::shared_ptr<upstream::transport> upstream_;
  const std::shared_ptr<cache::tiered> store_;
  const std::shared_ptr<const core::clock> clock_;
  const std::shared_ptr<const entry_builder> builder_;
  const std::shared_ptr<traffic_metrics> metrics_;
  const std::shared_ptr<token_verdicts> verdicts_;
  const std::shared_ptr<cache::fleet> fleet_;
  flights flights_;
};

}  // namespace pcproxy::proxy
