#include "core/error_body.hpp"

#include "core/json_text.hpp"

namespace pcproxy::core {

std::string error_body(error_code_number code, std::string_view description,
                       std::string_view correlation_id, std::string_view request_id) {
  std::string out = "{\"code\":" + std::to_string(static_cast<int>(code)) + ",\"description\":";
  append_json_string(out, description);
  out += ",\"data\":[],\"source\":\"pcproxy\"";
  if (!correlation_id.empty()) {
    out += ",\"correlationId\":";
    append_json_string(out, correlation_id);
  }
  if (!request_id.empty()) {
    out += ",\"requestId\":";
    append_json_string(out, request_id);
  }
  out += "}";
  return out;
}

}  // namespace pcproxy::core
