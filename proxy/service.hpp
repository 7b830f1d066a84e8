#pragma once
// Builds pcproxy's object graph from the configuration: the upstream client, the cache
// store, the request pipeline and the admin handler. app/main.cpp (and the integration
// tests) hand the two handlers to server::server.
// Thread-safety: construct once at start-up; the handlers are thread-safe.
#include "cache/tiered.hpp"
#include "config/config.hpp"
#include "core/clock.hpp"
#include "core/net.hpp"
#include "server/handler.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <memory>
#include <string>

namespace pcproxy::upstream {
class transport;
class resilient_transport;
}
namespace pcproxy::cache {
class fleet_events;
}
namespace pcproxy::tiers {
class disk_tier;
class shared_tier;
}

namespace pcproxy::proxy {

class pipeline;
class admin_handler;
class credential_provider;

class service {
public:
  /// The real upstream client behind retries, retry budget, circuit breaker and
  /// throttling, and the cache tiers the settings ask for. Start-up: throws
  /// std::runtime_error when the TLS settings, the disk tier's directory or its
  /// encryption key, or the credential files (upstream.auth) are unusable.
  service(net::io_context& ioc, const config::config& settings,
          std::shared_ptr<const core::clock> clock = std::make_shared<core::system_clock>());
  /// With another upstream, used as it is (tests script one).
  service(const config::config& settings, std::shared_ptr<upstream::transport> upstream,
          std::shared_ptr<const core::clock> clock);

  std::shared_ptr<server::request_handler> proxy_handler() const;
  std::shared_ptr<server::request_handler> admin_handler() const;
  const std::shared_ptr<cache::tiered>& store() const { return store_; }
  const pipeline& requests() const { return *proxy_; }

  /// A reload: the settings that can change while running (the rest is logged as
  /// needing a restart by the caller).
  void apply(const config::config& settings);

  /// Shutdown, after the server has drained: the tiers write what they have queued
  /// until `deadline`, then stop.
  void close(std::chrono::steady_clock::time_point deadline);

  /// The admin listener's open-connections gauge comes from the server.
  void set_connection_gauge(std::function<std::size_t()> gauge);

  /// For the server's /readyz: "" when ready, else why not: no Partner Center access
  /// token (upstream.auth.mode refresh_token), or see admin.not_ready_while_circuit_open.
  std::string not_ready_reason() const;
  /// The resilience layer (null when the upstream was injected as is).
  const upstream::resilient_transport* resilience() const { return resilience_.get(); }

private:
  service(const config::config& settings, std::shared_ptr<upstream::resilient_transport> resilient,
          std::shared_ptr<const core::clock> clock, net::any_io_executor executor,
          std::shared_ptr<credential_provider> credentials);
  service(const config::config& settings, std::shared_ptr<upstream::transport> upstream,
          std::shared_ptr<const core::clock> clock, std::optional<net::any_io_executor> executor,
          std::shared_ptr<credential_provider> credentials);

  std::shared_ptr<upstream::resilient_transport> resilience_;
  std::shared_ptr<credential_provider> credentials_;  // null unless upstream.auth.mode is refresh_token
  std::shared_ptr<tiers::disk_tier> disk_;
  std::shared_ptr<tiers::shared_tier> shared_;
  std::shared_ptr<cache::tiered> store_;
  std::shared_ptr<pipeline> proxy_;
  std::shared_ptr<proxy::admin_handler> admin_;
  std::shared_ptr<cache::fleet_events> fleet_listener_;  // what other instances announce, applied here
  std::atomic<bool> not_ready_while_circuit_open_{false};
};

}  // namespace pcproxy::proxy
