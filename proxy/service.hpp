#pragma once
// Builds pcproxy's object graph from the configuration: the upstream client, the cache
// store, the request pipeline and the admin handler. app/main.cpp (and the integration
// tests) hand the two handlers to server::server.
// Thread-safety: construct once at start-up; the handlers are thread-safe.
#include "cache/store.hpp"
#include "config/config.hpp"
#include "core/clock.hpp"
#include "core/net.hpp"
#include "server/handler.hpp"
#include "upstream/client.hpp"

#include <memory>

namespace pcproxy::proxy {

class service {
public:
  /// Start-up: throws std::runtime_error when the upstream TLS settings are unusable.
  service(net::io_context& ioc, const config::config& settings,
          std::shared_ptr<const core::clock> clock = std::make_shared<core::system_clock>());

  std::shared_ptr<server::request_handler> proxy_handler() const { return proxy_; }
  std::shared_ptr<server::request_handler> admin_handler() const { return admin_; }
  const std::shared_ptr<cache::store>& store() const { return store_; }

private:
  std::shared_ptr<cache::store> store_;
  std::shared_ptr<upstream::client> upstream_;
  std::shared_ptr<server::request_handler> proxy_;
  std::shared_ptr<server::request_handler> admin_;
};

}  // namespace pcproxy::proxy
