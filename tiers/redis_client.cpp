#include "tiers/redis_client.hpp"

#include "core/completion.hpp"
#include "core/log.hpp"
#include "core/log_limiter.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <hiredis/hiredis.h>

#include <array>
#include <deque>
#include <mutex>

namespace pcproxy::tiers {

using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

const std::shared_ptr<spdlog::logger>& log() {
  static const auto l = core::logger("shared");
  return l;
}

bool is_ip_literal(const std::string& host) {
  error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

std::string where(const config::redis_url& u) {
  return (u.tls ? "rediss://" : "redis://") + u.host + ":" + std::to_string(u.port);
}

std::string format_command(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  char* formatted = nullptr;
  const int n = redisFormatCommandArgv(&formatted, static_cast<int>(args.size()), argv.data(), lengths.data());
  if (n < 0 || !formatted) return {};
  std::string out(formatted, static_cast<std::size_t>(n));
  redisFreeCommand(formatted);
  return out;
}

redis_reply convert(const redisReply& r) {
  redis_reply out;
  switch (r.type) {
    case REDIS_REPLY_STRING: out.kind = redis_reply::type::string; break;
    case REDIS_REPLY_STATUS: out.kind = redis_reply::type::status; break;
    case REDIS_REPLY_ERROR: out.kind = redis_reply::type::error; break;
    case REDIS_REPLY_INTEGER: out.kind = redis_reply::type::integer; break;
    case REDIS_REPLY_ARRAY: out.kind = redis_reply::type::array; break;
    default: out.kind = redis_reply::type::nil; break;
  }
  if (r.str) out.text.assign(r.str, r.len);
  out.integer = r.integer;
  for (std::size_t i = 0; i < r.elements; ++i) out.elements.push_back(convert(*r.element[i]));
  return out;
}

redis_result failed(redis_failure f, std::string detail) {
  redis_result r;
  r.failure = f;
  r.detail = std::move(detail);
  return r;
}

// A reply of type error is Redis refusing the command.
redis_result answered(redis_reply reply) {
  redis_result r;
  if (reply.kind == redis_reply::type::error) {
    r.failure = redis_failure::refused;
    r.detail = reply.text;
  }
  r.reply = std::move(reply);
  return r;
}

std::optional<net::ssl::context> tls_context_for(const redis_settings& s) {
  if (!s.url.tls) return std::nullopt;
  std::optional<net::ssl::context> tls(std::in_place, net::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(tls->native_handle(), TLS1_2_VERSION);
  tls->set_default_verify_paths();
  if (!s.ca_file.empty()) {
    error_code ec;
    tls->load_verify_file(s.ca_file, ec);
    if (ec) throw std::runtime_error("cache.shared.ca_file: cannot load " + s.ca_file + " as PEM certificates: " + ec.message());
  }
  return tls;
}

}  // namespace

const char* to_string(redis_failure f) noexcept {
  switch (f) {
    case redis_failure::none: return "none";
    case redis_failure::unavailable: return "unavailable";
    case redis_failure::timeout: return "timeout";
    case redis_failure::io: return "io";
    case redis_failure::refused: return "refused";
  }
  return "io";
}

// One connected stream to Redis, TCP or TLS, and the RESP reader for what it sends.
class redis_link {
public:
  redis_link(net::any_io_executor executor, net::ssl::context* tls) {
    if (tls)
      secure_.emplace(executor, *tls);
    else
      plain_.emplace(executor);
    reader_.reset(redisReaderCreate());
  }

  // Resolve, connect, TLS with verification, AUTH and SELECT: ready for commands.
  awaitable<redis_result> connect(const redis_settings& s, steady::time_point until) {
    using namespace net::experimental::awaitable_operators;
    const auto& u = s.url;
    auto executor = co_await net::this_coro::executor;
    tcp::resolver::results_type endpoints;
    if (is_ip_literal(u.host)) {
      endpoints = tcp::resolver::results_type::create(tcp::endpoint(net::ip::make_address(u.host), u.port), u.host,
                                                      std::to_string(u.port));
    } else {
      tcp::resolver resolver(executor);
      net::steady_timer timer(executor);
      timer.expires_at(until);
      auto raced = co_await (resolver.async_resolve(u.host, std::to_string(u.port), use_nothrow) ||
                             timer.async_wait(use_nothrow));
      if (raced.index() == 1) co_return failed(redis_failure::io, "resolving " + u.host + " timed out");
      auto [ec, results] = std::get<0>(std::move(raced));
      if (ec) co_return failed(redis_failure::io, "cannot resolve " + u.host + ": " + ec.message());
      endpoints = std::move(results);
    }
    auto& layer = tcp();
    layer.expires_at(until);
    auto [cec, ep] = co_await layer.async_connect(endpoints, use_nothrow);
    if (cec) co_return failed(redis_failure::io, "cannot connect to " + where(u) + ": " + cec.message());
    layer.socket().set_option(tcp::no_delay(true));
    if (secure_) {
      if (!is_ip_literal(u.host))
        // SSL_set_tlsext_host_name is a macro with a C cast; this is what it expands to.
        SSL_ctrl(secure_->native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(u.host.c_str()));
      secure_->set_verify_mode(net::ssl::verify_peer);
      secure_->set_verify_callback([this, host = u.host](bool preverified, net::ssl::verify_context& ctx) {
        if (!preverified) {
          verify_error_ = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.native_handle()));
          return false;
        }
        if (!net::ssl::host_name_verification(host)(preverified, ctx)) {
          verify_error_ = "the certificate is not valid for " + host;
          return false;
        }
        return true;
      });
      auto [hec] = co_await secure_->async_handshake(net::ssl::stream_base::client, use_nothrow);
      if (hec)
        co_return failed(redis_failure::io,
                         "TLS handshake with " + where(u) + " failed: " +
                             (verify_error_.empty() ? hec.message()
                                                    : "certificate verification failed (" + verify_error_ +
                                                          "); set cache.shared.ca_file to trust a private CA"));
    }
    if (!s.password.empty()) {
      std::vector<std::string> auth = {"AUTH"};
      if (!u.user.empty()) auth.push_back(u.user);
      auth.push_back(s.password);
      auto wire = format_command(auth);
      auto r = co_await call(std::move(wire), until);
      if (!r.ok()) {
        r.detail = "AUTH refused: " + r.detail + "; check cache.shared.password_file";
        co_return r;
      }
    }
    if (u.db != 0) {
      auto select = format_command({"SELECT", std::to_string(u.db)});
      auto r = co_await call(std::move(select), until);
      if (!r.ok()) co_return r;
    }
    auto ping = format_command({"PING"});
    auto r = co_await call(std::move(ping), until);
    if (r.ok() && r.reply.text != "PONG") r = failed(redis_failure::refused, "PING answered " + r.reply.text);
    layer.expires_never();
    co_return r;
  }

  /// Writes `bytes`; "" or what failed.
  awaitable<std::string> write(std::string bytes) {
    error_code ec;
    if (secure_)
      std::tie(ec, std::ignore) = co_await net::async_write(*secure_, net::buffer(bytes), use_nothrow);
    else
      std::tie(ec, std::ignore) = co_await net::async_write(*plain_, net::buffer(bytes), use_nothrow);
    co_return ec ? "writing failed: " + ec.message() : std::string{};
  }

  /// The next reply. No deadline of its own: the owner closes the link to abort it.
  awaitable<redis_result> read() {
    for (;;) {
      void* raw = nullptr;
      if (redisReaderGetReply(reader_.get(), &raw) != REDIS_OK)
        co_return failed(redis_failure::io, std::string("protocol error: ") + reader_->errstr);
      if (raw) {
        auto reply = convert(*static_cast<redisReply*>(raw));
        freeReplyObject(raw);
        co_return answered(std::move(reply));
      }
      error_code ec;
      std::size_t n = 0;
      if (secure_)
        std::tie(ec, n) = co_await secure_->async_read_some(net::buffer(buffer_), use_nothrow);
      else
        std::tie(ec, n) = co_await plain_->async_read_some(net::buffer(buffer_), use_nothrow);
      if (ec) co_return failed(redis_failure::io, ec == net::error::eof ? "Redis closed the connection"
                                                                         : "reading failed: " + ec.message());
      redisReaderFeed(reader_.get(), buffer_.data(), n);
    }
  }

  /// One command and its reply by `until` (connecting, subscribing).
  awaitable<redis_result> call(std::string wire, steady::time_point until) {
    tcp().expires_at(until);
    if (auto err = co_await write(std::move(wire)); !err.empty()) co_return failed(redis_failure::io, err);
    auto r = co_await read();
    if (r.failure == redis_failure::io && steady::now() >= until) r.failure = redis_failure::timeout;
    co_return r;
  }

  void close() {
    error_code ignored;
    tcp().socket().close(ignored);
  }

private:
  beast::tcp_stream& tcp() { return plain_ ? *plain_ : beast::get_lowest_layer(*secure_); }

  struct reader_free {
    void operator()(redisReader* r) const noexcept { redisReaderFree(r); }
  };
  std::optional<beast::tcp_stream> plain_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure_;
  std::string verify_error_;
  std::unique_ptr<redisReader, reader_free> reader_;
  std::array<char, 16384> buffer_{};
};

// ---- redis_client ----

struct redis_client::impl : std::enable_shared_from_this<impl> {
  impl(net::any_io_executor executor, redis_settings s)
      : strand(net::make_strand(executor)),
        settings(std::move(s)),
        tls(tls_context_for(settings)),
        timer(strand),
        backoff(settings.min_backoff) {}

  struct pending {
    std::string wire;
    bool sent = false;
    steady::time_point deadline;
    std::unique_ptr<core::completion<redis_result>> done;
  };

  net::strand<net::any_io_executor> strand;
  const redis_settings settings;
  std::optional<net::ssl::context> tls;
  net::steady_timer timer;
  std::shared_ptr<redis_link> link;
  std::uint64_t generation = 0;  // bumped when a link is dropped: its loops stop
  bool connecting = false, writing = false, closed = false, was_down = false;
  std::deque<pending> queue;  // in send order: the sent ones first
  steady::time_point breaker_until{};
  milliseconds backoff;
  std::string last_failure;
  core::log_limiter failure_log{std::chrono::seconds(30)};
  std::atomic<bool> up{true};
  std::atomic<std::uint64_t> timeouts{0}, failures{0}, refusals{0};
  std::atomic<std::size_t> in_queue{0};  // commands submitted and not finished

  // Delivers a reply to whoever awaits it; a sent-and-forgotten command (no completion)
  // only leaves the count of waiting commands.
  void finish(std::unique_ptr<core::completion<redis_result>>& done, redis_result r) {
    --in_queue;
    if (!done && r.failure == redis_failure::refused) ++refusals;
    if (done) done->deliver(std::move(r));
  }

  void submit(std::string wire, std::unique_ptr<core::completion<redis_result>> done) {
    const auto now = steady::now();
    if (closed) return finish(done, failed(redis_failure::unavailable, "the client is closed"));
    if (now < breaker_until) {
      const auto left = std::chrono::duration_cast<milliseconds>(breaker_until - now).count();
      return finish(done, failed(redis_failure::unavailable,
                                  "Redis failed (" + last_failure + "); the next try is in " + std::to_string(left) + " ms"));
    }
    queue.push_back({std::move(wire), false, now + settings.timeout, std::move(done)});
    arm_timer();
    if (link)
      pump_writes();
    else if (!connecting)
      start_connect();
  }

  void start_connect() {
    connecting = true;
    net::co_spawn(strand, connect(), net::detached);
  }

  awaitable<void> connect() {
    auto self = shared_from_this();
    auto fresh = std::make_shared<redis_link>(strand, tls ? &*tls : nullptr);
    auto r = co_await fresh->connect(settings, steady::now() + settings.connect_timeout);
    connecting = false;
    if (closed) co_return;
    if (!r.ok()) {
      fail(r.failure == redis_failure::refused ? redis_failure::refused : redis_failure::io, r.detail);
      co_return;
    }
    link = std::move(fresh);
    ++generation;
    backoff = settings.min_backoff;
    up = true;
    if (was_down) log()->info("shared tier: {} is reachable again; sharing resumes", where(settings.url));
    was_down = false;
    net::co_spawn(strand, read_loop(link, generation), net::detached);
    pump_writes();
  }

  void pump_writes() {
    if (writing || !link) return;
    std::string bytes;
    for (auto& p : queue)
      if (!p.sent) {
        bytes += p.wire;
        p.sent = true;
      }
    if (bytes.empty()) return;
    writing = true;
    net::co_spawn(strand, write(link, generation, std::move(bytes)), net::detached);
  }

  awaitable<void> write(std::shared_ptr<redis_link> l, std::uint64_t gen, std::string bytes) {
    auto self = shared_from_this();
    const auto err = co_await l->write(std::move(bytes));
    if (gen != generation) co_return;
    writing = false;
    if (!err.empty()) co_return fail(redis_failure::io, err);
    pump_writes();
  }

  awaitable<void> read_loop(std::shared_ptr<redis_link> l, std::uint64_t gen) {
    auto self = shared_from_this();
    for (;;) {
      auto r = co_await l->read();
      if (gen != generation) co_return;
      if (r.failure == redis_failure::io) co_return fail(redis_failure::io, r.detail);
      if (queue.empty() || !queue.front().sent) co_return fail(redis_failure::io, "a reply nobody asked for");
      auto done = std::move(queue.front().done);
      queue.pop_front();
      finish(done, std::move(r));
      arm_timer();
    }
  }

  void arm_timer() {
    if (queue.empty()) {
      timer.cancel();
      return;
    }
    auto earliest = queue.front().deadline;
    for (const auto& p : queue) earliest = std::min(earliest, p.deadline);
    timer.expires_at(earliest);
    timer.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec) self->deadlines_passed();
    });
  }

  void deadlines_passed() {
    const auto now = steady::now();
    for (const auto& p : queue)
      if (p.sent && p.deadline <= now)
        return fail(redis_failure::timeout, "no reply within cache.shared.timeout_ms (" +
                                                std::to_string(settings.timeout.count()) + " ms)");
    // Not sent yet (still connecting): those fail alone; the connection is not to blame.
    for (auto it = queue.begin(); it != queue.end();) {
      if (!it->sent && it->deadline <= now) {
        ++timeouts;
        finish(it->done, failed(redis_failure::timeout, "not connected within cache.shared.timeout_ms"));
        it = queue.erase(it);
      } else {
        ++it;
      }
    }
    arm_timer();
  }

  // The connection is no longer usable: everything waiting fails, the breaker opens.
  void fail(redis_failure why, const std::string& detail) {
    if (link) link->close();
    link.reset();
    ++generation;
    writing = false;
    last_failure = detail;
    ++failures;
    if (why == redis_failure::timeout) ++timeouts;
    auto waiting = std::move(queue);
    queue.clear();
    timer.cancel();
    for (auto& p : waiting) finish(p.done, failed(why, detail));
    breaker_until = steady::now() + backoff;
    std::uint64_t suppressed = 0;
    if (!was_down || failure_log.allow(suppressed))
      log()->warn("shared tier: {} failed ({}); pcproxy goes on with its own tiers and upstream, and tries Redis "
                  "again in {} ms",
                  where(settings.url), detail, backoff.count());
    was_down = true;
    up = false;
    backoff = std::min(backoff * 2, settings.max_backoff);
  }

  void shut() {
    closed = true;
    if (link) link->close();
    link.reset();
    ++generation;
    auto waiting = std::move(queue);
    queue.clear();
    timer.cancel();
    for (auto& p : waiting) finish(p.done, failed(redis_failure::unavailable, "the client is closed"));
  }
};

redis_client::redis_client(net::any_io_executor executor, redis_settings settings)
    : state_(std::make_shared<impl>(std::move(executor), std::move(settings))) {}

redis_client::~redis_client() { close(); }

awaitable<redis_result> redis_client::command(std::vector<std::string> args) {
  ++state_->in_queue;
  auto start = [st = state_, wire = format_command(args)](std::unique_ptr<core::completion<redis_result>> done) mutable {
    net::dispatch(st->strand, [st, wire = std::move(wire), done = std::move(done)]() mutable {
      st->submit(std::move(wire), std::move(done));
    });
  };
  co_return co_await core::await_completion<redis_result>(std::move(start));
}

bool redis_client::send(std::vector<std::string> args) {
  if (state_->in_queue.load() >= state_->settings.max_queued) return false;
  ++state_->in_queue;
  net::dispatch(state_->strand, [st = state_, wire = format_command(args)]() mutable { st->submit(std::move(wire), nullptr); });
  return true;
}

bool redis_client::up() const noexcept { return state_->up.load(); }
std::uint64_t redis_client::timeouts() const noexcept { return state_->timeouts.load(); }
std::uint64_t redis_client::failures() const noexcept { return state_->failures.load() + state_->refusals.load(); }

std::string redis_client::state() const {
  if (up()) return "ok";
  return "down: " + where(state_->settings.url) + " failed; pcproxy retries it with backoff";
}

void redis_client::close() {
  net::dispatch(state_->strand, [st = state_] { st->shut(); });
}

// ---- redis_subscriber ----

struct redis_subscriber::state : std::enable_shared_from_this<state> {
  state(net::any_io_executor executor, redis_settings s, std::vector<std::string> ch, handler h)
      : strand(net::make_strand(executor)),
        settings(std::move(s)),
        tls(tls_context_for(settings)),
        channels(std::move(ch)),
        on_message(std::move(h)) {}

  net::strand<net::any_io_executor> strand;
  const redis_settings settings;
  std::optional<net::ssl::context> tls;
  const std::vector<std::string> channels;
  const handler on_message;
  std::shared_ptr<redis_link> link;
  bool closed = false;
  std::atomic<bool> subscribed{false};
  core::log_limiter failure_log{std::chrono::seconds(30)};

  // Subscribes, hands messages over, and after any failure tries again with backoff.
  awaitable<void> run() {
    auto self = shared_from_this();
    auto backoff = settings.min_backoff;
    net::steady_timer pause(strand);
    while (!closed) {
      auto l = std::make_shared<redis_link>(strand, tls ? &*tls : nullptr);
      const auto until = steady::now() + settings.connect_timeout;
      auto r = co_await l->connect(settings, until);
      if (r.ok()) {
        std::vector<std::string> subscribe = {"SUBSCRIBE"};
        subscribe.insert(subscribe.end(), channels.begin(), channels.end());
        auto wire = format_command(subscribe);
        r = co_await l->call(std::move(wire), until);
        for (std::size_t confirmed = 1; r.ok() && confirmed < channels.size(); ++confirmed) r = co_await l->read();
      }
      if (r.ok() && !closed) {
        link = l;
        subscribed = true;
        backoff = settings.min_backoff;
        net::co_spawn(strand, ping(l), net::detached);
        for (;;) {
          auto message = co_await l->read();
          if (!message.ok()) break;
          heard = steady::now();
          const auto& e = message.reply.elements;
          if (e.size() == 3 && e[0].text == "message") on_message(e[1].text, e[2].text);
        }
        link.reset();
        subscribed = false;
        if (closed) break;
        r = failed(redis_failure::io, "the subscription's connection was lost");
      }
      std::uint64_t suppressed = 0;
      if (failure_log.allow(suppressed))
        log()->warn("shared tier: subscribing at {} failed ({}); purges and holds from other instances reach this one "
                    "again once it works (retrying in {} ms)",
                    where(settings.url), r.detail, backoff.count());
      pause.expires_after(backoff);
      co_await pause.async_wait(use_nothrow);
      backoff = std::min(backoff * 2, settings.max_backoff);
    }
  }

  // A ping every 5 s; a link quiet for 15 s is dead, and closing it ends the read.
  awaitable<void> ping(std::shared_ptr<redis_link> l) {
    auto self = shared_from_this();
    heard = steady::now();
    net::steady_timer tick(strand);
    for (;;) {
      tick.expires_after(std::chrono::seconds(5));
      co_await tick.async_wait(use_nothrow);
      if (link != l) co_return;
      if (steady::now() - heard > std::chrono::seconds(15)) {
        l->close();
        co_return;
      }
      auto ping = format_command({"PING"});
      const auto failed_write = co_await l->write(std::move(ping));
      if (!failed_write.empty()) co_return;
    }
  }

  steady::time_point heard{};
};

redis_subscriber::redis_subscriber(net::any_io_executor executor, redis_settings settings,
                                   std::vector<std::string> channels, handler on_message)
    : state_(std::make_shared<state>(std::move(executor), std::move(settings), std::move(channels),
                                     std::move(on_message))) {}

redis_subscriber::~redis_subscriber() { close(); }

void redis_subscriber::start() { net::co_spawn(state_->strand, state_->run(), net::detached); }

bool redis_subscriber::subscribed() const noexcept { return state_->subscribed.load(); }

void redis_subscriber::close() {
  net::dispatch(state_->strand, [st = state_] {
    st->closed = true;
    if (st->link) st->link->close();
  });
}

}  // namespace pcproxy::tiers
