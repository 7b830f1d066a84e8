#include "cache/store.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace pcproxy::cache {
namespace {

cache_key key_of(int n) { return derive_key({"c-s", "GET", "/p", std::to_string(n), "", "", ""}); }

std::shared_ptr<entry> entry_of(std::size_t body_bytes, std::string path = "/p", std::string scope = "c-s") {
  auto e = std::make_shared<entry>();
  e->header_block = std::make_shared<const std::string>("Content-Type: application/json\r\n");
  e->body = std::make_shared<const std::string>(body_bytes, 'x');
  e->path = std::move(path);
  e->scope = std::move(scope);
  return e;
}

TEST(CacheStore, ChargesKeysHeadersBodiesAndOverhead) {
  auto e = entry_of(1000);
  const auto charged = charged_bytes(*e);
  EXPECT_GT(charged, 1000u + e->header_block->size());
  EXPECT_EQ(charged_bytes(*entry_of(2000)) - charged, 1000u);  // linear in the body

  store s(1 << 20);
  ASSERT_TRUE(s.insert(key_of(1), e));
  ASSERT_TRUE(s.insert(key_of(2), entry_of(500)));
  const auto stats = s.stats();
  EXPECT_EQ(stats.entries, 2u);
  EXPECT_EQ(stats.bytes, charged + charged_bytes(*entry_of(500)));
}

TEST(CacheStore, EvictsLeastRecentlyUsedToStayUnderTheLimit) {
  const auto one = charged_bytes(*entry_of(1000));
  store s(one * 3);
  s.insert(key_of(1), entry_of(1000));
  s.insert(key_of(2), entry_of(1000));
  s.insert(key_of(3), entry_of(1000));
  ASSERT_NE(s.find(key_of(1)), nullptr);  // 1 is now the most recently used
  s.insert(key_of(4), entry_of(1000));    // evicts 2, the least recently used
  EXPECT_NE(s.find(key_of(1)), nullptr);
  EXPECT_EQ(s.find(key_of(2)), nullptr);
  EXPECT_NE(s.find(key_of(3)), nullptr);
  EXPECT_NE(s.find(key_of(4)), nullptr);
  const auto stats = s.stats();
  EXPECT_EQ(stats.entries, 3u);
  EXPECT_EQ(stats.bytes, one * 3);
  EXPECT_EQ(stats.evictions, 1u);
  EXPECT_LE(stats.bytes, stats.max_bytes);
}

TEST(CacheStore, ALargeEntryEvictsAsManyAsItNeeds) {
  const auto small = charged_bytes(*entry_of(100));
  const auto big = charged_bytes(*entry_of(250));
  store s(small * 3);
  for (int i = 0; i < 3; ++i) s.insert(key_of(i), entry_of(100));
  ASSERT_TRUE(s.insert(key_of(9), entry_of(250)));
  EXPECT_LE(s.stats().bytes, small * 3);
  EXPECT_EQ(s.stats().bytes, big + small * (s.stats().entries - 1));
}

TEST(CacheStore, RefusesAnEntryLargerThanTheWholeStore) {
  store s(1000);
  EXPECT_FALSE(s.insert(key_of(1), entry_of(5000)));
  EXPECT_EQ(s.stats().entries, 0u);
  EXPECT_EQ(s.stats().bytes, 0u);
}

TEST(CacheStore, ReplacingAnEntryKeepsTheAccountingExact) {
  store s(1 << 20);
  s.insert(key_of(1), entry_of(1000));
  s.insert(key_of(1), entry_of(10));
  EXPECT_EQ(s.stats().entries, 1u);
  EXPECT_EQ(s.stats().bytes, charged_bytes(*entry_of(10)));
  EXPECT_EQ(s.find(key_of(1))->body->size(), 10u);
}

TEST(CacheStore, EraseIfRemovesMatchingEntriesAndTheirBytes) {
  store s(1 << 20);
  s.insert(key_of(1), entry_of(10, "/a", "c-1"));
  s.insert(key_of(2), entry_of(10, "/a", "c-2"));
  s.insert(key_of(3), entry_of(10, "/b", "c-1"));
  EXPECT_EQ(s.erase_if([](const entry& e) { return e.path == "/a" && e.scope == "c-1"; }), 1u);
  EXPECT_EQ(s.find(key_of(1)), nullptr);
  EXPECT_NE(s.find(key_of(2)), nullptr);
  EXPECT_EQ(s.stats().bytes, 2 * charged_bytes(*entry_of(10, "/a", "c-2")));
}

TEST(CacheStore, ConcurrentUseKeepsTheInvariants) {
  const auto one = charged_bytes(*entry_of(100));
  store s(one * 50);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        s.insert(key_of((i * 7 + t) % 200), entry_of(100));
        s.find(key_of((i * 3 + t) % 200));
      }
    });
  for (auto& t : threads) t.join();
  const auto stats = s.stats();
  EXPECT_LE(stats.bytes, stats.max_bytes);
  EXPECT_EQ(stats.bytes, stats.entries * one);
  std::size_t visited = 0;
  s.for_each([&](const cache_key&, const entry&) { ++visited; });
  EXPECT_EQ(visited, stats.entries);
}

}  // namespace
}  // namespace pcproxy::cache
