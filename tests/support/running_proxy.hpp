#pragma once
// pcproxy running in the test process: the real service and server on loopback port 0,
// served by their own io threads.
#include "config/config.hpp"
#include "core/clock.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace pcproxy::proxy {
class service;
}

namespace pcproxy::testing {

/// Defaults for tests: loopback port 0 for both listeners, the given upstream, short
/// timeouts and retry waits so a failing test fails fast.
config::config test_config(const std::string& upstream_url);

class running_proxy {
public:
  explicit running_proxy(const config::config& settings,
                         std::shared_ptr<const core::clock> clock = std::make_shared<core::system_clock>());
  ~running_proxy();
  running_proxy(const running_proxy&) = delete;
  running_proxy& operator=(const running_proxy&) = delete;

  std::uint16_t port() const;
  std::uint16_t admin_port() const;
  proxy::service& service();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace pcproxy::testing
