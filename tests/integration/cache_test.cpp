// The cache over real sockets with the fake Partner Center: single flight, validators,
// revalidation, stale serving, client directives, and the admin API.
#include "cache/key.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/fake_partner_center.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/manual_clock.hpp"
#include "tests/support/running_proxy.hpp"
#include "tests/support/test_pki.hpp"

#include <rapidjson/document.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>
#include <thread>

namespace pcproxy::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string usage = "/v1/customers/usagerecords";
const header_list alice = {{"Authorization", "Bearer alice-token"}};
const header_list bob = {{"Authorization", "Bearer bob-token"}};

header_list with(header_list base, std::string name, std::string value) {
  base.emplace_back(std::move(name), std::move(value));
  return base;
}

TEST(SingleFlight, FiftyConcurrentIdenticalMissesMakeOneUpstreamRequest) {
  fake_partner_center fake;
  fake.set_delay(usage, 500ms);
  running_proxy proxy(test_config(fake.url()));
  std::vector<std::future<http_result>> clients;
  for (int i = 0; i < 50; ++i)
    clients.push_back(std::async(std::launch::async, [&] { return http_get(proxy.port(), usage, alice); }));
  std::vector<http_result> answers;
  for (auto& c : clients) answers.push_back(c.get());
  EXPECT_EQ(fake.count(usage), 1u);
  for (const auto& a : answers) {
    EXPECT_EQ(a.status, 200);
    EXPECT_EQ(a.body, answers.front().body);
  }
}

TEST(SingleFlight, TheLeadersErrorReachesEveryWaiter) {
  fake_partner_center fake;
  fake.script(usage, {{fault::kind::answer, 500, 300ms}});
  auto settings = test_config(fake.url());
  settings.retry.max_attempts = 1;  // one logical request, one attempt
  running_proxy proxy(settings);
  std::vector<std::future<http_result>> clients;
  for (int i = 0; i < 10; ++i)
    clients.push_back(std::async(std::launch::async, [&] { return http_get(proxy.port(), usage, alice); }));
  for (auto& c : clients) EXPECT_EQ(c.get().status, 500);
  EXPECT_EQ(fake.count(usage), 1u);
}

TEST(Validators, ClientsGetAnEtagAnd304ForIt) {
  fake_partner_center fake;
  running_proxy proxy(test_config(fake.url()));
  const auto first = http_get(proxy.port(), usage, alice);
  const auto etag = first.header("ETag");
  ASSERT_FALSE(etag.empty());
  const auto not_modified = http_get(proxy.port(), usage, with(alice, "If-None-Match", etag));
  EXPECT_EQ(not_modified.status, 304);
  EXPECT_TRUE(not_modified.body.empty());
  EXPECT_FALSE(not_modified.has_header("Content-Length"));
  EXPECT_EQ(not_modified.header("ETag"), etag);
  EXPECT_EQ(not_modified.header("X-Cache"), "HIT");
  EXPECT_EQ(http_get(proxy.port(), usage, with(alice, "If-None-Match", "\"stale\"")).status, 200);
  EXPECT_EQ(fake.count(), 1u);
}

TEST(Validators, TheUpstreamEtagOrTheBodysEtagIsTheValidator) {
  fake_partner_center with_header({.etag_header = true});
  running_proxy proxy_a(test_config(with_header.url()));
  const auto direct = http_get(with_header.port(), usage, alice);
  EXPECT_EQ(http_get(proxy_a.port(), usage, alice).header("ETag"), direct.header("ETag"));

  fake_partner_center with_body({.body_etag = true});
  running_proxy proxy_b(test_config(with_body.url()));
  const auto page = http_get(proxy_b.port(), usage, alice);
  rapidjson::Document doc;
  doc.Parse(page.body.c_str());
  ASSERT_TRUE(doc.IsObject());
  EXPECT_EQ(page.header("ETag"), "\"" + std::string(doc["attributes"]["etag"].GetString()) + "\"");
}

class Freshness : public ::testing::Test {
protected:
  static config::config settings(const std::string& url) {
    auto c = test_config(url);
    c.routes = {{usage, config::cache_policy::cache, 60, 30, false}, {"/*", config::cache_policy::pass, 0, 0, false}};
    return c;
  }
  std::shared_ptr<manual_clock> clock = std::make_shared<manual_clock>();
};

TEST_F(Freshness, RevalidationWithA304KeepsTheStoredBytes) {
  fake_partner_center fake({.etag_header = true});
  running_proxy proxy(settings(fake.url()), clock);
  const auto first = http_get(proxy.port(), usage, alice);
  clock->advance(100s);  // past TTL and stale-while-revalidate
  const auto again = http_get(proxy.port(), usage, alice);
  EXPECT_EQ(again.header("X-Cache"), "REVALIDATED");
  EXPECT_EQ(again.body, first.body);
  ASSERT_EQ(fake.count(usage), 2u);
  EXPECT_EQ(fake.requests()[1].header("If-None-Match"), first.header("ETag"));
  EXPECT_EQ(http_get(proxy.port(), usage, alice).header("X-Cache"), "HIT");
}

TEST_F(Freshness, ChangedDataAfterTheTtlIsFetched) {
  fake_partner_center fake({.etag_header = true});
  running_proxy proxy(settings(fake.url()), clock);
  const auto first = http_get(proxy.port(), usage, alice);
  fake.set_data_version(2);
  clock->advance(100s);
  const auto changed = http_get(proxy.port(), usage, alice);
  EXPECT_EQ(changed.header("X-Cache"), "MISS");
  EXPECT_NE(changed.body, first.body);
  EXPECT_NE(changed.header("ETag"), first.header("ETag"));
}

TEST_F(Freshness, StaleWhileRevalidateAnswersAtOnceAndRefreshesOnceInTheBackground) {
  fake_partner_center fake;
  running_proxy proxy(settings(fake.url()), clock);
  const auto first = http_get(proxy.port(), usage, alice);
  fake.set_data_version(2);
  fake.set_delay(usage, 1s);
  clock->advance(70s);  // past the 60 s TTL, inside the 30 s window
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) {
    const auto stale = http_get(proxy.port(), usage, alice);
    EXPECT_EQ(stale.header("X-Cache"), "STALE");
    EXPECT_EQ(stale.body, first.body);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, 900ms);  // nobody waited for upstream
  ASSERT_TRUE(fake.wait_for_requests(2, 5s));  // the one background refresh
  // The refreshed page lands in the background: nothing to await but the result.
  http_result after;
  EXPECT_TRUE(eventually([&] {
    after = http_get(proxy.port(), usage, with(alice, "Cache-Control", "only-if-cached"));
    return after.header("X-Cache") == "HIT";
  }, 5s));
  EXPECT_EQ(after.header("X-Cache"), "HIT");
  EXPECT_NE(after.body, first.body);
  EXPECT_EQ(fake.count(usage), 2u);  // exactly one refresh for three stale answers
}

TEST_F(Freshness, StaleIfErrorServesStoredDataOn500s) {
  fake_partner_center fake;
  running_proxy proxy(settings(fake.url()), clock);
  const auto first = http_get(proxy.port(), usage, alice);
  clock->advance(3600s);
  fake.script(usage, parse_script("500,503,500,503,500,503"));  // every attempt of both requests fails
  for (int i = 0; i < 2; ++i) {
    const auto res = http_get(proxy.port(), usage, alice);
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.header("X-Cache"), "STALE");
    EXPECT_THAT(res.header("Cache-Status"), HasSubstr("stale-if-error"));
    EXPECT_EQ(res.body, first.body);
  }
}

TEST_F(Freshness, StaleIfErrorServesStoredDataWhenUpstreamIsDown) {
  auto fake = std::make_unique<fake_partner_center>();
  running_proxy proxy(settings(fake->url()), clock);
  const auto first = http_get(proxy.port(), usage, alice);
  fake.reset();  // upstream gone
  clock->advance(3600s);
  const auto res = http_get(proxy.port(), usage, alice);
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.header("X-Cache"), "STALE");
  EXPECT_THAT(res.header("Cache-Status"), HasSubstr("detail=connect"));
  EXPECT_EQ(res.body, first.body);
  // Without a stored page the client sees the failure.
  EXPECT_EQ(http_get(proxy.port(), usage + "?size=3", alice).status, 502);
}

TEST_F(Freshness, OnlyIfCachedAnswers504OnAMiss) {
  fake_partner_center fake;
  running_proxy proxy(settings(fake.url()), clock);
  const auto miss = http_get(proxy.port(), usage, with(alice, "Cache-Control", "only-if-cached"));
  EXPECT_EQ(miss.status, 504);
  EXPECT_THAT(miss.body, HasSubstr("only-if-cached"));
  EXPECT_EQ(fake.count(), 0u);
  http_get(proxy.port(), usage, alice);
  EXPECT_EQ(http_get(proxy.port(), usage, with(alice, "Cache-Control", "only-if-cached")).status, 200);
}

// ---- admin API ----

class Admin : public ::testing::Test {
protected:
  fake_partner_center fake;
};

TEST_F(Admin, ListsEntriesWithoutSecrets) {
  running_proxy proxy(test_config(fake.url()));
  const auto walk_token = continuation_token(caller_id("Bearer alice-token"), 10);
  http_get(proxy.port(), usage, alice);
  http_get(proxy.port(), usage + "?size=10&seekOperation=Next", with(alice, "MS-ContinuationToken", walk_token));
  http_get(proxy.port(), usage, bob);
  const auto listing = http_get(proxy.admin_port(), "/admin/cache");
  ASSERT_EQ(listing.status, 200);
  EXPECT_THAT(listing.body, Not(HasSubstr("alice-token")));
  EXPECT_THAT(listing.body, Not(HasSubstr(walk_token)));
  EXPECT_THAT(listing.body, Not(HasSubstr("seekOperation")));
  rapidjson::Document doc;
  doc.Parse(listing.body.c_str());
  ASSERT_TRUE(doc.IsObject()) << listing.body;
  EXPECT_EQ(doc["entries"].GetUint(), 3u);
  EXPECT_GT(doc["bytes"].GetUint64(), 0u);
  EXPECT_EQ(doc["items"].Size(), 3u);
  EXPECT_EQ(doc["misses"].GetUint(), 3u);
  const auto& item = doc["items"][0];
  EXPECT_STREQ(item["path"].GetString(), usage.c_str());
  EXPECT_EQ(std::string(item["scope"].GetString()).rfind("c-", 0), 0u);
  EXPECT_STREQ(item["state"].GetString(), "fresh");
  const auto& route = doc["routes"][0];
  EXPECT_STREQ(route["path"].GetString(), usage.c_str());
  EXPECT_EQ(route["entries"].GetUint(), 3u);
}

TEST_F(Admin, PurgesAllByPrefixOrByScope) {
  running_proxy proxy(test_config(fake.url()));
  auto fill = [&] {
    http_get(proxy.port(), usage, alice);
    http_get(proxy.port(), usage + "?size=3", alice);
    http_get(proxy.port(), usage, bob);
  };
  fill();
  auto purge = [&](const std::string& query) {
    return http_request(proxy.admin_port(), "DELETE", "/admin/cache" + query).body;
  };
  EXPECT_EQ(purge("?prefix=/v1/customers/usage"), "{\"purged\":3,\"tiers\":{\"memory\":3}}");
  fill();
  const auto bob_scope = cache::credential_scope("Bearer bob-token");  // as /admin/cache lists it
  EXPECT_THAT(http_get(proxy.admin_port(), "/admin/cache").body, HasSubstr(bob_scope));
  EXPECT_EQ(purge("?scope=" + bob_scope), "{\"purged\":1,\"tiers\":{\"memory\":1}}");
  EXPECT_EQ(purge("?prefix=/v1/other"), "{\"purged\":0,\"tiers\":{\"memory\":0}}");
  EXPECT_EQ(purge(""), "{\"purged\":2,\"tiers\":{\"memory\":2}}");
  EXPECT_EQ(http_get(proxy.port(), usage, alice).header("X-Cache"), "MISS");
  EXPECT_EQ(http_request(proxy.admin_port(), "DELETE", "/admin/cache?prefix=nope").status, 400);
  EXPECT_EQ(http_request(proxy.admin_port(), "POST", "/admin/cache").status, 405);
}

TEST_F(Admin, WithATokenFileAdminCallsNeedThatToken) {
  auto settings = test_config(fake.url());
  settings.admin.token_file = write_temp_file("admin-token", "s3cret-admin\n");
  running_proxy proxy(settings);
  EXPECT_EQ(http_get(proxy.admin_port(), "/admin/cache").status, 401);
  EXPECT_EQ(http_get(proxy.admin_port(), "/admin/cache", {{"Authorization", "Bearer wrong"}}).status, 401);
  EXPECT_EQ(http_request(proxy.admin_port(), "DELETE", "/admin/cache").status, 401);
  EXPECT_EQ(http_get(proxy.admin_port(), "/admin/cache", {{"Authorization", "Bearer s3cret-admin"}}).status, 200);
  EXPECT_EQ(http_get(proxy.admin_port(), "/healthz").status, 200);  // probes stay open
  EXPECT_EQ(http_get(proxy.admin_port(), "/readyz").status, 200);
}

// ---- tenant scope ----

class TenantScope : public ::testing::Test {
protected:
  TenantScope() {
    auto settings = test_config(fake.url());
    settings.cache.scope = config::cache_scope::tenant;
    proxy = std::make_unique<running_proxy>(settings);
  }
  static header_list as(const std::string& token) { return {{"Authorization", token}}; }
  std::string jwt(const std::string& tid, const std::string& nonce, bool valid = true) {
    return make_test_jwt(tid, std::chrono::system_clock::now() + 1h, valid, nonce);
  }
  fake_partner_center fake;
  std::unique_ptr<running_proxy> proxy;
};

TEST_F(TenantScope, ARefreshedTokenOfTheSameTenantHits) {
  const auto old_token = jwt("contoso", "old");
  const auto new_token = jwt("contoso", "new");
  http_get(proxy->port(), usage, as(old_token));
  http_get(proxy->port(), usage + "?size=5", as(old_token));
  ASSERT_EQ(fake.count(), 2u);
  // The new token proves itself once (any request upstream accepts)...
  EXPECT_EQ(http_get(proxy->port(), "/v1/customers", as(new_token)).status, 200);
  // ...and then reads what the old token stored.
  const auto hit = http_get(proxy->port(), usage + "?size=5", as(new_token));
  EXPECT_EQ(hit.header("X-Cache"), "HIT");
  EXPECT_EQ(fake.count(), 3u);
}

TEST_F(TenantScope, AForgedTokenWithTheTidGetsUpstreams401AndNoCachedByte) {
  const auto real = http_get(proxy->port(), usage, as(jwt("contoso", "real")));
  ASSERT_EQ(real.status, 200);
  const auto forged = http_get(proxy->port(), usage, as(jwt("contoso", "forged", false)));
  EXPECT_EQ(forged.status, 401);
  EXPECT_THAT(forged.body, HasSubstr("PartnerFD"));
  EXPECT_THAT(forged.body, Not(HasSubstr("Customer")));
  EXPECT_EQ(fake.count(), 2u);  // it was asked, and said no
}

TEST_F(TenantScope, AnotherTenantNeverHits) {
  const auto contoso = http_get(proxy->port(), usage, as(jwt("contoso", "1")));
  const auto fabrikam = http_get(proxy->port(), usage, as(jwt("fabrikam", "1")));
  EXPECT_EQ(fabrikam.header("X-Cache"), "MISS");
  EXPECT_NE(fabrikam.body, contoso.body);
  EXPECT_THAT(fabrikam.body, Not(HasSubstr(caller_id(jwt("contoso", "1")))));
}

}  // namespace
}  // namespace pcproxy::testing
