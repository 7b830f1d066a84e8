#include "proxy/router.hpp"

namespace pcproxy::proxy {

router::router(std::vector<config::route_config> routes)
    : routes_(std::move(routes)), fallback_{"/*", config::cache_policy::pass, 0, 0, false} {}

const config::route_config& router::match(std::string_view path) const noexcept {
  for (const auto& r : routes_) {
    const std::string_view pattern = r.path;
    if (pattern.ends_with('*') ? path.starts_with(pattern.substr(0, pattern.size() - 1))
                               : path == pattern)
      return r;
  }
  return fallback_;
}

}  // namespace pcproxy::proxy
