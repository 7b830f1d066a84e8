#pragma once
// The admin listener's endpoints beyond /healthz and /readyz (which server/ answers):
//   GET    /metrics                            Prometheus text format 0.0.4
//   GET    /admin/cache[?limit=N]              statistics and entries (no secrets)
//   DELETE /admin/cache[?prefix=P][&scope=S]   purge all, by path prefix, by scope, in every tier
// With admin.token_file set, /metrics and /admin/* need "Authorization: Bearer <token>".
// Without one, /admin/* is refused when the admin listener is not on loopback.
// Thread-safety: handle() runs concurrently.
#include "proxy/pipeline.hpp"
#include "server/handler.hpp"
#include "upstream/resilient_transport.hpp"

#include <functional>
#include <memory>

namespace pcproxy::tiers {
class shared_tier;
}

namespace pcproxy::proxy {

class admin_handler final : public server::request_handler {
public:
  /// `fleet`: the shared tier, when one is configured (its coordination statistics).
  admin_handler(std::shared_ptr<const pipeline> proxy, std::shared_ptr<const upstream::resilient_transport> resilience,
                std::shared_ptr<const tiers::shared_tier> fleet, bool exposed);

  /// Where the open-connections gauge comes from (the server, made after this handler).
  void set_connection_gauge(std::function<std::size_t()> gauge) { open_connections_ = std::move(gauge); }

  awaitable<server::response> handle(const server::request& req,
                                     const server::request_info& info) override;

private:
  server::response metrics() const;
  server::response cache_listing(std::string_view query) const;
  awaitable<server::response> purge(std::string_view query) const;

  std::shared_ptr<const pipeline> proxy_;
  std::shared_ptr<const upstream::resilient_transport> resilience_;  // null when upstream is injected
  std::shared_ptr<const tiers::shared_tier> fleet_;                  // null without a shared tier
  const bool exposed_;
  std::function<std::size_t()> open_connections_;
};

}  // namespace pcproxy::proxy
