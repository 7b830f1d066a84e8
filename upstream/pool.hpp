#pragma once
// Connections to the one upstream origin and the pool that bounds them. Internal to
// upstream/. Thread-safety: pool members are safe from any thread; a connection is
// used by one exchange at a time, on its own strand.
#include "core/net.hpp"
#include "core/wakeup.hpp"

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <chrono>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace pcproxy::upstream {

struct connection {
  /// On `executor`: a strand of its own when several threads run the io_context.
  connection(net::any_io_executor executor, net::ssl::context* tls);

  net::any_io_executor executor() { return plain ? plain->get_executor() : secure->get_executor(); }
  beast::tcp_stream& tcp() { return plain ? *plain : beast::get_lowest_layer(*secure); }
  /// False when upstream closed the idle connection (or sent something unexpected).
  bool looks_alive();
  void close();

  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;
  bool connected = false;
  std::chrono::steady_clock::time_point idle_since{};
  std::string verify_error;  // why certificate verification failed, if it did
};

class pool;

/// A connection held by one exchange; goes back to the pool (or is closed) when dropped.
class lease {
public:
  lease(pool* owner, std::unique_ptr<connection> conn, bool reused)
      : owner_(owner), conn_(std::move(conn)), reused_(reused) {}
  lease(lease&&) noexcept = default;
  lease& operator=(lease&&) = delete;
  ~lease();

  connection& conn() { return *conn_; }
  bool reused() const noexcept { return reused_; }
  /// Returns the connection for reuse when `keep_alive`, closes it otherwise.
  void release(bool keep_alive);

private:
  pool* owner_;
  std::unique_ptr<connection> conn_;
  bool reused_;
};

class pool {
public:
  /// `single_threaded`: one thread runs `ioc`, so connections need no strand.
  pool(net::io_context& ioc, net::ssl::context* tls, std::size_t max_connections, bool single_threaded);
  ~pool();

  /// An idle connection, or a new unconnected one when fewer than max_connections
  /// exist; otherwise waits until one is released or `until` passes (nullopt).
  awaitable<std::optional<lease>> acquire(std::chrono::steady_clock::time_point until);

private:
  friend class lease;

  void give_back(std::unique_ptr<connection> conn, bool keep_alive);
  void wake_one_locked();

  /// Idle connections older than this are closed rather than reused: servers and
  /// load balancers drop idle keep-alive connections after a minute or so.
  static constexpr std::chrono::seconds max_idle{50};
  /// A connection given back more recently than this is reused without the liveness
  /// probe (one recv syscall, ~3 % of a miss under load): no server closes a keep-alive
  /// connection this soon after answering on it, except with `Connection: close`, which
  /// is never pooled. A reset that comes anyway is resent once on a fresh connection (idempotent requests).
  static constexpr std::chrono::milliseconds unprobed_reuse{200};

  net::any_io_executor executor_for_new_connection();

  net::io_context& ioc_;
  net::ssl::context* tls_;
  const std::size_t max_;
  const bool single_threaded_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<connection>> idle_;  // back = most recently used
  std::size_t open_ = 0;                           // idle + leased
  std::list<std::shared_ptr<core::wakeup>> waiters_;
};

}  // namespace pcproxy::upstream
