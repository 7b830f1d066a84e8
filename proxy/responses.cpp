#include "proxy/responses.hpp"

#include <algorithm>
#include <charconv>

namespace pcproxy::proxy {

const char* to_string(cache_result r) {
  switch (r) {
    case cache_result::hit: return "HIT";
    case cache_result::miss: return "MISS";
    case cache_result::stale: return "STALE";
    case cache_result::revalidated: return "REVALIDATED";
    case cache_result::bypass: return "BYPASS";
  }
  return "BYPASS";
}

namespace {

void line(std::string& head, std::string_view name, std::string_view value) {
  head += name;
  head += ": ";
  head += value;
  head += "\r\n";
}

}  // namespace

void add_correlation_headers(server::response& res, const upstream::correlation& corr) {
  res.head.reserve(res.head.size() + 256);
  line(res.head, "MS-CorrelationId", corr.correlation_id);
  line(res.head, "MS-RequestId", corr.request_id);
  line(res.head, "MS-CV", corr.vector);
}

void add_cache_headers(server::response& res, cache_result result, long long age_s, std::string_view cache_status) {
  char age[24];
  const auto end = std::to_chars(age, age + sizeof age, age_s).ptr;
  line(res.head, "X-Cache", to_string(result));
  line(res.head, "Age", std::string_view(age, static_cast<std::size_t>(end - age)));
  line(res.head, "Cache-Status", cache_status);
}

void add_attempts_header(server::response& res, std::size_t attempts) {
  if (attempts > 0) line(res.head, "Pcproxy-Attempts", std::to_string(attempts));
}

server::response error_response(unsigned status, core::error_code_number code,
                                std::string_view description, const upstream::correlation& corr) {
  return server::json_response(status, core::error_body(code, description, corr.correlation_id, corr.request_id));
}

server::response failure_response(const upstream::result& result) {
  using upstream::failure;
  using core::error_code_number;
  const auto& detail = result.detail;
  switch (result.error) {
    case failure::timeout:
    case failure::deadline:
      return error_response(504, error_code_number::gateway_timeout,
                            "upstream did not answer in time: " + detail, result.sent);
    case failure::tls:
      return error_response(502, error_code_number::upstream_tls, detail, result.sent);
    case failure::connect:
      return error_response(502, error_code_number::upstream_unreachable,
                            detail + "; check upstream.url and the network", result.sent);
    case failure::too_large:
      return error_response(502, error_code_number::upstream_response_too_large, detail, result.sent);
    case failure::circuit_open:
    case failure::throttled: {
      const bool open = result.error == failure::circuit_open;
      auto res = error_response(open ? 503 : 429,
                                open ? error_code_number::service_unavailable : error_code_number::throttled,
                                detail + "; retry after the time in Retry-After", result.sent);
      const auto wait = result.retry_after.value_or(std::chrono::milliseconds(1000));
      res.fields.set(server::http::field::retry_after,
                     std::to_string(std::max<long long>(1, (wait.count() + 999) / 1000)));
      return res;
    }
    case failure::connection_lost:
    case failure::bad_response:
    case failure::none:
      break;
  }
  return error_response(502, error_code_number::bad_gateway,
                        "upstream sent no valid response: " + detail, result.sent);
}

}  // namespace pcproxy::proxy
