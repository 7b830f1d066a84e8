// The tier contract (cache/tier.hpp), checked the same way for every tier: round trip,
// replacement, purges by prefix, path and scope, eviction under a byte bound, expiry,
// and concurrent use. A new tier joins by adding its factory to the list at the end.
#include "tests/unit/tier_factories.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace pcproxy::testing {
namespace {

using namespace std::chrono_literals;
using cache::cache_key;
using cache::entry;

cache_key key_of(std::string_view scope, int n) {
  return cache::derive_key({scope, "GET", "/v1/customers/usagerecords", "page=" + std::to_string(n), "", "", ""});
}

class TierConformance : public ::testing::TestWithParam<tier_factory> {
protected:
  std::shared_ptr<cache::tier> make(std::size_t max_bytes = std::size_t{64} << 20) {
    return GetParam().make({max_bytes, clock, dir.path()});
  }

  std::shared_ptr<const entry> page(std::string body, std::string scope = "c-alice",
                                    std::string path = "/v1/customers/usagerecords") {
    auto e = std::make_shared<entry>();
    e->status = 200;
    e->header_block = cache::header_block({{"Content-Type", "application/json; charset=utf-8"}, {"ETag", "\"v1\""}, {"X-Odd", "a\tb"}});
    e->body = std::make_shared<const std::string>(std::move(body));
    e->validator = "\"v1\"";
    e->stored_at = clock->now() - 10s;
    e->revalidated_at = clock->now();
    e->rules = {3600s, 300s, 86400s, true};
    e->scope = std::move(scope);
    e->path = std::move(path);
    e->route = "/v1/customers/usagerecords";
    return e;
  }

  std::shared_ptr<manual_clock> clock = std::make_shared<manual_clock>();
  temp_dir dir;
  tier_runner run;
};

TEST_P(TierConformance, WhatIsInsertedComesBackByteForByte) {
  auto tier = make();
  std::string body = "\xEF\xBB\xBF{\"items\":[{\"totalCost\":120.5682999999995904716}],\"x\":\"";
  body += std::string("\0\x01\xff", 3) + "\"}";
  const auto stored = page(body);
  EXPECT_EQ(run(tier->insert(key_of("c-alice", 1), stored)), cache::tier_failure::none);
  run(tier->flush());
  const auto got = run(tier->lookup(key_of("c-alice", 1)));
  ASSERT_TRUE(got.found) << cache::to_string(got.failure);
  EXPECT_EQ(*got.found->body, body);
  EXPECT_EQ(got.found->status, 200u);
  EXPECT_EQ(cache::headers(*got.found), cache::headers(*stored));
  EXPECT_EQ(*got.found->header_block, *stored->header_block);
  EXPECT_EQ(got.found->validator, stored->validator);
  EXPECT_EQ(got.found->stored_at, stored->stored_at);
  EXPECT_EQ(got.found->revalidated_at, stored->revalidated_at);
  EXPECT_EQ(got.found->rules, stored->rules);
  EXPECT_EQ(got.found->scope, "c-alice");
  EXPECT_EQ(got.found->path, "/v1/customers/usagerecords");
  EXPECT_EQ(got.found->route, "/v1/customers/usagerecords");
  EXPECT_EQ(tier->stats().entries, 1u);
  EXPECT_GE(tier->stats().hits, 1u);
}

TEST_P(TierConformance, AnUnknownKeyIsAMissAndAnotherKeyNeverAnswers) {
  auto tier = make();
  run(tier->insert(key_of("c-alice", 1), page("{\"a\":1}")));
  run(tier->flush());
  EXPECT_FALSE(run(tier->lookup(key_of("c-alice", 2))).found);
  EXPECT_FALSE(run(tier->lookup(key_of("c-bob", 1))).found);
  EXPECT_EQ(run(tier->lookup(key_of("c-bob", 1))).failure, cache::tier_failure::none);
}

TEST_P(TierConformance, AnInsertReplacesWhatTheKeyHeld) {
  auto tier = make();
  run(tier->insert(key_of("c-alice", 1), page("{\"v\":1}")));
  run(tier->insert(key_of("c-alice", 1), page("{\"v\":2}")));
  run(tier->flush());
  EXPECT_EQ(*run(tier->lookup(key_of("c-alice", 1))).found->body, "{\"v\":2}");
  EXPECT_EQ(tier->stats().entries, 1u);
}

TEST_P(TierConformance, PurgesByPrefixPathAndScopeRemoveExactlyWhatTheyMatch) {
  auto tier = make();
  run(tier->insert(key_of("c-alice", 1), page("{}", "c-alice", "/v1/customers/usagerecords")));
  run(tier->insert(key_of("c-alice", 2), page("{}", "c-alice", "/v1/customers/x/subscriptions")));
  run(tier->insert(key_of("c-alice", 3), page("{}", "c-alice", "/v1/invoices")));
  run(tier->insert(key_of("c-bob", 1), page("{}", "c-bob", "/v1/customers/usagerecords")));
  run(tier->insert(key_of("c-bob", 2), page("{}", "c-bob", "/v1/invoices")));
  run(tier->flush());

  cache::purge_filter by_prefix_and_scope;
  by_prefix_and_scope.scope = "c-alice";
  by_prefix_and_scope.path_prefix = "/v1/customers";
  EXPECT_EQ(run(tier->purge(by_prefix_and_scope)).purged, 2u);
  EXPECT_FALSE(run(tier->lookup(key_of("c-alice", 1))).found);
  EXPECT_FALSE(run(tier->lookup(key_of("c-alice", 2))).found);
  EXPECT_TRUE(run(tier->lookup(key_of("c-alice", 3))).found);
  EXPECT_TRUE(run(tier->lookup(key_of("c-bob", 1))).found);

  cache::purge_filter by_path;
  by_path.path = "/v1/invoices";
  by_path.scope = "c-bob";
  EXPECT_EQ(run(tier->purge(by_path)).purged, 1u);
  EXPECT_TRUE(run(tier->lookup(key_of("c-alice", 3))).found);

  cache::purge_filter by_scope;
  by_scope.scope = "c-bob";
  EXPECT_EQ(run(tier->purge(by_scope)).purged, 1u);
  EXPECT_EQ(run(tier->purge(cache::purge_filter{})).purged, 1u);  // everything: alice's invoices
  EXPECT_EQ(tier->stats().entries, 0u);
  EXPECT_EQ(tier->stats().bytes, 0u);
}

TEST_P(TierConformance, ABoundedTierEvictsTheLeastRecentlyUsed) {
  // Bodies that do not compress: every tier charges them at about their size.
  std::string noise(4000, '\0');
  std::uint64_t x = 88172645463325252ull;
  for (auto& c : noise) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c = static_cast<char>(x);
  }
  auto tier = make(40000);
  for (int i = 0; i < 8; ++i) run(tier->insert(key_of("c-alice", i), page(noise + std::to_string(i))));
  run(tier->flush());
  ASSERT_TRUE(run(tier->lookup(key_of("c-alice", 0))).found);  // 0 becomes the most recently used
  run(tier->flush());
  for (int i = 8; i < 40; ++i) {
    run(tier->insert(key_of("c-alice", i), page(noise + std::to_string(i))));
    run(tier->flush());
  }
  const auto stats = tier->stats();
  EXPECT_LE(stats.bytes, stats.max_bytes);
  EXPECT_GT(stats.evictions, 0u);
  EXPECT_LT(stats.entries, 40u);
  EXPECT_TRUE(run(tier->lookup(key_of("c-alice", 39))).found);  // the newest stays
  EXPECT_FALSE(run(tier->lookup(key_of("c-alice", 1))).found);  // an old one went
}

TEST_P(TierConformance, AnEntryPastItsLastWindowIsNeverReturned) {
  auto tier = make();
  run(tier->insert(key_of("c-alice", 1), page("{}")));
  run(tier->flush());
  clock->advance(3600s + 86400s - 1s);  // inside stale-if-error: still kept
  EXPECT_TRUE(run(tier->lookup(key_of("c-alice", 1))).found);
  clock->advance(2s);
  EXPECT_FALSE(run(tier->lookup(key_of("c-alice", 1))).found);
}

TEST_P(TierConformance, ConcurrentUseKeepsEveryKeysOwnBytes) {
  auto tier = make(std::size_t{1} << 20);
  net::io_context ioc;
  std::atomic<int> wrong{0}, found{0};
  for (int worker = 0; worker < 8; ++worker)
    net::co_spawn(ioc, [&, worker]() -> awaitable<void> {
      for (int i = 0; i < 60; ++i) {
        const int n = (i * 7 + worker) % 24;
        co_await tier->insert(key_of("c-alice", n), page("{\"n\":" + std::to_string(n) + "}"));
        const auto got = co_await tier->lookup(key_of("c-alice", (i * 5 + worker) % 24));
        if (!got.found) continue;
        ++found;
        if (got.found->body->find("\"n\":" + std::to_string((i * 5 + worker) % 24) + "}") == std::string::npos) ++wrong;
      }
    }, net::detached);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) threads.emplace_back([&] { ioc.run(); });
  for (auto& t : threads) t.join();
  run(tier->flush());
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(found.load(), 0);
  const auto stats = tier->stats();
  EXPECT_LE(stats.entries, 24u);
  EXPECT_LE(stats.bytes, stats.max_bytes);
}

INSTANTIATE_TEST_SUITE_P(EveryTier, TierConformance, ::testing::ValuesIn(tier_factories()),
                         [](const auto& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace pcproxy::testing
