#pragma once
// RFC 9111 as a shared cache, for routes with policy "http": what may be stored (§3),
// for how long (§4.2.1, §4.2.2 heuristics), how old it already is (§4.2.3), which request
// headers select it (§4.1 Vary), and how a 304 updates it (§3.2, §4.3.4). Pure functions
// of header lists and times; cache/policy.cpp applies them, tests/unit/http_rules_test.cpp
// checks them section by section.
// Thread-safety: free functions over values.
#include "cache/entry.hpp"
#include "cache/freshness.hpp"
#include "core/clock.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pcproxy::cache {

/// Every line of a field, joined with ", " (RFC 9110 §5.3), "" when absent.
std::string combined_field(const header_list& headers, std::string_view name);

/// The response's Cache-Control, all lines together.
cache_control response_cache_control(const header_list& headers);

/// Status codes a cache may store without explicit freshness (RFC 9110 §15.1).
bool heuristically_cacheable(unsigned status) noexcept;

/// §4.2.1: s-maxage, else max-age, else Expires - Date (Date missing: the response
/// time); an invalid Expires or an invalid or conflicting max-age/s-maxage: 0 (stale).
/// §4.2.2: without any of these, a heuristically cacheable status with Last-Modified
/// gets 10 % of the time since Last-Modified, at most a day. Otherwise 0.
std::chrono::seconds freshness_lifetime(const header_list& headers, unsigned status, core::sys_time response_time);

/// §4.2.3: the corrected initial age: the larger of the apparent age (response time -
/// Date) and upstream's Age plus the response delay (response time - request time).
std::chrono::seconds corrected_initial_age(const header_list& headers, core::sys_time request_time,
                                           core::sys_time response_time);

/// §4.1: the request headers a response's Vary names (lowercase, in order, no
/// duplicates); nullopt for "Vary: *", which no request matches.
std::optional<std::vector<std::string>> vary_names(const header_list& headers);

/// §4.1: the values of the request headers `names` lists, as a variant is selected by:
/// each field's lines joined, runs of spaces folded; "" for an absent field.
header_list selecting_headers(const std::vector<std::string>& names, const header_list& request);

/// The names in a header list, in order (a stored variant's Vary names).
std::vector<std::string> field_names(const header_list& headers);

/// §3.2 and §4.3.4: the stored headers updated by a 304 (or a HEAD's 200): each field
/// the update carries replaces every line of that field; Content-Length never does.
header_list merge_updated_headers(const header_list& stored, const header_list& update);

/// What may be stored of an answer to a GET, as a shared cache (§3).
struct http_exchange {
  unsigned status = 0;
  const header_list& response;     // its end-to-end headers
  const cache_control& request;    // the client's Cache-Control
  bool authorization_restricts;    // §3.5 applies (tenant scope): only explicitly shareable answers
  core::sys_time request_time{};   // when the request went upstream
  core::sys_time response_time{};  // when the answer arrived
};

struct http_storage {
  std::chrono::seconds lifetime{0};
  std::chrono::seconds initial_age{0};
  bool must_revalidate = false;  // must-revalidate, proxy-revalidate or s-maxage: never served stale
  bool no_cache = false;         // revalidated before every use
  std::vector<std::string> vary;
};

/// nullopt when §3 forbids storing: no-store (either side), private, Vary: *, §3.5, a
/// status that is not final or not understood (206, 304 and 1xx), or nothing that
/// makes it reusable (no freshness, no validator, not public).
std::optional<http_storage> http_store(const http_exchange& exchange);

}  // namespace pcproxy::cache
