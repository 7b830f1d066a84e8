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

/// A body made while it is sent (Transfer-Encoding: chunked): the server asks for one
/// piece at a time, so a response of any size streams in bounded memory.
class body_stream {
public:
  struct piece {
    enum class state { more, end, failed };
    std::string bytes;  // may be empty
    state is = state::more;
  };
  virtual ~body_stream() = default;
  /// The next piece. `end`: the body is complete (the last chunk and the trailers go
  /// out); `failed`: the body cannot be completed, and the connection is closed without
  /// the last chunk, so the client sees an incomplete transfer.
  virtual awaitable<piece> next() = 0;
  /// Trailer field names announced in the head ("Name1, Name2"), "" for none.
  virtual std::string trailer_names() const { return {}; }
  /// The trailer lines ("Name: value\r\n") after the last chunk.
  virtual std::string trailers() { return {}; }
};

/// A response ready for the wire. The server adds Content-Length and Connection; the
/// rest is written as given, in this order: `fields`, `head`, `header_block`, `body`
/// (one gather write, no copy of the shared buffers). `head` is for lines built per
/// request on hot paths, where a fields container would allocate per line. With
/// `stream`, the body comes from it, chunked, instead of from `body`.
struct response {
  unsigned status = 200;
  http::fields fields;                               // built for this response
  std::string head;                                  // more per-response lines, pre-serialised
  std::shared_ptr<const std::string> header_block;   // pre-serialised "Name: value\r\n" lines
  std::shared_ptr<const std::string> body;           // may be null (empty body)
  std::optional<std::uint64_t> head_content_length;  // Content-Length to announce for HEAD
  std::shared_ptr<body_stream> stream;               // a body made while it is sent
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
