#include "proxy/request_context.hpp"

#include <boost/beast/core/string.hpp>

namespace pcproxy::proxy {

namespace http = beast::http;

request_headers read_headers(const server::request& req) {
  request_headers h;
  for (const auto& f : req) {
    switch (f.name()) {
      case http::field::authorization: h.authorization = f.value(); continue;
      case http::field::accept: h.accept = f.value(); continue;
      case http::field::cache_control:
        h.cache_control = f.value();
        h.has_cache_control = true;
        continue;
      case http::field::pragma: h.pragma = f.value(); continue;
      case http::field::if_none_match: h.if_none_match = f.value(); continue;
      case http::field::unknown: break;
      default: continue;
    }
    const std::string_view name = f.name_string();
    const auto is = [&](std::string_view wanted) { return name.size() == wanted.size() && beast::iequals(name, wanted); };
    if (is("MS-CorrelationId")) h.correlation_id = f.value();
    else if (is("MS-RequestId")) h.request_id = f.value();
    else if (is("MS-CV")) h.cv = f.value();
    else if (is("MS-ContinuationToken")) h.continuation_token = f.value();
    else if (is("X-Locale")) h.locale = f.value();
    else if (is("Pcproxy-Debug")) h.debug = f.value();
    else if (is("Pcproxy-Debug-Token")) h.debug_token = f.value();
  }
  return h;
}

cache::cache_control request_directives(const request_headers& h) {
  if (h.has_cache_control) return cache::parse_cache_control(h.cache_control);
  cache::cache_control out;
  out.no_cache = beast::iequals(h.pragma, "no-cache");
  return out;
}

}  // namespace pcproxy::proxy
