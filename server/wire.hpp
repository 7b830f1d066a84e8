#pragma once
// Serialising a response for the wire: the status line and per-response fields, the
// pre-serialised stored header block, the framing fields and the body, as four
// buffers for one gather write. Nothing is copied but the small head.
// Thread-safety: a free function; `scratch` belongs to the caller (one per connection).
#include "server/handler.hpp"

#include <boost/asio/buffer.hpp>

#include <array>
#include <string>

namespace pcproxy::server {

/// The buffers to write for `res`; they point into `res` and `scratch`.
std::array<net::const_buffer, 4> serialise(const response& res, bool head_request, bool keep_alive,
                                           unsigned version, std::string& scratch);

}  // namespace pcproxy::server
