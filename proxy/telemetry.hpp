#pragma once
// What pcproxy tells operators about its traffic: one record per request feeds the
// Prometheus metrics, the access log line, the Server-Timing header and, on request,
// the Pcproxy-Debug-* headers. Recording is lock-free (striped atomic counters).
// Thread-safety: record()/attempt() from any thread; row() takes a lock and is for
// start-up and reloads; render() for scrapes.
#include "config/config.hpp"
#include "core/metrics.hpp"
#include "proxy/responses.hpp"
#include "server/handler.hpp"
#include "upstream/client.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace pcproxy::proxy {

/// What one request did.
struct request_record {
  std::string_view method;
  std::string_view path;
  std::string route;  // the route's pattern ("/v1/customers/usagerecords", "/*", "(no route)")
  config::cache_policy policy = config::cache_policy::pass;
  unsigned status = 0;
  cache_result result = cache_result::bypass;
  std::string scope;  // a hashed scope id, never a credential
  std::string key;    // digest prefix of the cache key, "" when none was derived
  std::vector<upstream::attempt_record> attempts;  // this request's own upstream attempts
  std::chrono::microseconds total{};
  std::uint64_t bytes = 0;
  upstream::correlation ids;
  std::string peer;
};

class traffic_metrics {
public:
  /// The counters of one route, kept for the life of the process (a reload that keeps
  /// a route keeps its counts).
  struct route_row {
    explicit route_row(std::string path);
    const std::string path;
    core::counter_array requests;  // method x status class x cache result
    core::histogram_array duration;
  };

  traffic_metrics();

  /// The row for a route pattern, made on first use.
  route_row& row(const std::string& route_path);

  void record(route_row& row, const request_record& r) noexcept;
  void attempt(const upstream::attempt_record& a) noexcept;

  struct route_totals {
    std::uint64_t hits = 0, misses = 0, stale = 0, revalidated = 0, bypassed = 0;
  };
  route_totals totals(const route_row& row) const;
  /// Every row, in route-pattern order.
  std::vector<const route_row*> rows() const;

  /// requests_total, request_duration_seconds, upstream_attempts_total and
  /// upstream_duration_seconds.
  void render(core::exposition_writer& w) const;

private:
  mutable std::mutex mutex_;  // guards the map, never the counters
  std::map<std::string, std::unique_ptr<route_row>> rows_;
  core::counter_array attempts_;
  core::histogram_array upstream_latency_;
};

/// Appends "cache;desc=\"HIT\", upstream;dur=12.345, total;dur=15.100" (W3C Server-Timing).
void append_server_timing(std::string& out, const request_record& r);

/// One access log line: JSON members (spliced into the JSON log object) or text.
std::string access_line(const request_record& r, bool json);

/// The Pcproxy-Debug-* response headers.
void add_debug_headers(server::response& res, const request_record& r);

}  // namespace pcproxy::proxy
