#pragma once
// The admin listener's endpoints beyond /healthz and /readyz (which server/ answers):
//   GET    /admin/cache[?limit=N]              statistics and entries (no secrets)
//   DELETE /admin/cache[?prefix=P][&scope=S]   purge all, by path prefix, by scope
// With admin.token_file set, /admin/* needs "Authorization: Bearer <that token>".
// Thread-safety: handle() runs concurrently.
#include "proxy/pipeline.hpp"
#include "proxy/token_file.hpp"
#include "server/handler.hpp"

#include <memory>

namespace pcproxy::proxy {

class admin_handler final : public server::request_handler {
public:
  admin_handler(std::shared_ptr<const pipeline> proxy, const std::string& token_file);
  awaitable<server::response> handle(const server::request& req,
                                     const server::request_info& info) override;

private:
  server::response cache_listing(std::string_view query) const;
  server::response purge(std::string_view query) const;

  std::shared_ptr<const pipeline> proxy_;
  mutable token_file token_;
};

}  // namespace pcproxy::proxy
