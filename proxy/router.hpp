#pragma once
// Route matching (DESIGN.md "Configuration reference"): a route path is exact, or a
// prefix when it ends in '*'; the first match wins; no match means "pass".
// Thread-safety: immutable after construction.
#include "config/config.hpp"

#include <string_view>
#include <vector>

namespace pcproxy::proxy {

class router {
public:
  explicit router(std::vector<config::route_config> routes);
  const config::route_config& match(std::string_view path) const noexcept;

private:
  std::vector<config::route_config> routes_;
  config::route_config fallback_;
};

}  // namespace pcproxy::proxy
