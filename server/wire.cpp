#include "server/wire.hpp"

namespace pcproxy::server {
namespace {

bool no_body_status(unsigned status) { return (status >= 100 && status < 200) || status == 204 || status == 304; }

}  // namespace

std::array<net::const_buffer, 4> serialise(const response& res, bool head_request, bool keep_alive,
                                           unsigned version, std::string& scratch) {
  scratch.clear();
  scratch += "HTTP/1.1 ";
  scratch += std::to_string(res.status);
  scratch += ' ';
  const auto reason = http::obsolete_reason(http::int_to_status(res.status));
  scratch += reason == "<unknown-status>" ? std::string_view("Unknown") : std::string_view(reason);
  scratch += "\r\n";
  for (const auto& f : res.fields) {
    scratch += f.name_string();
    scratch += ": ";
    scratch += f.value();
    scratch += "\r\n";
  }
  scratch += res.head;
  const auto head_size = scratch.size();
  const bool has_body = !no_body_status(res.status);
  const std::size_t body_size = res.body ? res.body->size() : 0;
  if (has_body && res.stream && !head_request) {
    // HTTP/1.0 knows no chunks: the body ends where the connection does.
    if (version >= 11) {
      scratch += "Transfer-Encoding: chunked\r\n";
      if (const auto names = res.stream->trailer_names(); !names.empty()) {
        scratch += "Trailer: ";
        scratch += names;
        scratch += "\r\n";
      }
    }
  } else if (has_body) {
    scratch += "Content-Length: ";
    scratch += std::to_string(head_request && res.head_content_length ? *res.head_content_length
                                                                      : body_size);
    scratch += "\r\n";
  }
  if (!keep_alive)
    scratch += "Connection: close\r\n";
  else if (version < 11)
    scratch += "Connection: keep-alive\r\n";
  scratch += "\r\n";

  return {
      net::buffer(scratch.data(), head_size),
      res.header_block ? net::buffer(*res.header_block) : net::const_buffer(),
      net::buffer(scratch.data() + head_size, scratch.size() - head_size),
      has_body && !head_request && res.body ? net::buffer(*res.body) : net::const_buffer(),
  };
}

}  // namespace pcproxy::server
