#pragma once
// The admin listener's endpoints beyond /healthz and /readyz (which server/ answers).
// Thread-safety: handle() runs concurrently.
#include "cache/store.hpp"
#include "server/handler.hpp"

#include <memory>

namespace pcproxy::proxy {

class admin_handler final : public server::request_handler {
public:
  explicit admin_handler(std::shared_ptr<cache::store> store);
  awaitable<server::response> handle(const server::request& req,
                                     const server::request_info& info) override;

private:
  std::shared_ptr<cache::store> store_;
};

}  // namespace pcproxy::proxy
