#include "tests/support/http_client.hpp"

#include "core/net.hpp"

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <charconv>
#include <stdexcept>

namespace pcproxy::testing {

namespace http = beast::http;

namespace {

// Runs `op` (which starts async work on `ioc`) to completion. Every operation carries
// a tcp_stream timeout, so this always returns.
template <typename Op>
void run(net::io_context& ioc, Op op) {
  ioc.restart();
  op();
  ioc.run();
}

void throw_if(const error_code& ec, const char* what) {
  if (ec) throw std::runtime_error(std::string(what) + ": " + ec.message());
}

}  // namespace

std::string http_result::header(const std::string& name) const {
  for (const auto& [k, v] : headers)
    if (beast::iequals(k, name)) return v;
  return {};
}

bool http_result::has_header(const std::string& name) const {
  for (const auto& [k, v] : headers)
    if (beast::iequals(k, name)) return true;
  return false;
}

struct http_connection::impl {
  net::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
};

http_connection::http_connection(std::uint16_t port) : impl_(std::make_unique<impl>()) {
  error_code ec;
  run(impl_->ioc, [&] {
    impl_->stream.expires_after(std::chrono::seconds(10));
    impl_->stream.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port),
                                [&](error_code e) { ec = e; });
  });
  throw_if(ec, "connect");
}

http_connection::~http_connection() = default;

http_result http_connection::request(const std::string& method, const std::string& target,
                                     const header_list& headers, const std::string& body) {
  http::request<http::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(http::field::host, "127.0.0.1");
  for (const auto& [k, v] : headers) req.insert(k, v);
  if (!body.empty() || method == "POST" || method == "PUT") {
    req.body() = body;
    req.prepare_payload();
  }
  auto& stream = impl_->stream;
  http::response_parser<http::string_body> parser;
  parser.body_limit(1024 * 1024 * 1024);
  if (method == "HEAD") parser.skip(true);
  error_code ec;
  run(impl_->ioc, [&] {
    stream.expires_after(std::chrono::seconds(60));
    http::async_write(stream, req, [&](error_code wec, std::size_t) {
      if (wec) {
        ec = wec;
        return;
      }
      http::async_read(stream, impl_->buffer, parser, [&](error_code rec, std::size_t) { ec = rec; });
    });
  });
  throw_if(ec, "HTTP exchange");
  auto res = parser.release();
  http_result out;
  out.status = res.result_int();
  for (const auto& f : res) out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  out.body = std::move(res.body());
  return out;
}

bool http_connection::closed_by_peer(std::chrono::milliseconds wait) {
  auto& stream = impl_->stream;
  char byte;
  error_code ec;
  run(impl_->ioc, [&] {
    stream.expires_after(wait);
    stream.async_read_some(net::buffer(&byte, 1), [&](error_code e, std::size_t) { ec = e; });
  });
  return ec == net::error::eof || ec == net::error::connection_reset;
}

http_result http_request(std::uint16_t port, const std::string& method, const std::string& target,
                         const header_list& headers, const std::string& body) {
  http_connection connection(port);
  return connection.request(method, target, headers, body);
}

std::string raw_exchange(std::uint16_t port, const std::string& bytes, std::chrono::milliseconds timeout) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  std::string out;
  char chunk[4096];
  std::function<void(error_code, std::size_t)> on_read = [&](error_code ec, std::size_t n) {
    out.append(chunk, n);
    if (!ec) stream.async_read_some(net::buffer(chunk), on_read);
  };
  stream.expires_after(timeout);
  stream.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), [&](error_code ec) {
    if (ec) return;
    net::async_write(stream, net::buffer(bytes), [&](error_code, std::size_t) {
      stream.async_read_some(net::buffer(chunk), on_read);
    });
  });
  ioc.run();
  return out;
}

unsigned status_of(const std::string& raw) {
  if (raw.size() < 12 || raw.compare(0, 5, "HTTP/") != 0) return 0;
  unsigned status = 0;
  std::from_chars(raw.data() + 9, raw.data() + 12, status);
  return status;
}

}  // namespace pcproxy::testing
