#pragma once
// A Redis client for the shared tier: hiredis formats the commands and parses the
// replies (RESP), Asio does the I/O over TCP or TLS (verified as the upstream is: the
// system store plus a CA file, the host name checked, SNI sent).
//
// redis_client: one connection, pipelined. Commands go out in order and replies come
// back in order. Every command has a deadline; one that passes it, an I/O error or a
// protocol error closes the connection and fails every command waiting on it (their
// replies could no longer be matched). After a failure a breaker stays open for a
// backoff (250 ms doubling to 10 s), during which commands fail at once: Redis failing
// costs a request a miss, never a wait. The next command after the backoff reconnects.
//
// redis_subscriber: a connection in SUBSCRIBE mode that hands every message to a
// handler, pings to notice a dead peer, and reconnects with the same backoff.
//
// Thread-safety: command() from any thread; each connection lives on its own strand.
#include "config/config.hpp"
#include "core/net.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pcproxy::tiers {

struct redis_reply {
  enum class type { nil, string, integer, array, status, error };
  type kind = type::nil;
  std::string text;  // string, status, error
  long long integer = 0;
  std::vector<redis_reply> elements;
};

enum class redis_failure {
  none,
  unavailable,  // not connected: the breaker is open after a failure
  timeout,      // no reply within cache.shared.timeout_ms
  io,           // connect, TLS, read or write failed
  refused,      // Redis answered with an error (wrong password, out of memory, ...)
};
const char* to_string(redis_failure f) noexcept;

struct redis_result {
  redis_reply reply;
  redis_failure failure = redis_failure::none;
  std::string detail;  // for logs: what went wrong
  bool ok() const noexcept { return failure == redis_failure::none; }
};

struct redis_settings {
  config::redis_url url;
  std::string password;  // from cache.shared.password_file, else the URL's
  std::string ca_file;
  std::chrono::milliseconds timeout{50};
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds min_backoff{250};
  std::chrono::milliseconds max_backoff{10000};
  std::size_t max_queued = 10000;  // commands waiting for a reply; more sent ones are dropped
};

class redis_link;

class redis_client {
public:
  /// Start-up: throws std::runtime_error when the CA file cannot be loaded.
  redis_client(net::any_io_executor executor, redis_settings settings);
  ~redis_client();

  /// One command (its arguments, the name first); the reply, or why there is none. A
  /// reply of type error is a failure (refused) with Redis's message as the detail.
  awaitable<redis_result> command(std::vector<std::string> args);

  /// Queues a command whose reply nobody awaits (writes, announcements), in order with
  /// every other command; false (dropped) when settings.max_queued commands wait already.
  bool send(std::vector<std::string> args);

  /// Whether the connection works (false while the breaker is open), and in words.
  /// failures() counts failed connections and refused commands; timeouts() those of them
  /// that were a missed deadline.
  bool up() const noexcept;
  std::string state() const;
  std::uint64_t timeouts() const noexcept;
  std::uint64_t failures() const noexcept;

  /// Fails what is waiting and closes the connection; later commands fail at once.
  void close();

private:
  struct impl;
  std::shared_ptr<impl> state_;
};

class redis_subscriber {
public:
  using handler = std::function<void(std::string channel, std::string message)>;
  redis_subscriber(net::any_io_executor executor, redis_settings settings, std::vector<std::string> channels,
                   handler on_message);
  ~redis_subscriber();
  /// Connects and keeps the subscription until close().
  void start();
  void close();
  bool subscribed() const noexcept;

private:
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace pcproxy::tiers
