#pragma once
// What the server refuses before any handler sees a request: a forward-proxy method
// (CONNECT), an unknown method, a target that is not a path (absolute or asterisk form:
// pcproxy is never an open proxy), an HTTP/1.1 request without exactly one Host, and a
// Transfer-Encoding that does not end in chunked (no safe length, RFC 9112 §6.3). Beast
// has already refused what it cannot parse and what passes the size limits.
// Thread-safety: free functions.
#include "core/error_body.hpp"
#include "server/handler.hpp"

#include <optional>
#include <string_view>

namespace pcproxy::server {

/// pcproxy's JSON error body with `status`.
response error_response(unsigned status, core::error_code_number code, std::string_view description);

/// The 400 to answer `req` with, or nullopt when the request may go to a handler.
std::optional<response> refuse(const request& req);

}  // namespace pcproxy::server
