#pragma once
// Building the responses the proxy sends: its own errors (the one place where data-plane
// failures become statuses), and the headers every response carries.
// Thread-safety: free functions.
#include "core/error_body.hpp"
#include "server/handler.hpp"
#include "upstream/client.hpp"

#include <string>
#include <string_view>

namespace pcproxy::proxy {

/// The X-Cache values (DESIGN.md §10).
enum class cache_result { hit, miss, stale, revalidated, bypass };
const char* to_string(cache_result r);

/// Appends MS-CorrelationId, MS-RequestId and MS-CV to the response's head.
void add_correlation_headers(server::response& res, const upstream::correlation& corr);

/// Appends X-Cache, Age and Cache-Status.
void add_cache_headers(server::response& res, cache_result result, long long age_s, std::string_view cache_status);

/// Appends Pcproxy-Attempts: how many times upstream was tried for this response.
void add_attempts_header(server::response& res, std::size_t attempts);

/// A pcproxy error in Partner Center's shape, with the ids in its body (the caller
/// adds the headers).
server::response error_response(unsigned status, core::error_code_number code,
                                std::string_view description, const upstream::correlation& corr);

/// The client's answer when upstream gave none: 502 for unreachable, TLS and malformed
/// answers, 504 for timeouts and the deadline, 503 with Retry-After while the circuit
/// is open, 429 with Retry-After while upstream's throttling of the caller runs.
server::response failure_response(const upstream::result& result);

}  // namespace pcproxy::proxy
