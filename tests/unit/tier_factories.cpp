#include "tests/unit/tier_factories.hpp"

#include "cache/memory_tier.hpp"

namespace pcproxy::testing {

std::vector<tier_factory> tier_factories() {
  return {
      {"memory", [](const tier_options& o) { return std::make_shared<cache::memory_tier>(o.max_bytes, o.clock); }},
  };
}

}  // namespace pcproxy::testing
