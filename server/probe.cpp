#include "server/probe.hpp"

#include "config/config.hpp"
#include "core/net.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

namespace pcproxy::server {

namespace http = beast::http;

int probe(std::string_view url, std::chrono::milliseconds timeout, std::ostream& report) {
  if (!url.starts_with("http://")) {
    report << "probe: " << url << " is not an http:// URL\n";
    return 2;
  }
  const auto rest = url.substr(7);
  const auto slash = rest.find('/');
  const auto authority = rest.substr(0, slash);
  const std::string target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  const auto address = config::parse_host_port(authority);
  if (!address) {
    report << "probe: " << url << " needs HOST:PORT, e.g. http://127.0.0.1:9090/healthz\n";
    return 2;
  }

  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  tcp::resolver resolver(ioc);
  beast::flat_buffer buffer;
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, authority);
  req.set(http::field::connection, "close");
  http::response<http::string_body> res;
  error_code failed;
  const char* step = "resolve";

  resolver.async_resolve(address->host, std::to_string(address->port), [&](error_code ec, auto endpoints) {
    if (ec) return void(failed = ec);
    step = "connect";
    stream.expires_after(timeout);
    stream.async_connect(endpoints, [&](error_code cec, const auto&) {
      if (cec) return void(failed = cec);
      step = "send";
      http::async_write(stream, req, [&](error_code wec, std::size_t) {
        if (wec) return void(failed = wec);
        step = "read";
        http::async_read(stream, buffer, res, [&](error_code rec, std::size_t) { failed = rec; });
      });
    });
  });
  ioc.run_for(timeout + std::chrono::milliseconds(100));
  if (!ioc.stopped() || failed) {
    report << "probe: " << url << " unreachable at " << step << ": "
           << (failed ? failed.message() : std::string("timed out")) << "\n";
    return 1;
  }
  const auto status = res.result_int();
  report << "probe: " << url << " answered " << status << " " << res.body() << "\n";
  return status >= 200 && status < 300 ? 0 : 1;
}

}  // namespace pcproxy::server
