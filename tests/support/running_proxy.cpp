#include "tests/support/running_proxy.hpp"

#include "config/loader.hpp"
#include "core/net.hpp"
#include "proxy/service.hpp"
#include "server/server.hpp"

#include <future>
#include <thread>
#include <vector>

namespace pcproxy::testing {

config::config test_config(const std::string& upstream_url) {
  config::config c;
  c.listen = {"127.0.0.1", 0};
  c.admin_listen = {"127.0.0.1", 0};
  c.threads = 2;
  c.upstream.url = config::origin_of(upstream_url);
  c.upstream.connect_timeout_ms = 2000;
  c.upstream.try_timeout_ms = 5000;
  c.upstream.deadline_ms = 10000;
  c.limits.shutdown_grace_ms = 2000;
  c.retry.base_delay_ms = 20;  // retries stay on, with waits short enough for tests
  c.retry.max_delay_ms = 100;
  // Next-page prefetch (on for usage records by default) would add upstream requests to
  // every test that counts them: the prefetch tests switch it on themselves.
  for (auto& r : c.routes) r.prefetch_next = false;
  return c;
}

struct running_proxy::impl {
  explicit impl(unsigned n) : threads_wanted(n), ioc(static_cast<int>(n)) {}
  unsigned threads_wanted;
  net::io_context ioc;
  std::unique_ptr<proxy::service> service;
  std::unique_ptr<server::server> http_server;
  std::vector<std::thread> threads;
};

running_proxy::running_proxy(const config::config& settings, std::shared_ptr<const core::clock> clock)
    : impl_(std::make_unique<impl>(config::io_threads(settings))) {
  if (auto problems = config::validate(settings); !problems.empty()) throw config::config_error(problems);
  impl_->service = std::make_unique<proxy::service>(impl_->ioc, settings, std::move(clock));
  impl_->http_server = std::make_unique<server::server>(impl_->ioc, settings, impl_->service->proxy_handler(),
                                                        impl_->service->admin_handler());
  // Wired as app/main.cpp wires them.
  impl_->service->set_connection_gauge([s = impl_->http_server.get()] { return s->open_connections(); });
  impl_->http_server->set_readiness_check([s = impl_->service.get()] { return s->not_ready_reason(); });
  impl_->http_server->start();
  for (unsigned i = 0; i < impl_->threads_wanted; ++i) impl_->threads.emplace_back([this] { impl_->ioc.run(); });
}

running_proxy::~running_proxy() {
  std::promise<void> stopped;
  impl_->http_server->shutdown([&](bool) { stopped.set_value(); });
  stopped.get_future().wait();
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
}

std::uint16_t running_proxy::port() const { return impl_->http_server->proxy_endpoint().port(); }
std::uint16_t running_proxy::admin_port() const { return impl_->http_server->admin_endpoint().port(); }
proxy::service& running_proxy::service() { return *impl_->service; }

}  // namespace pcproxy::testing
