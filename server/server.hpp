#pragma once
// The HTTP/1.1 server: the client listener and the admin listener, keep-alive sessions
// with header/idle timeouts and size limits, a connection cap, and graceful shutdown.
// The admin listener answers /healthz and /readyz itself and passes every other path
// to the admin handler.
// Thread-safety: start() and shutdown() from any thread; the rest is internal.
#include "config/config.hpp"
#include "core/net.hpp"
#include "server/handler.hpp"

#include <functional>
#include <memory>
#include <string>

namespace pcproxy::server {

class server {
public:
  server(net::io_context& ioc, const config::config& settings,
         std::shared_ptr<request_handler> proxy_handler,
         std::shared_ptr<request_handler> admin_handler);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds both listeners and starts accepting. Throws std::runtime_error when an
  /// address cannot be bound (start-up is fail-fast).
  void start();

  /// The bound addresses (useful with port 0).
  tcp::endpoint proxy_endpoint() const;
  tcp::endpoint admin_endpoint() const;

  /// Extra readiness condition: return a reason to report "not ready", or "" when ready.
  void set_readiness_check(std::function<std::string()> check);

  /// Graceful stop: stop accepting clients, close idle connections, let in-flight
  /// requests finish (their responses carry Connection: close) for up to
  /// limits.shutdown_grace_ms, then close everything. `done(clean)` runs once, with
  /// clean = false when the grace period cut requests off.
  void shutdown(std::function<void(bool clean)> done);

  /// Open client connections (for metrics and tests).
  std::size_t open_connections() const;

private:
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace pcproxy::server
