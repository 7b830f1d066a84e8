#pragma once
// The whole configuration as plain data, with DESIGN.md's defaults in the member
// initialisers. Durations are milliseconds unless the name ends in _s.
// Thread-safety: plain values; share copies or const references.
#include <cstdint>
#include <string>
#include <vector>

namespace pcproxy::config {

enum class cache_policy { cache, pass, http };
enum class cache_scope { credential, tenant };

struct upstream_config {
  std::string url = "https://api.partnercenter.microsoft.com";
  std::string ca_file;
  bool tls_verify = true;
  std::string token_file;
  std::int64_t connect_timeout_ms = 5000;
  std::int64_t try_timeout_ms = 30000;
  std::int64_t deadline_ms = 120000;
  std::int64_t max_connections = 32;
  std::int64_t max_body_bytes = 268435456;
};

struct retry_config {
  std::int64_t max_attempts = 3;
  std::int64_t base_delay_ms = 1000;
  std::int64_t max_delay_ms = 10000;
  std::int64_t max_retry_after_ms = 60000;
  double budget_ratio = 0.2;
  std::vector<int> statuses = {408, 429, 500, 502, 503, 504};
  std::vector<std::string> methods = {"GET", "HEAD"};  // idempotent methods that may be retried
};

struct circuit_config {
  std::int64_t failure_threshold = 5;
  std::int64_t open_ms = 30000;
};

struct cache_config {
  std::int64_t max_bytes = 268435456;
  cache_scope scope = cache_scope::credential;
  std::int64_t stale_if_error_s = 86400;
  std::int64_t single_flight_wait_ms = 60000;
};

struct route_config {
  std::string path;  // exact path, or a prefix ending in '*'
  cache_policy policy = cache_policy::pass;
  std::int64_t ttl_s = 3600;
  std::int64_t stale_while_revalidate_s = 0;
  bool month_boundary = false;
};

struct limits_config {
  std::int64_t max_header_bytes = 16384;
  std::int64_t max_body_bytes = 1048576;  // request bodies (clients -> pcproxy)
  std::int64_t max_connections = 10000;
  std::int64_t header_timeout_ms = 10000;
  std::int64_t idle_timeout_ms = 60000;
  std::int64_t shutdown_grace_ms = 10000;
};

struct admin_config {
  std::string token_file;
  bool not_ready_while_circuit_open = false;  // /readyz: 503 while the circuit is open and nothing is cached
};

struct log_config {
  std::string level = "info";
  std::string format = "json";
  bool access = true;  // one access-log line per request
};

struct config {
  std::string listen = "127.0.0.1:8080";
  std::string admin_listen = "127.0.0.1:9090";
  std::string public_base_url;
  std::int64_t threads = 0;  // 0: one per core
  upstream_config upstream;
  retry_config retry;
  circuit_config circuit;
  cache_config cache;
  std::vector<route_config> routes = default_routes();
  limits_config limits;
  admin_config admin;
  log_config log;

  static std::vector<route_config> default_routes() {
    return {
        {"/v1/customers/usagerecords", cache_policy::cache, 3600, 300, true},
        {"/*", cache_policy::pass, 0, 0, false},
    };
  }
};

const char* to_string(cache_policy p);
const char* to_string(cache_scope s);

}  // namespace pcproxy::config
