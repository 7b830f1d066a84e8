#include "proxy/router.hpp"

namespace pcproxy::proxy {

router::router(std::vector<config::route_config> routes)
    : routes_(std::move(routes)), fallback_{"(no route)", config::cache_policy::pass, 0, 0, false} {}

std::size_t router::index_of(std::string_view path) const noexcept {
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    const std::string_view pattern = routes_[i].path;
    if (pattern.ends_with('*') ? path.starts_with(pattern.substr(0, pattern.size() - 1)) : path == pattern)
      return i;
  }
  return routes_.size();
}

const config::route_config& router::at(std::size_t index) const noexcept {
  return index < routes_.size() ? routes_[index] : fallback_;
}

}  // namespace pcproxy::proxy
