#include "proxy/service.hpp"

#include "proxy/admin.hpp"
#include "proxy/pipeline.hpp"
#include "upstream/client.hpp"
#include "upstream/resilient_transport.hpp"

namespace pcproxy::proxy {

service::service(net::io_context& ioc, const config::config& settings, std::shared_ptr<const core::clock> clock)
    : service(settings,
              std::make_shared<upstream::resilient_transport>(std::make_shared<upstream::client>(ioc, settings.upstream),
                                                              settings, clock, upstream::system_uniform01(),
                                                              upstream::system_random()),
              clock) {}

service::service(const config::config& settings, std::shared_ptr<upstream::resilient_transport> resilient,
                 std::shared_ptr<const core::clock> clock)
    : service(settings, std::static_pointer_cast<upstream::transport>(resilient), std::move(clock)) {
  resilience_ = std::move(resilient);
}

service::service(const config::config& settings, std::shared_ptr<upstream::transport> upstream,
                 std::shared_ptr<const core::clock> clock)
    : store_(std::make_shared<cache::store>(static_cast<std::size_t>(settings.cache.max_bytes))),
      proxy_(std::make_shared<pipeline>(settings, std::move(upstream), store_, std::move(clock),
                                        upstream::system_random())),
      admin_(std::make_shared<proxy::admin_handler>(proxy_, settings.admin.token_file)) {}

std::shared_ptr<server::request_handler> service::proxy_handler() const { return proxy_; }

}  // namespace pcproxy::proxy
