#include "proxy/admin.hpp"

#include "core/error_body.hpp"

namespace pcproxy::proxy {

admin_handler::admin_handler(std::shared_ptr<cache::store> store) : store_(std::move(store)) {}

awaitable<server::response> admin_handler::handle(const server::request& req,
                                                  const server::request_info&) {
  co_return server::json_response(
      404, core::error_body(core::error_code_number::not_found,
                            "no admin endpoint " + std::string(req.target()) +
                                "; try /healthz or /readyz"));
}

}  // namespace pcproxy::proxy
