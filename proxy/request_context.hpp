#pragma once
// The state of one request as it moves through the pipeline: the request headers the
// pipeline reads (found in one pass), who is asking, and what has been decided so far.
// proxy/ internal. Thread-safety: one request's, used by the coroutine serving it.
#include "cache/freshness.hpp"
#include "cache/key.hpp"
#include "cache/policy.hpp"
#include "config/config.hpp"
#include "proxy/responses.hpp"
#include "proxy/telemetry.hpp"
#include "server/handler.hpp"
#include "upstream/client.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pcproxy::proxy {

/// The request headers the pipeline reads (views into the request).
struct request_headers {
  std::string_view authorization, accept, cache_control, pragma, if_none_match;
  std::string_view correlation_id, request_id, cv, continuation_token, locale, debug, debug_token;
  bool has_cache_control = false;
};

/// One pass over the message: each separate lookup would walk Beast's case-insensitive tree.
request_headers read_headers(const server::request& req);

/// The client's Cache-Control (Pragma: no-cache counts when Cache-Control is absent).
cache::cache_control request_directives(const request_headers& h);

/// Who is asking: the cache scope their requests read and write.
struct identity {
  std::string scope;
  bool tenant = false;     // scope is a tenant's, shared between its tokens
  bool may_read = true;    // false: a tenant token upstream has not accepted yet
  std::optional<core::sys_time> expires;
};

struct call {
  explicit call(const server::request& r) : req(r), headers(read_headers(r)) {}
  const server::request& req;
  const request_headers headers;
  std::shared_ptr<const void> live_hold;  // keeps the settings this request started with
  const config::config* settings = nullptr;
  std::string_view path;
  std::string_view query;
  upstream::correlation corr;
  std::string_view authorization;
  std::shared_ptr<const std::string> injected;  // keeps an injected token alive
  bool provided = false;                        // injected by the credential provider
  const config::route_config* route = nullptr;
  const cache::route_policy* policy = nullptr;
  traffic_metrics::route_row* row = nullptr;
  identity who;
  std::optional<cache::cache_key> key;
  std::vector<upstream::attempt_record> attempts;  // this request's own upstream attempts
  cache_result label = cache_result::bypass;       // what X-Cache said
};

}  // namespace pcproxy::proxy
