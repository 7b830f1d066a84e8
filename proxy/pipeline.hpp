#pragma once
// The request pipeline behind the server's handler interface (DESIGN.md "Request
// pipeline"), as an orchestrator that reads top to bottom: credentials -> correlation
// ids -> route and its policy -> scope and cache key -> the tiered store (fresh,
// stale-while-revalidate, stale-if-error) -> the fetcher (single flight, upstream,
// revalidation) -> the response with its validator, cache, correlation and timing
// headers. Every request leaves a record for metrics and the access log.
// Thread-safety: handle() runs concurrently; apply() swaps the reloadable settings
// atomically (requests in flight finish with the settings they started with).
#include "cache/fleet.hpp"
#include "cache/tiered.hpp"
#include "config/config.hpp"
#include "core/clock.hpp"
#include "proxy/collection.hpp"
#include "proxy/responses.hpp"
#include "proxy/router.hpp"
#include "proxy/telemetry.hpp"
#include "proxy/token_file.hpp"
#include "server/handler.hpp"
#include "upstream/client.hpp"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace pcproxy::proxy {

struct call;
class entry_builder;
class fetcher;
class token_verdicts;
class prefetcher;
class credential_provider;

class pipeline final : public server::request_handler,
                       public page_source,
                       public std::enable_shared_from_this<pipeline> {
public:
  /// `fleet`: the shared tier's coordination when a fleet shares the cache, else null.
  /// `credentials`: the access tokens for requests without Authorization
  /// (upstream.auth.mode refresh_token), else null.
  pipeline(const config::config& settings, std::shared_ptr<upstream::transport> upstream,
           std::shared_ptr<cache::tiered> store, std::shared_ptr<const core::clock> clock,
           upstream::random_source random, std::shared_ptr<cache::fleet> fleet = nullptr,
           std::shared_ptr<credential_provider> credentials = nullptr);
  ~pipeline() override;

  awaitable<server::response> handle(const server::request& req,
                                     const server::request_info& info) override;

  // page_source: the pages of /pcproxy/collection/ walks.
  awaitable<page> serve_page(const server::request& req, const server::request_info& info) override;
  awaitable<std::optional<cached>> fresh_page(const server::request& req) override;

  /// A reload: routes, cache rules, token files and logging switches from now on.
  void apply(const config::config& settings);

  /// How requests of each current route were answered since start.
  struct route_stats {
    std::string path;
    config::cache_policy policy;
    std::uint64_t hits = 0, misses = 0, stale = 0, revalidated = 0, bypassed = 0;
  };
  std::vector<route_stats> stats() const;
  std::size_t single_flight_waiters() const;
  const std::shared_ptr<cache::tiered>& store() const { return store_; }
  const std::shared_ptr<const core::clock>& clock() const { return clock_; }
  const traffic_metrics& metrics() const { return *metrics_; }
  const credential_provider* credentials() const { return credentials_.get(); }

  /// The admin token (admin.token_file): whether one is set, and whether `bearer`
  /// ("Bearer <token>") is it, compared in constant time.
  bool admin_token_configured() const;
  bool admin_token_matches(std::string_view bearer) const;

private:
  /// Everything a reload can change, swapped as a whole.
  struct live_state {
    live_state(const config::config& c, traffic_metrics& metrics);
    config::config settings;
    router routes;
    std::vector<traffic_metrics::route_row*> rows;  // one per route (and the fallback)
    std::shared_ptr<token_file> injected_token;
    std::shared_ptr<token_file> admin_token;
  };

  /// Answers one request; `log_access`: its own access-log line (not for a collection's pages).
  awaitable<page> answer(const server::request& req, const server::request_info& info, bool log_access);
  /// The request's route, policy, correlation ids and credentials.
  void prepare(call& c, const live_state& live) const;
  /// With a credential provider, its access token for a request without Authorization;
  /// "" when the request has credentials, else why none could be had.
  awaitable<std::string> provide_credentials(call& c) const;
  awaitable<server::response> process(call& c);
  void identify(call& c) const;
  server::response missing_credentials(call& c, bool token_file_configured) const;
  server::response credentials_failed(call& c, const std::string& why) const;
  awaitable<server::response> serve_from_cache(call& c);
  awaitable<server::response> forward(call& c);
  void finish(call& c, server::response& res, const server::request_info& info, bool log_access);
  /// The response for a stored (or just fetched) entry: 304 when the client's
  /// If-None-Match matches, the body otherwise, stamped with `label`.
  server::response respond(call& c, const cache::entry& e, cache_result label, std::string_view cache_status) const;
  /// The same-origin path a Location or Content-Location names (RFC 9111 §4.4).
  std::optional<std::string> same_origin_path(std::string_view uri) const;
  /// Whether the client's conditions say it holds `e` already (a 304 then).
  bool client_holds(const call& c, const cache::entry& e) const;
  /// The stored entry for `key`, or for the request's variant of it.
  awaitable<cache::tiered::found> lookup_variant(const call& c, const cache::cache_key& key);
  /// Adds the correlation and cache headers every response carries, and records the label.
  void stamp(call& c, server::response& res, cache_result label, long long age_s,
             std::string_view cache_status) const;

  const config::config settings_;  // as at start: the keys that need a restart
  const std::shared_ptr<upstream::transport> upstream_;
  const std::shared_ptr<cache::tiered> store_;
  const std::shared_ptr<const core::clock> clock_;
  const upstream::random_source random_;
  const std::shared_ptr<traffic_metrics> metrics_;
  const std::shared_ptr<token_verdicts> verdicts_;
  const std::shared_ptr<const entry_builder> builder_;
  const std::shared_ptr<fetcher> fetcher_;
  const std::shared_ptr<prefetcher> prefetcher_;
  const std::shared_ptr<credential_provider> credentials_;
  std::atomic<std::shared_ptr<const live_state>> live_;
};

}  // namespace pcproxy::proxy
