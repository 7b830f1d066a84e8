#include "cache/tier.hpp"

namespace pcproxy::cache {

bool purge_filter::matches(const entry& e) const noexcept {
  return (!scope || e.scope == *scope) && (!path_prefix || e.path.starts_with(*path_prefix)) &&
         (!path || e.path == *path);
}

std::string purge_filter::describe() const {
  std::string out;
  const auto part = [&](const char* name, const std::optional<std::string>& v) {
    if (!v) return;
    if (!out.empty()) out += ", ";
    out += name;
    out += ' ';
    out += *v;
  };
  part("scope", scope);
  part("prefix", path_prefix);
  part("path", path);
  return out.empty() ? "everything" : out;
}

const char* to_string(tier_failure f) noexcept {
  switch (f) {
    case tier_failure::none: return "none";
    case tier_failure::busy: return "busy";
    case tier_failure::too_large: return "too_large";
    case tier_failure::unavailable: return "unavailable";
    case tier_failure::timeout: return "timeout";
    case tier_failure::corrupt: return "corrupt";
    case tier_failure::io: return "io";
  }
  return "none";
}

}  // namespace pcproxy::cache
