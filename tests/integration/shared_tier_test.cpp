// The shared tier with the real engine: two or three pcproxy instances, one fake Partner
// Center, one Debian redis-server started here on a free loopback port. Pages fetched
// by one instance are hits on another, concurrent misses across instances make one
// upstream request, scopes stay apart, purges and throttle holds reach every instance,
// and Redis failing (killed, wrong password, untrusted certificate) never fails a request.
#include "config/loader.hpp"
#include "proxy/service.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/fake_partner_center.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/running_proxy.hpp"
#include "tests/support/test_pki.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>
#include <regex>
#include <thread>

namespace pcproxy::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string usage = "/v1/customers/usagerecords";
const header_list alice = {{"Authorization", "Bearer alice-token"}};
const header_list bob = {{"Authorization", "Bearer bob-token"}};

class SharedTier : public ::testing::Test {
protected:
  void SetUp() override {
    if (!redis_available()) GTEST_SKIP() << "redis-server is not installed: run scripts/bootstrap";
  }

  config::config settings_for(const redis_server& redis) {
    auto c = test_config(fake.url());
    std::string why;
    c.cache.shared.url = config::parse_redis_url(redis.url(), why);
    c.cache.shared.timeout_ms = 1000;  // sanitizer builds are slow; the failure tests set their own
    c.cache.single_flight_wait_ms = 10000;
    // No month boundary: a run across midnight at a month's end still hits.
    c.routes = {{usage, config::cache_policy::cache, 3600, 0, false}, {"/*", config::cache_policy::pass, 0, 0, false}};
    return c;
  }
  static void settle(running_proxy& p) {
    // Writes to Redis go out without waiting: a PING behind them says they are done.
    net::io_context ioc;
    net::co_spawn(ioc, p.service().store()->flush(), net::detached);
    ioc.run();
  }
  static std::string admin_cache(running_proxy& p) { return http_get(p.admin_port(), "/admin/cache").body; }

  fake_partner_center fake{fake_options{.customers = 30}};
};

TEST_F(SharedTier, APageFetchedThroughOneInstanceIsAHitOnAnother) {
  redis_server redis;
  running_proxy a(settings_for(redis)), b(settings_for(redis));
  const auto miss = http_get(a.port(), usage + "?size=4", alice);
  ASSERT_EQ(miss.header("X-Cache"), "MISS");
  settle(a);
  const auto hit = http_get(b.port(), usage + "?size=4", alice);
  EXPECT_EQ(hit.header("X-Cache"), "HIT");
  EXPECT_THAT(hit.header("Cache-Status"), HasSubstr("pcproxy; hit; detail=shared; ttl="));
  EXPECT_EQ(hit.body, miss.body);
  EXPECT_EQ(fake.count(usage), 1u);
  const auto again = http_get(b.port(), usage + "?size=4", alice);  // promoted into B's memory
  EXPECT_THAT(again.header("Cache-Status"), Not(HasSubstr("detail=shared")));
  EXPECT_THAT(http_get(b.admin_port(), "/metrics").body,
              HasSubstr("pcproxy_cache_tier_reads_total{tier=\"shared\",result=\"hit\"} 1"));
}

TEST_F(SharedTier, ConcurrentMissesSpreadOverTwoInstancesMakeOneUpstreamRequest) {
  redis_server redis;
  running_proxy a(settings_for(redis)), b(settings_for(redis));
  fake.set_delay(usage, 300ms);
  std::vector<std::future<http_result>> calls;
  for (int i = 0; i < 40; ++i)
    calls.push_back(std::async(std::launch::async, [&, i] {
      return http_get(i % 2 ? a.port() : b.port(), usage + "?size=7", alice);
    }));
  std::set<std::string> bodies;
  for (auto& c : calls) {
    const auto res = c.get();
    EXPECT_EQ(res.status, 200);
    bodies.insert(res.body);
  }
  EXPECT_EQ(bodies.size(), 1u);
  EXPECT_EQ(fake.count(usage), 1u);
  const auto metrics = http_get(a.admin_port(), "/metrics").body + http_get(b.admin_port(), "/metrics").body;
  EXPECT_THAT(metrics, HasSubstr("pcproxy_cache_shared_leases_total{outcome=\"taken\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("pcproxy_cache_shared_leases_total{outcome=\"filled\"} 1"));
}

TEST_F(SharedTier, ScopesStayApartAcrossInstances) {
  redis_server redis;
  running_proxy a(settings_for(redis)), b(settings_for(redis));
  const auto alices = http_get(a.port(), usage + "?size=5", alice).body;
  settle(a);
  const auto bobs = http_get(b.port(), usage + "?size=5", bob);
  EXPECT_EQ(bobs.header("X-Cache"), "MISS");
  EXPECT_NE(bobs.body, alices);
  EXPECT_EQ(bobs.body, http_get(fake.port(), usage + "?size=5", bob).body);
  EXPECT_EQ(http_get(b.port(), usage + "?size=5", alice).body, alices);
}

TEST_F(SharedTier, KeysHoldHashesOnly) {
  redis_server redis;
  running_proxy a(settings_for(redis));
  for (int size : {2, 3}) http_get(a.port(), usage + "?size=" + std::to_string(size), alice);
  settle(a);
  const auto keys = redis.cli({"--scan"});
  std::istringstream lines(keys);
  std::size_t count = 0;
  for (std::string key; std::getline(lines, key);) {
    if (key.empty()) continue;
    ++count;
    EXPECT_TRUE(std::regex_match(key, std::regex("pcproxy:(e:[0-9a-f]{64}|i:c-[0-9a-f]{32}|scopes)"))) << key;
  }
  EXPECT_EQ(count, 4u);  // two pages, one scope index, the set of scopes
}

TEST_F(SharedTier, APurgeOnOneInstanceReachesEveryOther) {
  redis_server redis;
  running_proxy a(settings_for(redis)), b(settings_for(redis));
  http_get(a.port(), usage + "?size=6", alice);
  settle(a);
  ASSERT_EQ(http_get(b.port(), usage + "?size=6", alice).header("X-Cache"), "HIT");  // now in B's memory
  ASSERT_TRUE(eventually([&] { return admin_cache(b).find("\"name\":\"shared\",\"state\":\"ok\"") != std::string::npos; }));
  const auto purged = http_request(a.admin_port(), "DELETE", "/admin/cache?prefix=/v1/customers");
  EXPECT_EQ(purged.body, R"({"purged":1,"tiers":{"memory":1,"shared":1}})");
  EXPECT_TRUE(eventually([&] { return b.service().store()->memory().stats().entries == 0; }, 1s))
      << "B still holds the page a second after the purge on A";
  EXPECT_EQ(http_get(b.port(), usage + "?size=6", alice).header("X-Cache"), "MISS");
}

TEST_F(SharedTier, AThrottleHoldOnOneInstanceHoldsTheOthers) {
  redis_server redis;
  running_proxy a(settings_for(redis)), b(settings_for(redis));
  ASSERT_TRUE(eventually([&] { return admin_cache(b).find("not subscribed") == std::string::npos; }));
  fake.script(usage, {fault{.status = 429, .retry_after = "30"}}, true);
  EXPECT_EQ(http_get(a.port(), usage + "?size=8", alice).status, 429);  // upstream's, not retried: 30 s > deadline
  const auto asked = fake.count(usage);
  http_result held;
  ASSERT_TRUE(eventually([&] {
    held = http_get(b.port(), usage + "?size=9", alice);
    return held.status == 429 && held.body.find("4290") != std::string::npos;
  }));
  EXPECT_FALSE(held.header("Retry-After").empty());
  EXPECT_EQ(fake.count(usage), asked) << "B asked upstream although A's hold covers the caller";
  EXPECT_EQ(http_get(b.port(), usage + "?size=9", bob).status, 429);  // bob is not held: upstream's own 429
  EXPECT_EQ(fake.count(usage), asked + 1);
}

TEST_F(SharedTier, RedisKilledAndRestartedMidTrafficFailsNoRequestAndSharingResumes) {
  redis_server redis;
  auto settings = settings_for(redis);
  settings.cache.shared.timeout_ms = 200;
  running_proxy a(settings), b(settings);
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, served{0};
  auto traffic = std::async(std::launch::async, [&] {
    for (int i = 0; !stop && i < 5000; ++i) {
      const auto res = http_get(i % 2 ? a.port() : b.port(), usage + "?size=" + std::to_string(1 + i % 10), alice);
      if (res.status != 200) ++failures;
      ++served;
    }
  });
  ASSERT_TRUE(eventually([&] { return served > 20; }));
  redis.kill();
  const auto during = served.load();
  ASSERT_TRUE(eventually([&] { return served > during + 20; }));
  redis.restart();
  const auto after = served.load();
  ASSERT_TRUE(eventually([&] { return served > after + 20; }));
  stop = true;
  traffic.get();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_THAT(admin_cache(a), HasSubstr("\"name\":\"shared\""));

  // Sharing resumes by itself: a new page through A is a hit from Redis on B.
  int page = 100;  // a new page each try: one stored while Redis was down stays in A's memory only
  ASSERT_TRUE(eventually([&] {
    const auto target = usage + "?size=" + std::to_string(++page);
    http_get(a.port(), target, alice);
    settle(a);
    return http_get(b.port(), target, alice).header("Cache-Status").find("detail=shared") != std::string::npos;
  }, 10s));
}

TEST_F(SharedTier, AWrongPasswordIsAnUnavailableTierNotAFailedRequest) {
  redis_server redis(redis_options{.password = "correct horse"});
  auto wrong = settings_for(redis);
  wrong.cache.shared.password_file = write_temp_file("redis-wrong", "battery staple\n");
  running_proxy a(wrong);
  EXPECT_EQ(http_get(a.port(), usage + "?size=3", alice).status, 200);
  EXPECT_EQ(http_get(a.port(), usage + "?size=4", alice).status, 200);
  EXPECT_THAT(admin_cache(a), HasSubstr("\"name\":\"shared\",\"state\":\"down"));
  EXPECT_THAT(http_get(a.admin_port(), "/metrics").body, HasSubstr("pcproxy_cache_tier_up{tier=\"shared\"} 0"));

  auto right = settings_for(redis);
  right.cache.shared.password_file = write_temp_file("redis-right", "correct horse\n");
  running_proxy b(right), c(right);
  http_get(b.port(), usage + "?size=5", alice);
  settle(b);
  EXPECT_THAT(http_get(c.port(), usage + "?size=5", alice).header("Cache-Status"), HasSubstr("detail=shared"));
}

TEST_F(SharedTier, ASlowRedisCostsARequestItsTimeoutOnceThenNothing) {
  redis_server redis(redis_options{.extra_args = {"--enable-debug-command", "yes"}});
  auto settings = settings_for(redis);
  settings.cache.shared.timeout_ms = 50;
  running_proxy a(settings);
  ASSERT_EQ(http_get(a.port(), usage + "?size=2", alice).status, 200);
  auto sleeping = std::async(std::launch::async, [&] { return redis.cli({"DEBUG", "SLEEP", "2"}); });
  std::this_thread::sleep_for(100ms);  // Redis is asleep now
  for (int size = 3; size < 13; ++size) {
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(http_get(a.port(), usage + "?size=" + std::to_string(size), alice).status, 200);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 1s) << "a request waited on the sleeping Redis";
  }
  sleeping.get();
  const auto metrics = http_get(a.admin_port(), "/metrics").body;
  std::smatch timeouts;
  ASSERT_TRUE(std::regex_search(metrics, timeouts, std::regex("pcproxy_cache_tier_timeouts_total\\{tier=\"shared\"\\} (\\d+)")));
  EXPECT_GE(std::stoi(timeouts[1]), 1);
}

TEST_F(SharedTier, AFullRedisRefusesWritesAndNoRequestFails) {
  redis_server redis(redis_options{.extra_args = {"--maxmemory", "1200kb", "--maxmemory-policy", "noeviction"}});
  running_proxy a(settings_for(redis));
  for (int size = 1; size <= 30; ++size)
    EXPECT_EQ(http_get(a.port(), usage + "?size=" + std::to_string(size) + "&fill=" + std::string(2000, 'x'), alice).status,
              200);
  settle(a);
  const auto metrics = http_get(a.admin_port(), "/metrics").body;
  std::smatch errors;
  ASSERT_TRUE(std::regex_search(metrics, errors, std::regex("pcproxy_cache_tier_errors_total\\{tier=\"shared\"\\} (\\d+)")));
  EXPECT_GT(std::stoi(errors[1]), 0) << "no write was refused: is the page too small to fill 1.2 MB?";
}

TEST_F(SharedTier, RedissVerifiesTheServerAgainstTheConfiguredCa) {
  const auto pki = make_test_pki({"localhost"}, {"127.0.0.1"});
  redis_server redis(redis_options{.tls_cert_pem = pki.server_cert_pem, .tls_key_pem = pki.server_key_pem});
  auto trusted = settings_for(redis);
  trusted.cache.shared.ca_file = write_temp_file("redis-ca", pki.ca_cert_pem);
  running_proxy a(trusted), b(trusted);
  http_get(a.port(), usage + "?size=6", alice);
  settle(a);
  EXPECT_THAT(http_get(b.port(), usage + "?size=6", alice).header("Cache-Status"), HasSubstr("detail=shared"));

  running_proxy untrusting(settings_for(redis));  // the system store does not know the test CA
  EXPECT_EQ(http_get(untrusting.port(), usage + "?size=6", alice).status, 200);
  EXPECT_THAT(admin_cache(untrusting), HasSubstr("\"name\":\"shared\",\"state\":\"down"));
}

}  // namespace
}  // namespace pcproxy::testing
