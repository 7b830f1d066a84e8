#include "server/server.hpp"

#include "server/request_rules.hpp"
#include "server/wire.hpp"

#include "config/loader.hpp"
#include "core/error_body.hpp"
#include "core/http_date.hpp"
#include "core/json_text.hpp"
#include "core/log.hpp"

#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/rfc7230.hpp>

#include <array>
#include <charconv>
#include <atomic>
#include <mutex>
#include <unordered_map>

namespace pcproxy::server {

response json_response(unsigned status, std::string body) {
  response r;
  r.status = status;
  r.fields.set(http::field::content_type, "application/json; charset=utf-8");
  r.fields.set(http::field::date, core::format_http_date(std::chrono::system_clock::now()));
  r.body = std::make_shared<const std::string>(std::move(body));
  return r;
}

namespace {

using steady = std::chrono::steady_clock;
using core::error_code_number;

const std::shared_ptr<spdlog::logger>& log() {
  static const auto l = core::logger("server");
  return l;
}


// Writes one response with a single gather write. Most responses fit in the socket's
// send buffer, so a non-blocking attempt comes first (sessions' sockets are in
// non-blocking mode): it needs no timer, and every timer armed while it is the
// earliest costs a timerfd_settime syscall, slow under virtualisation. What does not
// fit is written asynchronously within `timeout`.
awaitable<error_code> write_stream(beast::tcp_stream& stream, body_stream& body, bool chunked,
                                   std::chrono::milliseconds timeout);

awaitable<error_code> write_response(beast::tcp_stream& stream, const response& res, bool head_request,
                                     bool keep_alive, unsigned version, std::string& scratch,
                                     std::chrono::milliseconds timeout) {
  const auto buffers = serialise(res, head_request, keep_alive, version, scratch);
  error_code ec;
  const auto written = stream.socket().write_some(buffers, ec);
  if (ec && ec != net::error::would_block && ec != net::error::try_again) co_return ec;
  beast::buffers_suffix<std::array<net::const_buffer, 4>> rest(buffers);
  rest.consume(ec ? 0 : written);
  if (beast::buffer_bytes(rest) != 0) {
    stream.expires_after(timeout);
    auto [wec, n] = co_await net::async_write(stream, rest, use_nothrow);
    if (wec) co_return wec;
  }
  if (!res.stream || head_request) co_return error_code{};
  co_return co_await write_stream(stream, *res.stream, version >= 11, timeout);
}

// A streamed body: each piece as a chunk (or, for HTTP/1.0, as it is), then the last
// chunk and the trailers; a failed stream is cut off without the last chunk.
awaitable<error_code> write_stream(beast::tcp_stream& stream, body_stream& body, bool chunked,
                                   std::chrono::milliseconds timeout) {
  std::string frame;
  for (;;) {
    auto piece = co_await body.next();
    if (piece.is == body_stream::piece::state::failed) co_return net::error::connection_aborted;
    frame.clear();
    if (!piece.bytes.empty()) {
      if (chunked) {
        char size[20];
        const auto end = std::to_chars(size, size + sizeof size, piece.bytes.size(), 16).ptr;
        frame.append(size, end);
        frame += "\r\n";
      }
      frame += piece.bytes;
      if (chunked) frame += "\r\n";
    }
    const bool last = piece.is == body_stream::piece::state::end;
    if (last && chunked) {
      frame += "0\r\n";
      frame += body.trailers();
      frame += "\r\n";
    }
    if (!frame.empty()) {
      stream.expires_after(timeout);
      auto [wec, n] = co_await net::async_write(stream, net::buffer(frame), use_nothrow);
      if (wec) co_return wec;
    }
    if (last) co_return error_code{};
  }
}

enum class listener_role { proxy, admin };

struct session {
  session(tcp::socket socket, std::uint64_t connection_id, listener_role listener)
      : stream(std::move(socket)), id(connection_id), role(listener) {}
  beast::tcp_stream stream;
  const std::uint64_t id;
  const listener_role role;
  bool busy = false;  // between a request's first byte and its response; only on the strand
};

}  // namespace

struct server::state : std::enable_shared_from_this<server::state> {
  state(net::io_context& io, const config::config& settings, std::shared_ptr<request_handler> proxy,
        std::shared_ptr<request_handler> admin)
      : ioc(io),
        limits(settings.limits),
        listen(settings.listen),
        admin_listen(settings.admin_listen),
        proxy_handler(std::move(proxy)),
        admin_handler(std::move(admin)),
        grace_timer(net::make_strand(io)),
        single_threaded(config::io_threads(settings) == 1) {}

  net::io_context& ioc;
  const config::limits_config limits;
  const config::host_port listen;
  const config::host_port admin_listen;
  const std::shared_ptr<request_handler> proxy_handler;
  const std::shared_ptr<request_handler> admin_handler;
  std::optional<tcp::acceptor> proxy_acceptor;
  std::optional<tcp::acceptor> admin_acceptor;
  tcp::endpoint proxy_bound;
  tcp::endpoint admin_bound;
  net::steady_timer grace_timer;
  // With one io thread every handler already runs on it: strands would only add cost.
  const bool single_threaded;

  net::any_io_executor connection_executor() {
    if (single_threaded) return ioc.get_executor();
    return net::make_strand(ioc);
  }

  std::atomic<bool> ready{false};
  std::atomic<bool> draining{false};
  std::atomic<std::uint64_t> next_id{1};
  std::atomic<std::size_t> proxy_sessions{0};

  std::mutex mutex;  // guards the members below
  std::unordered_map<std::uint64_t, std::weak_ptr<session>> sessions;
  std::function<std::string()> readiness;
  std::function<void(bool)> on_stopped;
  bool stopped = false;

  tcp::acceptor bind(const config::host_port& where, const char* what) {
    tcp::acceptor acceptor(connection_executor());
    error_code ec;
    const auto address = net::ip::make_address(where.host == "localhost" ? "127.0.0.1" : where.host, ec);
    if (ec)
      throw std::runtime_error(std::string(what) + ": \"" + where.host +
                               "\" is not an IP address to listen on (use 0.0.0.0 for all)");
    const tcp::endpoint endpoint(address, where.port);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(net::socket_base::reuse_address(true));
    acceptor.bind(endpoint, ec);
    if (ec)
      throw std::runtime_error(std::string(what) + ": cannot listen on " + where.host + ":" +
                               std::to_string(where.port) + ": " + ec.message());
    acceptor.listen(net::socket_base::max_listen_connections);
    return acceptor;
  }

  std::string not_ready_reason() {
    if (draining) return "draining";
    if (!ready) return "starting";
    std::lock_guard lock(mutex);
    return readiness ? readiness() : std::string{};
  }

  awaitable<void> accept_loop(tcp::acceptor& acceptor, listener_role role) {
    auto self = shared_from_this();
    net::steady_timer backoff(acceptor.get_executor());
    while (acceptor.is_open()) {
      auto [ec, socket] = co_await acceptor.async_accept(connection_executor(), use_nothrow);
      if (ec) {
        if (ec == net::error::operation_aborted || !acceptor.is_open()) break;
        log()->warn("accept failed: {}; retrying in 50 ms", ec.message());
        backoff.expires_after(std::chrono::milliseconds(50));  // e.g. out of file descriptors
        co_await backoff.async_wait(use_nothrow);
        continue;
      }
      if (role == listener_role::proxy &&
          proxy_sessions.load() >= static_cast<std::size_t>(limits.max_connections)) {
        refuse_connection(socket);
        continue;
      }
      start_session(std::move(socket), role);
    }
  }

  void refuse_connection(tcp::socket& socket) {
    static const std::string busy = [] {
      const auto body = core::error_body(error_code_number::service_unavailable,
                                         "too many open connections (limits.max_connections); retry later");
      return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\n"
             "Retry-After: 1\r\nConnection: close\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n\r\n" + body;
    }();
    error_code ignored;
    socket.non_blocking(true, ignored);
    socket.write_some(net::buffer(busy), ignored);  // best effort; the send buffer is empty
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    log()->warn("refused a connection: limits.max_connections ({}) reached", limits.max_connections);
  }

  void start_session(tcp::socket socket, listener_role role) {
    // Without TCP_NODELAY, the tail of a large response written in several sends waits
    // for the client's delayed ACK (40 ms on Linux): nginx sets it for the same reason.
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    socket.non_blocking(true, ignored);  // for write_response's first attempt
    const auto id = next_id++;
    auto s = std::make_shared<session>(std::move(socket), id, role);
    {
      std::lock_guard lock(mutex);
      sessions.emplace(id, s);
    }
    if (role == listener_role::proxy) ++proxy_sessions;
    auto executor = s->stream.get_executor();
    net::co_spawn(executor, run_session(s), [self = shared_from_this(), id](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        log()->error("connection {} dropped after an unexpected error: {}", id, ex.what());
      }
    });
  }

  void session_ended(const session& s) {
    bool drained = false;
    {
      std::lock_guard lock(mutex);
      sessions.erase(s.id);
    }
    if (s.role == listener_role::proxy) drained = --proxy_sessions == 0 && draining;
    if (drained) finish(true);
  }

  awaitable<void> run_session(std::shared_ptr<session> s) {
    auto self = shared_from_this();
    struct on_exit {
      state& st;
      session& s;
      ~on_exit() { st.session_ended(s); }
    } guard{*this, *s};

    const auto& handler = s->role == listener_role::proxy ? proxy_handler : admin_handler;
    const auto header_timeout = std::chrono::milliseconds(limits.header_timeout_ms);
    const auto idle_timeout = std::chrono::milliseconds(limits.idle_timeout_ms);
    error_code ec;
    request_info info;
    info.peer = s->stream.socket().remote_endpoint(ec);
    info.connection_id = s->id;
    log()->debug("connection {} from {}:{} opened ({} listener)", s->id, info.peer.address().to_string(),
                 info.peer.port(), s->role == listener_role::proxy ? "client" : "admin");
    beast::flat_buffer buffer;
    std::string scratch;
    bool first = true;

    for (;;) {
      // Wait for the next request: the first gets header_timeout_ms from connect, later
      // ones idle_timeout_ms of silence before the connection is closed. The buffer is
      // held while idle: 1 KiB fits a typical request (larger ones grow it) and keeps an
      // idle keep-alive connection near 6 KiB of memory (4 KiB buffers made it 9 KiB).
      if (buffer.size() == 0) {
        if (!first && draining) break;
        s->stream.expires_after(first ? header_timeout : idle_timeout);
        auto [rec, n] = co_await s->stream.async_read_some(buffer.prepare(1024), use_nothrow);
        if (rec) break;  // closed, reset, idle timeout or shutdown: nothing to answer
        buffer.commit(n);
      }
      s->busy = true;
      info.received_at = steady::now();

      http::request_parser<http::string_body> parser;  // a fresh parser per request
      parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
      parser.body_limit(static_cast<std::uint64_t>(limits.max_body_bytes));
      s->stream.expires_after(header_timeout);
      auto [hec, hn] = co_await http::async_read_header(s->stream, buffer, parser, use_nothrow);
      if (hec) {
        co_await answer_read_error(*s, hec, scratch);
        break;
      }
      if (auto refused = refuse(parser.get())) {
        co_await write_response(s->stream, *refused, false, false, 11, scratch, idle_timeout);
        break;
      }
      if (!parser.is_done()) {
        if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
          static constexpr std::string_view go_on = "HTTP/1.1 100 Continue\r\n\r\n";
          s->stream.expires_after(idle_timeout);
          auto [cec, cn] = co_await net::async_write(s->stream, net::buffer(go_on), use_nothrow);
          if (cec) break;
        }
        s->stream.expires_after(idle_timeout);
        auto [bec, bn] = co_await http::async_read(s->stream, buffer, parser, use_nothrow);
        if (bec) {
          co_await answer_read_error(*s, bec, scratch);
          break;
        }
      }

      const request& req = parser.get();
      const bool head = req.method() == http::verb::head;
      s->stream.expires_never();  // the handler bounds its own work (upstream deadlines)
      response res = co_await dispatch(*handler, req, info, s->role);
      // A streamed body to an HTTP/1.0 client ends where the connection does.
      const bool keep_alive = req.keep_alive() && !draining && !(res.stream && req.version() < 11);
      auto wec = co_await write_response(s->stream, res, head, keep_alive, req.version(), scratch,
                                         idle_timeout);
      s->busy = false;
      if (wec || !keep_alive) break;
      first = false;
    }
    error_code ignored;
    s->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    s->stream.close();
  }

  awaitable<response> dispatch(request_handler& handler, const request& req, const request_info& info,
                               listener_role role) {
    if (role == listener_role::admin) {
      const auto target = req.target();
      const auto path = target.substr(0, target.find('?'));
      if (path == "/healthz") co_return json_response(200, "{\"status\":\"ok\"}");
      if (path == "/readyz") {
        const auto reason = not_ready_reason();
        if (reason.empty()) co_return json_response(200, "{\"status\":\"ready\"}");
        std::string body = "{\"status\":\"not ready\",\"reason\":";
        core::append_json_string(body, reason);
        body += "}";
        co_return json_response(503, std::move(body));
      }
    }
    try {
      co_return co_await handler.handle(req, info);
    } catch (const std::exception& e) {
      log()->error("connection {}: request handler failed: {}", info.connection_id, e.what());
    }
    co_return error_response(500, error_code_number::internal,
                             "pcproxy failed to handle this request; the error is in its log");
  }

  // Answers a request that could not be read, where an answer makes sense. A timeout
  // gets none: tcp_stream has closed the socket by then (as nginx does, silently).
  awaitable<void> answer_read_error(session& s, const error_code& ec, std::string& scratch) {
    std::optional<response> answer;
    if (ec == http::error::header_limit) {
      answer = error_response(431, error_code_number::request_header_too_large,
                              "request headers exceed limits.max_header_bytes (" +
                                  std::to_string(limits.max_header_bytes) + " bytes)");
    } else if (ec == http::error::body_limit) {
      answer = error_response(413, error_code_number::request_body_too_large,
                              "request body exceeds limits.max_body_bytes (" +
                                  std::to_string(limits.max_body_bytes) + " bytes)");
    } else if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
               ec != http::error::end_of_stream && ec != http::error::partial_message) {
      answer = error_response(400, error_code_number::bad_request,
                              "malformed HTTP request: " + ec.message());
    }
    if (answer) {
      co_await write_response(s.stream, *answer, false, false, 11, scratch,
                              std::chrono::milliseconds(limits.header_timeout_ms));
    }
    log()->debug("connection {}: request not read: {}", s.id, ec.message());
  }

  // Closes a session's connection from its own strand; busy ones only when `even_busy`.
  void close_session(const std::shared_ptr<session>& s, bool even_busy) {
    net::post(s->stream.get_executor(), [s, even_busy] {
      if (!s->busy || even_busy) s->stream.close();
    });
  }

  std::vector<std::shared_ptr<session>> live_sessions(std::optional<listener_role> role) {
    std::vector<std::shared_ptr<session>> out;
    std::lock_guard lock(mutex);
    for (auto& [id, weak] : sessions)
      if (auto s = weak.lock(); s && (!role || s->role == *role)) out.push_back(std::move(s));
    return out;
  }

  void close_acceptor(std::optional<tcp::acceptor>& acceptor) {
    if (!acceptor) return;
    net::post(acceptor->get_executor(), [self = shared_from_this(), &acceptor] {
      error_code ignored;
      acceptor->close(ignored);
    });
  }

  void finish(bool clean) {
    std::function<void(bool)> done;
    {
      std::lock_guard lock(mutex);
      if (stopped) return;
      stopped = true;
      done = std::move(on_stopped);
    }
    net::post(grace_timer.get_executor(), [self = shared_from_this()] { self->grace_timer.cancel(); });
    close_acceptor(admin_acceptor);
    for (auto& s : live_sessions(std::nullopt)) close_session(s, true);
    if (done) done(clean);
  }
};

server::server(net::io_context& ioc, const config::config& settings,
               std::shared_ptr<request_handler> proxy_handler,
               std::shared_ptr<request_handler> admin_handler)
    : state_(std::make_shared<state>(ioc, settings, std::move(proxy_handler), std::move(admin_handler))) {}

server::~server() = default;

void server::start() {
  auto& st = *state_;
  st.proxy_acceptor.emplace(st.bind(st.listen, "listen"));
  st.admin_acceptor.emplace(st.bind(st.admin_listen, "admin_listen"));
  st.proxy_bound = st.proxy_acceptor->local_endpoint();
  st.admin_bound = st.admin_acceptor->local_endpoint();
  net::co_spawn(st.proxy_acceptor->get_executor(), st.accept_loop(*st.proxy_acceptor, listener_role::proxy),
                net::detached);
  net::co_spawn(st.admin_acceptor->get_executor(), st.accept_loop(*st.admin_acceptor, listener_role::admin),
                net::detached);
  st.ready = true;
  log()->info("listening on {}:{} (admin {}:{})", st.proxy_bound.address().to_string(),
              st.proxy_bound.port(), st.admin_bound.address().to_string(), st.admin_bound.port());
}

tcp::endpoint server::proxy_endpoint() const { return state_->proxy_bound; }
tcp::endpoint server::admin_endpoint() const { return state_->admin_bound; }

void server::set_readiness_check(std::function<std::string()> check) {
  std::lock_guard lock(state_->mutex);
  state_->readiness = std::move(check);
}

std::size_t server::open_connections() const { return state_->proxy_sessions.load(); }

void server::shutdown(std::function<void(bool clean)> done) {
  auto st = state_;
  {
    std::lock_guard lock(st->mutex);
    if (st->draining.exchange(true)) return;
    st->on_stopped = std::move(done);
  }
  st->ready = false;
  const auto busy = st->live_sessions(listener_role::proxy);
  log()->info("shutting down: no new connections; {} open connection(s) get up to {} ms to finish",
              busy.size(), st->limits.shutdown_grace_ms);
  st->close_acceptor(st->proxy_acceptor);
  for (auto& s : busy) st->close_session(s, false);
  net::post(st->grace_timer.get_executor(), [st] {
    st->grace_timer.expires_after(std::chrono::milliseconds(st->limits.shutdown_grace_ms));
    st->grace_timer.async_wait([st](error_code ec) {
      if (ec) return;
      const auto left = st->proxy_sessions.load();
      if (left > 0) log()->warn("shutdown grace period over: closing {} connection(s) still busy", left);
      st->finish(left == 0);
    });
    if (st->proxy_sessions.load() == 0) st->finish(true);
  });
}

}  // namespace pcproxy::server
