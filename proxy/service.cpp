#include "proxy/service.hpp"

#include "proxy/admin.hpp"
#include "proxy/pipeline.hpp"

namespace pcproxy::proxy {

service::service(net::io_context& ioc, const config::config& settings,
                 std::shared_ptr<const core::clock> clock)
    : store_(std::make_shared<cache::store>(static_cast<std::size_t>(settings.cache.max_bytes))),
      upstream_(std::make_shared<upstream::client>(ioc, settings.upstream)),
      proxy_(std::make_shared<pipeline>(settings, upstream_, store_, std::move(clock),
                                        upstream::system_random())),
      admin_(std::make_shared<proxy::admin_handler>(store_)) {}

}  // namespace pcproxy::proxy
