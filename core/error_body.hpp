#pragma once
// pcproxy's own errors, in Partner Center's error shape (partner-center.md "Errors"):
//   {"code":..., "description":"...", "data":[], "source":"pcproxy",
//    "correlationId":"...", "requestId":"..."}
// The ids are omitted when empty (e.g. a request too malformed to carry any).
// Thread-safety: free function.
#include <string>
#include <string_view>

namespace pcproxy::core {

/// pcproxy's error codes: stable numbers clients may switch on.
enum class error_code_number : int {
  bad_request = 4000,
  request_header_too_large = 4001,
  request_body_too_large = 4002,
  missing_credentials = 4010,
  throttled = 4290,
  not_found = 4040,
  method_not_allowed = 4050,
  gateway_timeout = 5040,
  only_if_cached_miss = 5041,
  bad_gateway = 5020,
  upstream_tls = 5021,
  upstream_unreachable = 5022,
  upstream_response_too_large = 5023,
  credentials = 5024,  // no Partner Center access token could be had (upstream.auth)
  service_unavailable = 5030,
  internal = 5000,
};

std::string error_body(error_code_number code, std::string_view description,
                       std::string_view correlation_id = {}, std::string_view request_id = {});

}  // namespace pcproxy::core
