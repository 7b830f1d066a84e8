#pragma once
// The whole configuration as plain data, with DESIGN.md's defaults in the member
// initialisers. Values are parsed once, by the loader, into the types consumers use
// (addresses, origins, enums); no consumer re-parses a string. Durations are
// milliseconds unless the name ends in _s.
// Thread-safety: plain values; share copies or const references.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pcproxy::config {

enum class cache_policy { cache, pass, http };
enum class cache_scope { credential, tenant };
enum class log_format { json, text };
enum class log_level { trace, debug, info, warn, error, critical, off };
enum class auth_mode { none, token_file, refresh_token };

/// A listening address: "127.0.0.1:8080", "[::1]:8080", "localhost:0".
struct host_port {
  std::string host;
  std::uint16_t port = 0;
  friend bool operator==(const host_port&, const host_port&) = default;
};

/// The upstream origin: scheme, host and port, and the spellings requests need.
struct origin {
  bool tls = true;
  std::string host;
  std::uint16_t port = 443;
  /// The Host header value: host, plus :port when it is not the scheme's default.
  std::string authority;
  /// scheme://authority, as it appears in absolute links.
  std::string base_url;
  friend bool operator==(const origin&, const origin&) = default;
};

/// A Redis server (or one that speaks its protocol: Valkey, Azure Cache for Redis):
/// redis://[user[:password]@]host[:port][/db], rediss:// for TLS.
struct redis_url {
  bool tls = false;
  std::string host;
  std::uint16_t port = 6379;
  unsigned db = 0;
  std::string user;      // "" = the default user
  std::string password;  // from the URL; cache.shared.password_file keeps it out of the config
  friend bool operator==(const redis_url&, const redis_url&) = default;
};

/// Parses "HOST:PORT" (an IPv6 host in brackets); nullopt when it is not one.
std::optional<host_port> parse_host_port(std::string_view text);
/// Parses an origin URL (http or https, no path beyond "/"). On failure returns nullopt
/// and says why in `why`.
std::optional<origin> parse_origin(std::string_view url, std::string& why);
/// For tests and defaults: the origin of a URL known to be valid (throws otherwise).
origin origin_of(std::string_view url);
/// Parses a redis:// or rediss:// URL; on failure nullopt and why.
std::optional<redis_url> parse_redis_url(std::string_view url, std::string& why);

/// Where Partner Center credentials come from for requests without Authorization.
/// refresh_token: the Secure Application Model (a refresh token redeemed for access
/// tokens at <authority>/<tenant>/oauth2/token, rotated and written back).
struct auth_config {
  auth_mode mode = auth_mode::none;  // upstream.token_file set with mode none means token_file
  std::string tenant;
  std::string client_id;
  std::string client_secret_file;
  std::string refresh_token_file;
  origin authority = origin_of("https://login.microsoftonline.com");
  std::string resource = "https://api.partnercenter.microsoft.com";
};

struct upstream_config {
  origin url = origin_of("https://api.partnercenter.microsoft.com");
  std::string ca_file;
  bool tls_verify = true;
  std::string token_file;
  std::int64_t connect_timeout_ms = 5000;
  std::int64_t try_timeout_ms = 30000;
  std::int64_t deadline_ms = 120000;
  std::int64_t max_connections = 32;
  std::int64_t max_body_bytes = 268435456;
  auth_config auth;
};

/// The mode in effect: upstream.token_file alone still means token_file (its old meaning).
auth_mode effective_auth_mode(const upstream_config& u);

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
  bool enabled = true;  // false: every request goes upstream, however many failed before
  std::int64_t failure_threshold = 5;
  std::int64_t open_ms = 30000;
};

/// The persistent tier (tiers/disk_tier): off while `path` is empty.
struct disk_cache_config {
  std::string path;  // a directory, created (0700) when missing
  std::int64_t max_bytes = 4294967296;
  std::string encryption_key_file;  // 32 random bytes as hex or base64; "" = stored unencrypted
};

/// The shared tier (tiers/shared_tier): off while `url` is unset.
struct shared_cache_config {
  std::optional<redis_url> url;
  std::string password_file;  // the password (an Azure access key) in a file, never in the config
  std::string ca_file;        // extra CA certificates for rediss://, besides the system store
  std::int64_t timeout_ms = 50;         // every Redis call; slower counts as a failure
  std::string key_prefix = "pcproxy:";  // every key pcproxy writes starts with it
  std::int64_t lock_ms = 30000;         // a fleet-wide fetch lease; a dead holder's lapses after it
};

struct cache_config {
  std::int64_t max_bytes = 268435456;
  cache_scope scope = cache_scope::credential;
  std::int64_t stale_if_error_s = 86400;
  std::int64_t single_flight_wait_ms = 60000;
  disk_cache_config disk;
  shared_cache_config shared;
};

struct route_config {
  std::string path;  // exact path, or a prefix ending in '*'
  cache_policy policy = cache_policy::pass;
  std::int64_t ttl_s = 3600;
  std::int64_t stale_while_revalidate_s = 0;
  bool month_boundary = false;
  bool prefetch_next = false;  // after serving a page, fetch its links.next in the background
};

struct limits_config {
  std::int64_t max_header_bytes = 16384;
  std::int64_t max_body_bytes = 1048576;  // request bodies (clients -> pcproxy)
  std::int64_t max_connections = 10000;
  std::int64_t header_timeout_ms = 10000;
  std::int64_t idle_timeout_ms = 60000;
  std::int64_t shutdown_grace_ms = 10000;
  std::int64_t max_collection_items = 1000000;  // /pcproxy/collection/ stops (incomplete) past it
  std::int64_t max_prefetches = 8;              // background next-page fetches at once, in all
};

struct admin_config {
  std::string token_file;
  bool not_ready_while_circuit_open = false;  // /readyz: 503 while the circuit is open and nothing is cached
};

struct log_config {
  log_level level = log_level::info;
  log_format format = log_format::json;
  bool access = true;  // one access-log line per request
};

struct config {
  host_port listen{"127.0.0.1", 8080};
  host_port admin_listen{"127.0.0.1", 9090};
  std::string public_base_url;  // http(s)://... as clients reach pcproxy; "" = links are left alone
  std::int64_t threads = 0;     // 0: one per core
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
        {"/v1/customers/usagerecords", cache_policy::cache, 3600, 300, true, true},
        {"/*", cache_policy::pass, 0, 0, false},
    };
  }
};

/// The keys a running process takes on SIGHUP (a key path, or a section ending in
/// '.'); every other key needs a restart, and a reload says so key by key.
inline constexpr std::array<std::string_view, 9> live_keys = {
    "routes",      "retry.",         "circuit.", "cache.stale_if_error_s", "cache.single_flight_wait_ms",
    "cache.scope", "upstream.token_file", "admin.",   "log."};

/// True when the key `path` ("retry.max_attempts") is one of live_keys.
bool reloads_live(std::string_view path);

const char* to_string(cache_policy p);
const char* to_string(cache_scope s);
const char* to_string(log_format f);
const char* to_string(log_level l);
const char* to_string(auth_mode m);
std::string to_string(const host_port& a);
/// The URL with any password replaced by "***" (for --check-config and logs).
std::string to_string(const redis_url& u);

}  // namespace pcproxy::config
