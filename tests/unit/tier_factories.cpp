#include "tests/unit/tier_factories.hpp"

#include "cache/memory_tier.hpp"
#include "tiers/disk_tier.hpp"

namespace pcproxy::testing {

std::vector<tier_factory> tier_factories() {
  return {
      {"memory", [](const tier_options& o) { return std::make_shared<cache::memory_tier>(o.max_bytes, o.clock); }},
      {"disk",
       [](const tier_options& o) {
         tiers::disk_settings s;
         s.directory = o.dir;
         s.max_bytes = o.max_bytes;
         return std::make_shared<tiers::disk_tier>(s, o.clock);
       }},
      {"disk_encrypted",
       [](const tier_options& o) {
         tiers::disk_settings s;
         s.directory = o.dir;
         s.max_bytes = o.max_bytes;
         s.encryption = cache::encryption_key{};
         s.encryption->bytes.fill(7);
         return std::make_shared<tiers::disk_tier>(s, o.clock);
       }},
  };
}

}  // namespace pcproxy::testing
