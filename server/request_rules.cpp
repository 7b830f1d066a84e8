#include "server/request_rules.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>

#include <string>

namespace pcproxy::server {

using core::error_code_number;

response error_response(unsigned status, error_code_number code, std::string_view description) {
  return json_response(status, core::error_body(code, description));
}

std::optional<response> refuse(const request& req) {
  if (req.method() == http::verb::connect)
    return error_response(400, error_code_number::bad_request,
                          "CONNECT is not supported: pcproxy is a reverse proxy for its configured "
                          "upstream, not a forward proxy");
  if (req.method() == http::verb::unknown)
    return error_response(400, error_code_number::bad_request,
                          "unknown request method " + std::string(req.method_string()));
  const auto target = req.target();
  if (target.empty() || target.front() != '/')
    return error_response(400, error_code_number::bad_request,
                          "the request target must be a path such as /v1/customers/usagerecords; "
                          "absolute URLs are refused because pcproxy only forwards to its "
                          "configured upstream");
  if (req.version() >= 11 && req.count(http::field::host) != 1)
    return error_response(400, error_code_number::bad_request,
                          "an HTTP/1.1 request needs exactly one Host header");
  if (const auto te = req.find(http::field::transfer_encoding); te != req.end()) {
    // Beast frames only "chunked" last (RFC 9112 §6.3): anything else has no safe length.
    bool chunked_last = false;
    for (const auto token : http::token_list{te->value()}) chunked_last = beast::iequals(token, "chunked");
    if (!chunked_last)
      return error_response(400, error_code_number::bad_request,
                            "Transfer-Encoding must end in chunked");
  }
  return std::nullopt;
}

}  // namespace pcproxy::server
