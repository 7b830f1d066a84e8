#include "proxy/admin.hpp"

#include "cache/freshness.hpp"
#include "cache/key.hpp"
#include "core/error_body.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "proxy/credentials.hpp"
#include "tiers/shared_tier.hpp"

#include <openssl/crypto.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <map>

#ifndef PCPROXY_VERSION
#define PCPROXY_VERSION "0.0.0"
#endif

namespace pcproxy::proxy {

namespace http = beast::http;

namespace {

// The decoded value of `name` in a query string, or nullopt.
std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto piece = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const auto eq = piece.find('=');
    if (cache::percent_decode(piece.substr(0, eq)) == name)
      return eq == std::string_view::npos ? std::string{} : cache::percent_decode(piece.substr(eq + 1));
  }
  return std::nullopt;
}

server::response admin_error(unsigned status, core::error_code_number code, std::string_view description) {
  return server::json_response(status, core::error_body(code, description));
}

using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;

// One "name": value member.
void member(json_writer& w, const char* name, std::uint64_t value) {
  w.Key(name);
  w.Uint64(value);
}
void member(json_writer& w, const char* name, std::int64_t value) {
  w.Key(name);
  w.Int64(value);
}
void member(json_writer& w, const char* name, std::string_view value) {
  w.Key(name);
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

const char* freshness_name(cache::freshness f) {
  switch (f) {
    case cache::freshness::fresh: return "fresh";
    case cache::freshness::stale_while_revalidate: return "stale-while-revalidate";
    case cache::freshness::stale: return "stale";
    case cache::freshness::unusable: return "expired";
  }
  return "expired";
}

// Every tier's own statistics, labelled by tier: memory, disk, shared.
void render_tier_metrics(core::exposition_writer& w, const cache::tiered& store) {
  std::vector<std::pair<const char*, cache::tier_stats>> tiers;
  for (const auto* t : store.tiers()) tiers.emplace_back(t->name(), t->stats());
  const auto gauge = [&](const char* name, const char* help, auto value) {
    w.family(name, "gauge", help);
    for (const auto& [tier, s] : tiers) w.sample(name, {{"tier", tier}}, std::uint64_t{value(s)});
  };
  const auto counter = [&](const char* name, const char* help, auto value) {
    w.family(name, "counter", help);
    for (const auto& [tier, s] : tiers) w.sample(name, {{"tier", tier}}, std::uint64_t{value(s)});
  };
  gauge("pcproxy_cache_tier_entries", "Entries held by each cache tier.", [](const auto& s) { return s.entries; });
  gauge("pcproxy_cache_tier_bytes", "Bytes each cache tier holds, as charged against its max_bytes.",
        [](const auto& s) { return s.bytes; });
  gauge("pcproxy_cache_tier_max_bytes", "Each cache tier's byte limit.", [](const auto& s) { return s.max_bytes; });
  gauge("pcproxy_cache_tier_up", "1 while the tier works, 0 while it is failing (see /admin/cache).",
        [](const auto& s) { return s.state == "ok" ? 1u : 0u; });
  w.family("pcproxy_cache_tier_reads_total", "counter", "Lookups in each cache tier, by result.");
  for (const auto& [tier, s] : tiers) {
    w.sample("pcproxy_cache_tier_reads_total", {{"tier", tier}, {"result", "hit"}}, s.hits);
    w.sample("pcproxy_cache_tier_reads_total", {{"tier", tier}, {"result", "miss"}}, s.misses);
  }
  counter("pcproxy_cache_tier_writes_total", "Entries written to each cache tier.", [](const auto& s) { return s.writes; });
  counter("pcproxy_cache_tier_dropped_writes_total", "Writes a cache tier dropped because its queue was full.",
          [](const auto& s) { return s.dropped_writes; });
  counter("pcproxy_cache_tier_errors_total", "Failed cache tier operations (I/O, corrupt entries, timeouts).",
          [](const auto& s) { return s.errors; });
  counter("pcproxy_cache_tier_timeouts_total", "Cache tier calls that missed their deadline (cache.shared.timeout_ms).",
          [](const auto& s) { return s.timeouts; });
  counter("pcproxy_cache_tier_evictions_total", "Entries each cache tier removed to stay within its max_bytes.",
          [](const auto& s) { return s.evictions; });
}

void tier_members(json_writer& w, const char* name, const cache::tier_stats& s) {
  w.StartObject();
  member(w, "name", name);
  member(w, "state", s.state);
  member(w, "entries", std::uint64_t{s.entries});
  member(w, "bytes", std::uint64_t{s.bytes});
  member(w, "max_bytes", std::uint64_t{s.max_bytes});
  member(w, "hits", s.hits);
  member(w, "misses", s.misses);
  member(w, "writes", s.writes);
  member(w, "dropped_writes", s.dropped_writes);
  member(w, "errors", s.errors);
  member(w, "timeouts", s.timeouts);
  member(w, "evictions", s.evictions);
  w.EndObject();
}

}  // namespace

admin_handler::admin_handler(std::shared_ptr<const pipeline> proxy,
                             std::shared_ptr<const upstream::resilient_transport> resilience,
                             std::shared_ptr<const tiers::shared_tier> fleet, bool exposed)
    : proxy_(std::move(proxy)), resilience_(std::move(resilience)), fleet_(std::move(fleet)), exposed_(exposed) {}

awaitable<server::response> admin_handler::handle(const server::request& req, const server::request_info&) {
  const std::string_view target = req.target();
  const auto question = target.find('?');
  const auto path = target.substr(0, question);
  const auto query = question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);
  const bool guarded = path == "/metrics" || path.starts_with("/admin/");

  if (guarded && proxy_->admin_token_configured()) {
    if (!proxy_->admin_token_matches(req[http::field::authorization])) {
      core::logger("admin")->warn("refused {} {}: missing or wrong admin token", req.method_string(), path);
      auto res = admin_error(401, core::error_code_number::missing_credentials,
                             "admin calls need 'Authorization: Bearer <the token in admin.token_file>'");
      res.fields.set(http::field::www_authenticate, "Bearer realm=\"pcproxy-admin\"");
      co_return res;
    }
  } else if (path.starts_with("/admin/") && exposed_) {
    co_return admin_error(403, core::error_code_number::missing_credentials,
                          "admin_listen is not a loopback address: set admin.token_file to use /admin/*");
  }
  if (path == "/metrics" && req.method() == http::verb::get) co_return metrics();
  if (path == "/admin/cache") {
    if (req.method() == http::verb::get) co_return cache_listing(query);
    if (req.method() == http::verb::delete_) co_return co_await purge(query);
    auto res = admin_error(405, core::error_code_number::method_not_allowed, "/admin/cache takes GET or DELETE");
    res.fields.set(http::field::allow, "GET, DELETE");
    co_return res;
  }
  co_return admin_error(404, core::error_code_number::not_found,
                        "no admin endpoint " + std::string(path) +
                            "; try /healthz, /readyz, /metrics or /admin/cache");
}

server::response admin_handler::metrics() const {
  core::exposition_writer w;
  proxy_->metrics().render(w);

  const auto& store = *proxy_->store();
  const auto memory = store.memory().stats();
  const auto by_route = store.memory().usage_by_route();
  const auto routes = proxy_->stats();
  w.family("pcproxy_cache_hits_total", "counter", "Requests answered fresh from the cache, by route.");
  for (const auto& r : routes) w.sample("pcproxy_cache_hits_total", {{"route", r.path}}, r.hits);
  w.family("pcproxy_cache_misses_total", "counter", "Requests of cached routes that went upstream, by route.");
  for (const auto& r : routes) w.sample("pcproxy_cache_misses_total", {{"route", r.path}}, r.misses);
  w.family("pcproxy_cache_entries", "gauge", "Responses stored in memory, by route.");
  for (const auto& [route, u] : by_route) w.sample("pcproxy_cache_entries", {{"route", route}}, std::uint64_t{u.entries});
  w.family("pcproxy_cache_bytes", "gauge", "Bytes charged for responses stored in memory, by route.");
  for (const auto& [route, u] : by_route) w.sample("pcproxy_cache_bytes", {{"route", route}}, std::uint64_t{u.bytes});
  w.family("pcproxy_cache_max_bytes", "gauge", "The memory tier's byte limit (cache.max_bytes).");
  w.sample("pcproxy_cache_max_bytes", {}, std::uint64_t{memory.max_bytes});
  w.family("pcproxy_cache_evictions_total", "counter", "Responses evicted from memory to stay within cache.max_bytes.");
  w.sample("pcproxy_cache_evictions_total", {}, memory.evictions);
  render_tier_metrics(w, store);
  if (fleet_) {
    const auto f = fleet_->fleet_stats();
    w.family("pcproxy_cache_shared_leases_total", "counter",
             "Fleet-wide fetch leases: taken (this instance fetched for the fleet), waited (it waited for another's "
             "fetch), filled (the wait ended with the page).");
    w.sample("pcproxy_cache_shared_leases_total", {{"outcome", "taken"}}, f.leases_taken);
    w.sample("pcproxy_cache_shared_leases_total", {{"outcome", "waited"}}, f.lease_waits);
    w.sample("pcproxy_cache_shared_leases_total", {{"outcome", "filled"}}, f.waits_filled);
    w.family("pcproxy_cache_shared_announcements_total", "counter", "Purges and throttle holds received from other instances.");
    w.sample("pcproxy_cache_shared_announcements_total", {{"kind", "purge"}}, f.purges_received);
    w.sample("pcproxy_cache_shared_announcements_total", {{"kind", "hold"}}, f.holds_received);
    w.family("pcproxy_cache_shared_subscribed", "gauge", "1 while this instance hears the fleet's announcements.");
    w.sample("pcproxy_cache_shared_subscribed", {}, std::uint64_t{f.subscribed ? 1u : 0u});
  }
  w.family("pcproxy_single_flight_waiters", "gauge", "Requests waiting for an identical request's upstream answer.");
  w.sample("pcproxy_single_flight_waiters", {}, std::uint64_t{proxy_->single_flight_waiters()});

  if (resilience_) {
    const auto r = resilience_->stats();
    w.family("pcproxy_upstream_requests_total", "counter", "Requests sent upstream (each with one or more attempts).");
    w.sample("pcproxy_upstream_requests_total", {}, r.requests);
    w.family("pcproxy_retries_total", "counter", "Upstream retries.");
    w.sample("pcproxy_retries_total", {}, r.retries);
    w.family("pcproxy_retry_budget_rejections_total", "counter", "Retries not made because the retry budget was spent.");
    w.sample("pcproxy_retry_budget_rejections_total", {}, r.budget_rejections);
    w.family("pcproxy_circuit_rejections_total", "counter", "Requests failed fast because the circuit was open.");
    w.sample("pcproxy_circuit_rejections_total", {}, r.circuit_rejections);
    w.family("pcproxy_throttle_rejections_total", "counter",
             "Requests held back because upstream's Retry-After for their caller was running.");
    w.sample("pcproxy_throttle_rejections_total", {}, r.throttle_rejections);
    w.family("pcproxy_throttled_scopes", "gauge", "Callers whose upstream Retry-After is running.");
    w.sample("pcproxy_throttled_scopes", {}, std::uint64_t{r.throttled_scopes});
    w.family("pcproxy_circuit_state", "gauge", "1 for the circuit breaker's current state.");
    for (auto state : {upstream::circuit_breaker::state::closed, upstream::circuit_breaker::state::open,
                       upstream::circuit_breaker::state::half_open})
      w.sample("pcproxy_circuit_state", {{"upstream", "partner-center"}, {"state", upstream::to_string(state)}},
               std::uint64_t{r.circuit == state ? 1u : 0u});
  }
  if (const auto* credentials = proxy_->credentials()) {
    w.family("pcproxy_credential_refresh_total", "counter",
             "Partner Center access token requests (upstream.auth.mode refresh_token), by outcome.");
    for (const auto& [outcome, count] : credentials->refreshes())
      w.sample("pcproxy_credential_refresh_total", {{"outcome", credential_provider::to_string(outcome)}}, count);
  }
  if (open_connections_) {
    w.family("pcproxy_open_connections", "gauge", "Open client connections.");
    w.sample("pcproxy_open_connections", {}, std::uint64_t{open_connections_()});
  }
  w.family("pcproxy_build_info", "gauge", "pcproxy's version.");
  w.sample("pcproxy_build_info", {{"version", PCPROXY_VERSION}}, std::uint64_t{1});

  server::response res;
  res.status = 200;
  res.fields.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  res.body = std::make_shared<const std::string>(w.text());
  return res;
}

server::response admin_handler::cache_listing(std::string_view query) const {
  std::size_t limit = 100;
  if (auto v = query_param(query, "limit")) {
    const auto n = core::parse_number<std::size_t>(*v);
    if (!n || *n > 100000)
      return admin_error(400, core::error_code_number::bad_request, "limit must be a number from 0 to 100000");
    limit = *n;
  }
  const auto& store = *proxy_->store();
  const auto stats = store.memory().stats();
  const auto by_route = store.memory().usage_by_route();
  const auto now = proxy_->clock()->now();

  rapidjson::StringBuffer buf;
  json_writer w(buf);
  w.StartObject();
  member(w, "entries", std::uint64_t{stats.entries});
  member(w, "bytes", std::uint64_t{stats.bytes});
  member(w, "max_bytes", std::uint64_t{stats.max_bytes});
  member(w, "evictions", stats.evictions);
  member(w, "single_flight_waiters", std::uint64_t{proxy_->single_flight_waiters()});
  w.Key("tiers");
  w.StartArray();
  for (const auto* t : store.tiers()) tier_members(w, t->name(), t->stats());
  w.EndArray();

  std::uint64_t hits = 0, misses = 0;
  w.Key("routes");
  w.StartArray();
  for (const auto& r : proxy_->stats()) {
    hits += r.hits;
    misses += r.misses;
    const auto usage = by_route.find(r.path);
    const auto in_memory = usage == by_route.end() ? cache::memory_tier::route_usage{} : usage->second;
    w.StartObject();
    member(w, "path", r.path);
    member(w, "policy", config::to_string(r.policy));
    member(w, "entries", std::uint64_t{in_memory.entries});
    member(w, "bytes", std::uint64_t{in_memory.bytes});
    member(w, "hits", r.hits);
    member(w, "misses", r.misses);
    member(w, "stale", r.stale);
    member(w, "revalidated", r.revalidated);
    member(w, "bypassed", r.bypassed);
    w.EndObject();
  }
  w.EndArray();
  member(w, "hits", hits);
  member(w, "misses", misses);

  // Keys are shown as a digest prefix; scopes are hashes. No credential, no
  // continuation token and no query string is held, so none can be shown.
  w.Key("items");
  w.StartArray();
  for (const auto& [key, e] : store.memory().list(limit)) {
    w.StartObject();
    member(w, "key", core::to_hex(key.digest, 8));
    member(w, "scope", e->scope);
    member(w, "path", e->path);
    member(w, "route", e->route);
    member(w, "status", std::uint64_t{e->status});
    member(w, "bytes", std::uint64_t{cache::charged_bytes(*e)});
    member(w, "age_s", std::int64_t{cache::age(*e, now).count()});
    member(w, "ttl_s", std::int64_t{cache::time_to_live(*e, now).count()});
    member(w, "state", freshness_name(cache::classify(*e, now)));
    member(w, "etag", e->validator);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return server::json_response(200, buf.GetString());
}

awaitable<server::response> admin_handler::purge(std::string_view query) const {
  cache::purge_filter filter;
  filter.scope = query_param(query, "scope");
  filter.path_prefix = query_param(query, "prefix");
  if (filter.path_prefix && !filter.path_prefix->starts_with('/'))
    co_return admin_error(400, core::error_code_number::bad_request, "prefix must be a path starting with /");
  const auto described = filter.describe();
  const auto results = co_await proxy_->store()->purge(std::move(filter));
  // The tiers hold copies of the same pages: "purged" is the most any tier removed.
  std::size_t purged = 0;
  std::string per_tier;
  for (const auto& [tier, result] : results) {
    purged = std::max(purged, result.purged);
    per_tier += std::string(per_tier.empty() ? "" : ",") + "\"" + tier->name() + "\":" + std::to_string(result.purged);
    if (result.failure != cache::tier_failure::none)
      core::logger("admin")->warn("purge of {} in the {} tier failed: {}", described, tier->name(),
                                  cache::to_string(result.failure));
  }
  core::logger("admin")->info("purged {} cache entries ({})", purged, described);
  co_return server::json_response(200, "{\"purged\":" + std::to_string(purged) + ",\"tiers\":{" + per_tier + "}}");
}

}  // namespace pcproxy::proxy
