#pragma once
// The boundary between the HTTP server and whatever answers requests. server/ knows
// only this interface; proxy/ implements it (and never sees sockets).
// Thread-safety: a handler is called concurrently from many connections.
#include "core/net.hpp"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace pcproxy::server {

namespace http = beast::http;
using request = http::request<http::string_body>;

/// A response ready for the wire. The server adds Content-Length and Connection; the
/// rest is written as given, in this order: `fields`, `head`, `header_block`, `body`
/// (one gather write, no copy of the shared buffers). `head` is for lines built per
/// request on hot paths, where a fields container would allocate per line.
struct response {
  unsigned status = 200;
  http::fields fields;                               // built for this response
  std::string head;                                  // more per-response lines, pre-serialised
  std::shared_ptr<const std::string> header_block;   // pre-serialised "Name: value\r\n" lines
  std::shared_ptr<const std::string> body;           // may be null (empty body)
  std::optional<std::uint64_t> head_content_length;  // Content-Length to announce for HEAD
};

/// What the server knows about the request besides the message itself.
struct request_info {
  tcp::endpoint peer;
  std::uint64_t connection_id = 0;
  std::chrono::steady_clock::time_point received_at{};
};

class request_handler {
public:
  virtual ~request_handler() = default;
  /// Must not throw for expected outcomes; an exception drops only this connection.
  virtual awaitable<response> handle(const request& req, const request_info& info) = 0;
};

/// A small JSON response (pcproxy's own answers: errors, admin endpoints).
response json_response(unsigned status, std::string body);

}  // namespace pcproxy::server
