#include "upstream/client.hpp"

#include "core/log.hpp"
#include "upstream/pool.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <stdexcept>
#include <tuple>

namespace pcproxy::upstream {

const char* to_string(failure f) {
  switch (f) {
    case failure::none: return "none";
    case failure::connect: return "connect";
    case failure::tls: return "tls";
    case failure::timeout: return "timeout";
    case failure::deadline: return "deadline";
    case failure::connection_lost: return "connection_lost";
    case failure::bad_response: return "bad_response";
    case failure::too_large: return "too_large";
    case failure::circuit_open: return "circuit_open";
    case failure::throttled: return "throttled";
  }
  return "unknown";
}

namespace {

using steady = std::chrono::steady_clock;
using wire_request = http::request<http::string_body>;

struct exchange_outcome {
  std::optional<response> answer;
  failure error = failure::none;
  std::string detail;
  bool keep_alive = false;
  bool got_bytes = false;  // any part of a response arrived
};

bool is_ip_literal(const std::string& host) {
  error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

std::string describe(const error_code& ec) { return ec.message(); }

failure classify_io(const error_code& ec) {
  if (ec == beast::error::timeout) return failure::timeout;
  if (ec == http::error::body_limit) return failure::too_large;
  if (ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
      ec != http::error::end_of_stream && ec != http::error::partial_message)
    return failure::bad_response;
  return failure::connection_lost;
}

}  // namespace

struct client::impl : std::enable_shared_from_this<client::impl> {
  impl(net::io_context& io, const config::upstream_config& s, unsigned io_threads)
      : settings(s),
        single_threaded(io_threads == 1),
        target(s.url) {
    if (target.tls) configure_tls();
    connections.emplace(io, tls_context ? &*tls_context : nullptr, static_cast<std::size_t>(s.max_connections),
                        single_threaded);
  }

  void configure_tls() {
    auto& tls = tls_context.emplace(net::ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
    tls.set_default_verify_paths();
    if (!settings.ca_file.empty()) {
      error_code ec;
      tls.load_verify_file(settings.ca_file, ec);
      if (ec)
        throw std::runtime_error("upstream.ca_file: cannot load " + settings.ca_file +
                                 " as PEM certificates: " + ec.message());
    }
    if (!settings.tls_verify)
      core::logger("upstream")->warn(
          "upstream.tls_verify is false: the upstream certificate is NOT verified; anyone on "
          "the network path can read and alter traffic, bearer tokens included");
  }

  // Connects a fresh connection: resolve, TCP connect, TLS handshake with verification.
  awaitable<exchange_outcome> connect(connection& conn, steady::time_point until) {
    using namespace net::experimental::awaitable_operators;
    exchange_outcome out;
    const auto connect_until =
        std::min(until, steady::now() + std::chrono::milliseconds(settings.connect_timeout_ms));
    tcp::resolver::results_type endpoints;
    if (is_ip_literal(target.host)) {
      endpoints = tcp::resolver::results_type::create(
          tcp::endpoint(net::ip::make_address(target.host), target.port), target.host,
          std::to_string(target.port));
    } else {
      tcp::resolver resolver(conn.executor());
      net::steady_timer timer(conn.executor());
      timer.expires_at(connect_until);
      auto raced = co_await (resolver.async_resolve(target.host, std::to_string(target.port), use_nothrow) ||
                             timer.async_wait(use_nothrow));
      if (raced.index() == 1) {
        out.error = failure::connect;
        out.detail = "resolving " + target.host + " took longer than upstream.connect_timeout_ms";
        co_return out;
      }
      auto [ec, results] = std::get<0>(std::move(raced));
      if (ec) {
        out.error = failure::connect;
        out.detail = "cannot resolve " + target.host + ": " + describe(ec);
        co_return out;
      }
      endpoints = std::move(results);
    }

    auto& tcp_layer = conn.tcp();
    tcp_layer.expires_at(connect_until);
    auto [cec, ep] = co_await tcp_layer.async_connect(endpoints, use_nothrow);
    if (cec) {
      out.error = cec == beast::error::timeout && connect_until == until ? failure::deadline
                                                                          : failure::connect;
      out.detail = "cannot connect to " + target.authority + ": " +
                   (cec == beast::error::timeout ? std::string("timed out") : describe(cec));
      co_return out;
    }
    tcp_layer.socket().set_option(tcp::no_delay(true));
    if (!conn.secure) tcp_layer.socket().non_blocking(true);  // for exchange_on's first write

    if (conn.secure) {
      auto& stream = *conn.secure;
      if (!is_ip_literal(target.host))
        // SSL_set_tlsext_host_name is a macro with a C cast; this is what it expands to.
        SSL_ctrl(stream.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(target.host.c_str()));
      if (settings.tls_verify) {
        stream.set_verify_mode(net::ssl::verify_peer);
        stream.set_verify_callback(
            [&conn, host = target.host](bool preverified, net::ssl::verify_context& ctx) {
              if (!preverified) {
                const int err = X509_STORE_CTX_get_error(ctx.native_handle());
                conn.verify_error = X509_verify_cert_error_string(err);
                return false;
              }
              if (!net::ssl::host_name_verification(host)(preverified, ctx)) {
                conn.verify_error = "the certificate is not valid for host name " + host;
                return false;
              }
              return true;
            });
      } else {
        stream.set_verify_mode(net::ssl::verify_none);
      }
      auto [hec] = co_await stream.async_handshake(net::ssl::stream_base::client, use_nothrow);
      if (hec) {
        out.error = hec == beast::error::timeout ? failure::connect : failure::tls;
        out.detail = "TLS handshake with " + target.authority + " failed: " +
                     (conn.verify_error.empty() ? describe(hec)
                                                : "certificate verification failed (" +
                                                      conn.verify_error +
                                                      "); set upstream.ca_file to trust a private CA");
        co_return out;
      }
    }
    conn.connected = true;
    co_return out;
  }

  template <typename Stream>
  awaitable<exchange_outcome> exchange_on(Stream& stream, connection& conn, const wire_request& msg,
                                          steady::time_point until, bool until_is_deadline) {
    exchange_outcome out;
    conn.tcp().expires_at(until);
    http::request_serializer<http::string_body> request(msg);
    error_code wec;
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      // As for responses to clients: a request nearly always fits in the send buffer,
      // and a non-blocking write needs no timer (the socket is non-blocking).
      http::write(stream.socket(), request, wec);
      if (wec == net::error::would_block || wec == net::error::try_again) wec = {};
    }
    if (!wec && !request.is_done())
      std::tie(wec, std::ignore) = co_await http::async_write(stream, request, use_nothrow);
    if (wec) {
      out.error = classify_io(wec);
      out.detail = "sending the request failed: " + describe(wec);
      if (out.error == failure::timeout && until_is_deadline) out.error = failure::deadline;
      co_return out;
    }
    for (;;) {
      http::response_parser<http::string_body> parser;
      parser.header_limit(64 * 1024);
      parser.body_limit(static_cast<std::uint64_t>(settings.max_body_bytes));
      if (msg.method() == http::verb::head) parser.skip(true);
      auto [rec, read] = co_await http::async_read(stream, conn.buffer, parser, use_nothrow);
      out.got_bytes = out.got_bytes || parser.got_some() || read > 0;
      if (rec) {
        out.error = classify_io(rec);
        if (out.error == failure::timeout && until_is_deadline) out.error = failure::deadline;
        switch (out.error) {
          case failure::too_large:
            out.detail = "the response body exceeds upstream.max_body_bytes (" +
                         std::to_string(settings.max_body_bytes) + ")";
            break;
          case failure::timeout:
            out.detail = "no complete response within upstream.try_timeout_ms";
            break;
          case failure::deadline:
            out.detail = "no complete response within upstream.deadline_ms";
            break;
          default:
            out.detail = "reading the response failed: " + describe(rec);
        }
        co_return out;
      }
      auto message = parser.release();
      const unsigned status = message.result_int();
      if (status >= 100 && status < 200) continue;  // interim responses (103) are skipped
      out.keep_alive = message.keep_alive();
      response r;
      r.status = status;
      r.body = std::move(message.body());
      r.headers = std::move(message.base());
      out.answer = std::move(r);
      co_return out;
    }
  }

  // One exchange on a leased connection; runs on the connection's strand.
  awaitable<exchange_outcome> run_exchange(connection& conn, const wire_request& msg,
                                           steady::time_point deadline) {
    if (!conn.connected) {
      auto connected = co_await connect(conn, deadline);
      if (connected.error != failure::none) co_return connected;
    }
    const auto try_until = steady::now() + std::chrono::milliseconds(settings.try_timeout_ms);
    const auto until = std::min(try_until, deadline);
    const bool until_is_deadline = deadline <= try_until;
    if (conn.secure) co_return co_await exchange_on(*conn.secure, conn, msg, until, until_is_deadline);
    co_return co_await exchange_on(*conn.plain, conn, msg, until, until_is_deadline);
  }

  struct leased_outcome {
    exchange_outcome outcome;
    bool stale_connection = false;  // a reused connection upstream had closed: nothing was read
  };

  // One exchange on a pooled connection.
  awaitable<leased_outcome> attempt(const wire_request& msg, steady::time_point deadline) {
    auto self = shared_from_this();
    leased_outcome out;
    auto leased = co_await connections->acquire(deadline);
    if (!leased) {
      out.outcome.error = failure::deadline;
      out.outcome.detail = "no upstream connection became free before upstream.deadline_ms (all " +
                           std::to_string(settings.max_connections) + " of upstream.max_connections busy)";
      co_return out;
    }
    if (single_threaded) {
      out.outcome = co_await run_exchange(leased->conn(), msg, deadline);  // already on the only thread
    } else {
      // The connection belongs to its own strand: the exchange runs there.
      out.outcome = co_await net::co_spawn(leased->conn().executor(), run_exchange(leased->conn(), msg, deadline),
                                           net::use_awaitable);
    }
    out.stale_connection = leased->reused() && out.outcome.error == failure::connection_lost && !out.outcome.got_bytes;
    leased->release(out.outcome.error == failure::none && out.outcome.keep_alive);
    co_return out;
  }

  config::upstream_config settings;
  const bool single_threaded;
  config::origin target;
  // Only for an https upstream: creating one loads OpenSSL's configuration (~5 ms of start-up).
  std::optional<net::ssl::context> tls_context;
  std::optional<pool> connections;
};

client::client(net::io_context& ioc, const config::upstream_config& settings, unsigned io_threads)
    : impl_(std::make_shared<impl>(ioc, settings, io_threads)) {}

client::~client() = default;

const config::origin& client::origin() const noexcept { return impl_->target; }

awaitable<result> client::send(const request& req, correlation corr, bool idempotent) {
  auto self = impl_;
  const auto deadline = req.deadline.value_or(steady::now() + std::chrono::milliseconds(self->settings.deadline_ms));

  wire_request msg{req.method, req.target, 11};
  for (const auto& f : req.headers) msg.insert(f.name(), f.name_string(), f.value());
  msg.set(http::field::host, self->target.authority);
  msg.set("MS-CorrelationId", corr.correlation_id);
  if (!req.body.empty() || req.method == http::verb::post || req.method == http::verb::put ||
      req.method == http::verb::patch) {
    msg.body() = req.body;
    msg.prepare_payload();
  }

  result out;
  exchange_outcome exchanged;
  for (int resend = 0;; ++resend) {
    corr.vector = increment_vector(corr.vector);  // every request sent carries its own vector
    msg.set("MS-RequestId", corr.request_id);
    msg.set("MS-CV", corr.vector);
    const auto started = steady::now();
    auto leased = co_await self->attempt(msg, deadline);
    const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - started);
    exchanged = std::move(leased.outcome);
    attempt_record record;
    record.status = exchanged.answer ? exchanged.answer->status : 0;
    record.error = exchanged.error;
    record.duration = elapsed;
    record.request_id = corr.request_id;
    record.vector = corr.vector;
    out.attempts.push_back(std::move(record));
    out.upstream_time += elapsed;
    // A keep-alive connection upstream closed just as it was reused: the request never
    // reached the application, so it goes again at once on a fresh connection, with the
    // same MS-RequestId (a retry with backoff would only add latency).
    if (!(leased.stale_connection && idempotent && resend == 0)) break;
  }
  out.answer = std::move(exchanged.answer);
  out.error = exchanged.error;
  out.detail = std::move(exchanged.detail);
  out.sent = std::move(corr);
  co_return out;
}

}  // namespace pcproxy::upstream
