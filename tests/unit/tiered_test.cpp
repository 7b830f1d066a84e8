// The tiered store: memory in front of lower tiers. Memory tiers stand in for the lower
// ones here (they keep the same contract); the disk tier's own tests use the real one.
#include "cache/tiered.hpp"
#include "tests/unit/tier_factories.hpp"

#include <gtest/gtest.h>

namespace pcproxy::testing {
namespace {

using namespace std::chrono_literals;

class Tiered : public ::testing::Test {
protected:
  std::shared_ptr<cache::entry> page(std::string body) {
    auto e = std::make_shared<cache::entry>();
    e->header_block = cache::header_block({{"Content-Type", "application/json"}});
    e->body = std::make_shared<const std::string>(std::move(body));
    e->stored_at = e->revalidated_at = clock->now();
    e->rules.ttl = 3600s;
    e->scope = "c-a";
    e->path = "/p";
    return e;
  }
  cache::cache_key key(int n) { return cache::derive_key({"c-a", "GET", "/p", std::to_string(n), "", "", ""}); }

  std::shared_ptr<manual_clock> clock = std::make_shared<manual_clock>();
  std::shared_ptr<cache::memory_tier> memory = std::make_shared<cache::memory_tier>(1 << 20, clock);
  std::shared_ptr<cache::memory_tier> second = std::make_shared<cache::memory_tier>(1 << 20, clock);
  std::shared_ptr<cache::memory_tier> third = std::make_shared<cache::memory_tier>(1 << 20, clock);
  cache::tiered store{memory, {second, third}};
  tier_runner run;
};

TEST_F(Tiered, InsertsWriteThroughEveryTier) {
  EXPECT_TRUE(run(store.insert(key(1), page("{}"))));
  EXPECT_NE(memory->find(key(1)), nullptr);
  EXPECT_NE(second->find(key(1)), nullptr);
  EXPECT_NE(third->find(key(1)), nullptr);
}

TEST_F(Tiered, ALookupFallsThroughAndPromotesIntoEveryTierAbove) {
  third->put(key(1), page("{\"deep\":1}"));
  const auto found = run(store.lookup(key(1)));
  ASSERT_TRUE(found.value);
  EXPECT_EQ(found.from, third.get());
  EXPECT_EQ(*found.value->body, "{\"deep\":1}");
  EXPECT_NE(memory->find(key(1)), nullptr);
  EXPECT_NE(second->find(key(1)), nullptr);
  const auto again = run(store.lookup(key(1)));
  EXPECT_EQ(again.from, memory.get());
}

TEST_F(Tiered, TheNearestTierAnswersFirst) {
  second->put(key(1), page("{\"near\":1}"));
  third->put(key(1), page("{\"far\":1}"));
  EXPECT_EQ(*run(store.lookup(key(1))).value->body, "{\"near\":1}");
  EXPECT_FALSE(run(store.lookup(key(2))).value);
}

TEST_F(Tiered, APurgeReachesEveryTierAndSaysHowManyEachRemoved) {
  run(store.insert(key(1), page("{}")));
  run(store.insert(key(2), page("{}")));
  third->put(key(3), page("{}"));
  const auto purged = run(store.purge({}));
  ASSERT_EQ(purged.size(), 3u);
  EXPECT_EQ(purged[0].result.purged, 2u);
  EXPECT_EQ(purged[1].result.purged, 2u);
  EXPECT_EQ(purged[2].result.purged, 3u);
  EXPECT_FALSE(run(store.lookup(key(3))).value);
}

TEST_F(Tiered, AnEntryTooLargeForMemoryStillReachesTheLowerTiers) {
  auto small = std::make_shared<cache::memory_tier>(100, clock);
  cache::tiered narrow{small, {second}};
  EXPECT_TRUE(run(narrow.insert(key(1), page(std::string(5000, 'x')))));
  EXPECT_EQ(small->find(key(1)), nullptr);
  EXPECT_NE(run(narrow.lookup(key(1))).value, nullptr);
}

}  // namespace
}  // namespace pcproxy::testing
