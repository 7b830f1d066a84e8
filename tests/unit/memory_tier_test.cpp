// What the memory tier does beyond the tier contract (tier_conformance_test.cpp): its
// byte accounting, refusals, per-route usage and the bounded listing.
#include "cache/memory_tier.hpp"
#include "tests/support/manual_clock.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace pcproxy::cache {
namespace {

using namespace std::chrono_literals;

cache_key key_of(int n) { return derive_key({"c-s", "GET", "/p", std::to_string(n), "", "", ""}); }

class MemoryTier : public ::testing::Test {
protected:
  std::shared_ptr<entry> entry_of(std::size_t body_bytes, std::string path = "/p", std::string scope = "c-s",
                                  std::string route = "/p") {
    auto e = std::make_shared<entry>();
    e->header_block = cache::header_block({{"Content-Type", "application/json"}});
    e->body = std::make_shared<const std::string>(body_bytes, 'x');
    e->path = std::move(path);
    e->scope = std::move(scope);
    e->route = std::move(route);
    e->stored_at = e->revalidated_at = clock->now();
    e->rules.ttl = 3600s;
    e->rules.stale_if_error = 86400s;
    return e;
  }
  std::shared_ptr<testing::manual_clock> clock = std::make_shared<testing::manual_clock>();
};

TEST_F(MemoryTier, ChargesKeysHeadersBodiesAndOverhead) {
  auto e = entry_of(1000);
  const auto charged = charged_bytes(*e);
  EXPECT_GT(charged, 1000u + e->header_block->size());
  EXPECT_EQ(charged_bytes(*entry_of(2000)) - charged, 1000u);  // linear in the body

  memory_tier s(1 << 20, clock);
  ASSERT_TRUE(s.put(key_of(1), e));
  ASSERT_TRUE(s.put(key_of(2), entry_of(500)));
  const auto stats = s.stats();
  EXPECT_EQ(stats.entries, 2u);
  EXPECT_EQ(stats.bytes, charged + charged_bytes(*entry_of(500)));
}

TEST_F(MemoryTier, ALargeEntryEvictsAsManyAsItNeeds) {
  const auto small = charged_bytes(*entry_of(100));
  const auto big = charged_bytes(*entry_of(250));
  memory_tier s(small * 3, clock);
  for (int i = 0; i < 3; ++i) s.put(key_of(i), entry_of(100));
  ASSERT_TRUE(s.put(key_of(9), entry_of(250)));
  EXPECT_LE(s.stats().bytes, small * 3);
  EXPECT_EQ(s.stats().bytes, big + small * (s.stats().entries - 1));
  EXPECT_EQ(s.stats().evictions, 2u);
}

TEST_F(MemoryTier, RefusesAnEntryLargerThanTheWholeTier) {
  memory_tier s(1000, clock);
  EXPECT_FALSE(s.put(key_of(1), entry_of(5000)));
  EXPECT_EQ(s.stats().entries, 0u);
  EXPECT_EQ(s.stats().bytes, 0u);
}

TEST_F(MemoryTier, ReplacingAnEntryKeepsTheAccountingExact) {
  memory_tier s(1 << 20, clock);
  s.put(key_of(1), entry_of(1000));
  s.put(key_of(1), entry_of(10));
  EXPECT_EQ(s.stats().entries, 1u);
  EXPECT_EQ(s.stats().bytes, charged_bytes(*entry_of(10)));
  EXPECT_EQ(s.find(key_of(1))->body->size(), 10u);
}

TEST_F(MemoryTier, UsageByRouteFollowsEveryChangeWithoutAWalk) {
  memory_tier s(1 << 20, clock);
  s.put(key_of(1), entry_of(10, "/a", "c-1", "/a*"));
  s.put(key_of(2), entry_of(20, "/a", "c-2", "/a*"));
  s.put(key_of(3), entry_of(30, "/b", "c-1", "/b"));
  auto usage = s.usage_by_route();
  ASSERT_EQ(usage.size(), 2u);
  EXPECT_EQ(usage["/a*"].entries, 2u);
  EXPECT_EQ(usage["/a*"].bytes, charged_bytes(*entry_of(10, "/a", "c-1", "/a*")) + charged_bytes(*entry_of(20, "/a", "c-2", "/a*")));
  EXPECT_EQ(s.erase({.scope = "c-1"}), 2u);
  usage = s.usage_by_route();
  ASSERT_EQ(usage.size(), 1u);
  EXPECT_EQ(usage["/a*"].entries, 1u);
}

TEST_F(MemoryTier, ListingIsBoundedByItsLimit) {
  memory_tier s(1 << 20, clock);
  for (int i = 0; i < 10; ++i) s.put(key_of(i), entry_of(10));
  EXPECT_EQ(s.list(3).size(), 3u);
  EXPECT_EQ(s.list(100).size(), 10u);
}

TEST_F(MemoryTier, AnExpiredEntryIsDroppedWhenLookedUp) {
  memory_tier s(1 << 20, clock);
  s.put(key_of(1), entry_of(10));
  clock->advance(3600s + 86400s);
  EXPECT_EQ(s.find(key_of(1)), nullptr);
  EXPECT_EQ(s.stats().entries, 0u);
  EXPECT_EQ(s.stats().bytes, 0u);
}

TEST_F(MemoryTier, ConcurrentUseKeepsTheInvariants) {
  const auto one = charged_bytes(*entry_of(100));
  memory_tier s(one * 50, clock);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        s.put(key_of((i * 7 + t) % 200), entry_of(100));
        s.find(key_of((i * 3 + t) % 200));
      }
    });
  for (auto& t : threads) t.join();
  const auto stats = s.stats();
  EXPECT_LE(stats.bytes, stats.max_bytes);
  EXPECT_EQ(stats.bytes, stats.entries * one);
  EXPECT_EQ(s.list(1000).size(), stats.entries);
  EXPECT_EQ(s.usage_by_route()["/p"].entries, stats.entries);
}

}  // namespace
}  // namespace pcproxy::cache
