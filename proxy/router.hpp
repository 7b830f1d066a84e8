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

  /// The index of the route for `path`: 0..size()-1 for configured routes, size() for
  /// the implicit "pass" fallback.
  std::size_t index_of(std::string_view path) const noexcept;
  const config::route_config& at(std::size_t index) const noexcept;
  const config::route_config& match(std::string_view path) const noexcept { return at(index_of(path)); }
  /// Configured routes plus the fallback.
  std::size_t size() const noexcept { return routes_.size() + 1; }

private:
  std::vector<config::route_config> routes_;
  config::route_config fallback_;
};

}  // namespace pcproxy::proxy
