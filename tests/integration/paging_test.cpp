// Paging through the proxy, caching, and isolation between callers, with the fake
// Partner Center as upstream over loopback.
#include "proxy/service.hpp"
#include "tests/support/fake_partner_center.hpp"
#include "tests/support/page_walker.hpp"
#include "tests/support/running_proxy.hpp"
#include "tests/support/test_pki.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pcproxy::testing {
namespace {

using ::testing::Each;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string usage = "/v1/customers/usagerecords";
const header_list alice = {{"Authorization", "Bearer alice-token"}, {"Accept", "application/json"}};
const header_list bob = {{"Authorization", "Bearer bob-token"}, {"Accept", "application/json"}};

std::vector<std::string> x_cache_of(const walk_result& w) {
  std::vector<std::string> out;
  for (const auto& p : w.pages) out.push_back(p.header("X-Cache"));
  return out;
}

class Paging : public ::testing::Test {
protected:
  fake_partner_center fake{{.customers = 25, .page_size = 10}};
  running_proxy proxy{test_config(fake.url())};
};

TEST_F(Paging, AWalkThroughTheProxyGetsExactlyTheFakesBytes) {
  const auto direct = walk_pages(fake.port(), usage, alice);
  ASSERT_EQ(direct.pages.size(), 3u);  // 25 customers, 10 per page
  fake.clear();

  const auto proxied = walk_pages(proxy.port(), usage, alice);
  EXPECT_EQ(proxied.bodies(), direct.bodies());
  EXPECT_THAT(x_cache_of(proxied), Each(std::string("MISS")));
  EXPECT_EQ(fake.count(usage), 3u);
  // The continuation tokens reached the fake byte for byte.
  const auto seen = fake.requests();
  EXPECT_FALSE(seen[0].has_header("MS-ContinuationToken"));
  EXPECT_EQ(seen[1].header("MS-ContinuationToken"), continuation_token(caller_id("Bearer alice-token"), 10));
  EXPECT_EQ(seen[2].header("MS-ContinuationToken"), continuation_token(caller_id("Bearer alice-token"), 20));
}

TEST_F(Paging, ASecondWalkIsServedFromTheCache) {
  const auto first = walk_pages(proxy.port(), usage, alice);
  const auto upstream_requests = fake.count();
  const auto second = walk_pages(proxy.port(), usage, alice);
  EXPECT_EQ(fake.count(), upstream_requests);  // the fake saw nothing new
  EXPECT_EQ(second.bodies(), first.bodies());
  EXPECT_THAT(x_cache_of(second), Each(std::string("HIT")));
  for (const auto& page : second.pages) {
    EXPECT_THAT(page.header("Cache-Status"), HasSubstr("pcproxy; hit; ttl="));
    EXPECT_FALSE(page.header("Age").empty());
    EXPECT_EQ(page.header("Content-Type"), "application/json; charset=utf-8");
    EXPECT_EQ(page.header("MS-ServerId"), "fake-partner-center-1");  // stored upstream headers
  }
  EXPECT_EQ(proxy.service().store()->memory().stats().entries, 3u);
}

TEST_F(Paging, MissThenHitIsVisibleInTheHeaders) {
  const auto miss = http_get(proxy.port(), usage, alice);
  EXPECT_EQ(miss.header("X-Cache"), "MISS");
  EXPECT_EQ(miss.header("Age"), "0");
  // The route's TTL is an hour, cut short by the end of the UTC month (month_boundary):
  // in the last hour of a month the page is fresh only until midnight.
  const auto now = std::chrono::system_clock::now();
  const std::chrono::year_month_day today{std::chrono::floor<std::chrono::days>(now)};
  const auto next_month = std::chrono::sys_days{(today.year() / today.month() + std::chrono::months{1}) / 1};
  const auto expected = std::min<long long>(3600, std::chrono::ceil<std::chrono::seconds>(next_month - now).count());
  const auto status = miss.header("Cache-Status");
  ASSERT_THAT(status, HasSubstr("fwd=uri-miss; fwd-status=200; stored; ttl="));
  const auto ttl = std::stoll(status.substr(status.find("ttl=") + 4));
  EXPECT_LE(std::llabs(ttl - expected), 2) << status << " (expected ttl=" << expected << ")";
  const auto hit = http_get(proxy.port(), usage, alice);
  EXPECT_EQ(hit.header("X-Cache"), "HIT");
  EXPECT_EQ(hit.body, miss.body);
}

TEST_F(Paging, AnotherTokenGetsItsOwnDataAndNeverTheFirstCallers) {
  const auto a = walk_pages(proxy.port(), usage, alice);
  const auto requests_after_alice = fake.count();
  const auto b = walk_pages(proxy.port(), usage, bob);
  EXPECT_EQ(fake.count(), requests_after_alice + b.pages.size());  // every page of bob's went upstream
  EXPECT_THAT(x_cache_of(b), Each(std::string("MISS")));
  const auto alice_id = caller_id("Bearer alice-token");
  const auto bob_id = caller_id("Bearer bob-token");
  for (const auto& page : b.pages) {
    EXPECT_THAT(page.body, HasSubstr(bob_id));
    EXPECT_THAT(page.body, Not(HasSubstr(alice_id)));
  }
  // And bob's second walk hits bob's entries, still never alice's.
  const auto b2 = walk_pages(proxy.port(), usage, bob);
  EXPECT_EQ(b2.bodies(), b.bodies());
  EXPECT_THAT(x_cache_of(b2), Each(std::string("HIT")));
}

TEST_F(Paging, EachPageAndQueryIsItsOwnEntry) {
  const auto small = http_get(proxy.port(), usage + "?size=5", alice);
  const auto large = http_get(proxy.port(), usage + "?size=20", alice);
  EXPECT_NE(small.body, large.body);
  EXPECT_EQ(fake.count(), 2u);
  EXPECT_EQ(http_get(proxy.port(), usage + "?size=5", alice).header("X-Cache"), "HIT");
}

TEST_F(Paging, AcceptAndLocaleArePartOfTheKey) {
  http_get(proxy.port(), usage, {{"Authorization", "Bearer alice-token"}, {"X-Locale", "en-US"}});
  const auto other = http_get(proxy.port(), usage, {{"Authorization", "Bearer alice-token"}, {"X-Locale", "de-DE"}});
  EXPECT_EQ(other.header("X-Cache"), "MISS");
  EXPECT_EQ(fake.count(), 2u);
}

TEST_F(Paging, HeadIsAnsweredFromTheStoredGet) {
  const auto get = http_get(proxy.port(), usage, alice);
  const auto head = http_request(proxy.port(), "HEAD", usage, alice);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("X-Cache"), "HIT");
  EXPECT_EQ(head.header("Content-Length"), std::to_string(get.body.size()));
  EXPECT_TRUE(head.body.empty());
  EXPECT_EQ(fake.count(), 1u);
}

TEST_F(Paging, AHeadMissIsFetchedAsGetAndStored) {
  const auto head = http_request(proxy.port(), "HEAD", usage, alice);
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());
  EXPECT_EQ(head.header("Content-Length"),
            std::to_string(render_usage_page(caller_id("Bearer alice-token"), 0, 10, 25).body.size()));
  ASSERT_EQ(fake.count(), 1u);
  EXPECT_EQ(fake.requests()[0].method, "GET");
  EXPECT_EQ(http_get(proxy.port(), usage, alice).header("X-Cache"), "HIT");
}

TEST_F(Paging, NoCredentialsGets401AndNothingReachesUpstream) {
  const auto res = http_get(proxy.port(), usage);
  EXPECT_EQ(res.status, 401);
  EXPECT_EQ(res.header("Content-Type"), "application/json; charset=utf-8");
  EXPECT_THAT(res.body, HasSubstr("\"code\":4010"));
  EXPECT_THAT(res.body, HasSubstr("Authorization"));
  EXPECT_THAT(res.body, HasSubstr("\"correlationId\":\"" + res.header("MS-CorrelationId") + "\""));
  EXPECT_EQ(fake.count(), 0u);
}

TEST_F(Paging, PassThroughRoutesAreForwardedEveryTime) {
  const auto first = http_get(proxy.port(), "/v1/customers", alice);
  const auto second = http_get(proxy.port(), "/v1/customers", alice);
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(second.header("X-Cache"), "BYPASS");
  EXPECT_THAT(second.header("Cache-Status"), HasSubstr("fwd=bypass"));
  EXPECT_EQ(fake.count("/v1/customers"), 2u);
  EXPECT_EQ(proxy.service().store()->memory().stats().entries, 0u);
}

TEST_F(Paging, PostIsForwardedNotCachedAndInvalidatesThePath) {
  http_get(proxy.port(), usage, alice);
  http_get(proxy.port(), usage, bob);
  ASSERT_EQ(proxy.service().store()->memory().stats().entries, 2u);

  const auto post = http_request(proxy.port(), "POST", usage, alice, R"({"refresh":true})");
  EXPECT_EQ(post.status, 201);
  EXPECT_EQ(post.header("X-Cache"), "BYPASS");
  EXPECT_THAT(post.header("Cache-Status"), HasSubstr("fwd=method"));
  const auto requests = fake.requests();
  EXPECT_EQ(requests.back().method, "POST");
  EXPECT_EQ(requests.back().body, R"({"refresh":true})");

  // Alice's entry for the path is gone; bob's (another scope) stays.
  EXPECT_EQ(http_get(proxy.port(), usage, alice).header("X-Cache"), "MISS");
  EXPECT_EQ(http_get(proxy.port(), usage, bob).header("X-Cache"), "HIT");
}

TEST(PagingBodies, ALargeRequestBodyReachesUpstreamWhole) {
  // 6 MB: more than the kernel's largest send buffer (net.ipv4.tcp_wmem, 4 MiB), so
  // the upstream write continues after its first, non-blocking attempt.
  fake_partner_center fake;
  auto settings = test_config(fake.url());
  settings.limits.max_body_bytes = 16 * 1024 * 1024;
  running_proxy proxy(settings);
  std::string body = "{\"items\":[";
  for (int i = 0; body.size() < 6 * 1000 * 1000; ++i) body += "\"item-" + std::to_string(i) + "\",";
  body.back() = ']';
  body += "}";
  const auto post = http_request(proxy.port(), "POST", "/v1/customers", alice, body);
  EXPECT_EQ(post.status, 201);
  const auto requests = fake.requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(requests.back().method, "POST");
  EXPECT_TRUE(requests.back().body == body) << requests.back().body.size() << " of " << body.size() << " bytes";
}

TEST_F(Paging, HopByHopHeadersAreDroppedAndHostIsTheUpstreams) {
  http_get(proxy.port(), "/v1/customers",
           {{"Authorization", "Bearer alice-token"},
            {"Connection", "keep-alive, X-Hop"},
            {"X-Hop", "secret"},
            {"Proxy-Authorization", "Basic c2VjcmV0"},
            {"X-Custom", "kept"},
            {"MS-PartnerCenter-Application", "pcproxy-tests"}});
  ASSERT_EQ(fake.count(), 1u);
  const auto seen = fake.requests()[0];
  EXPECT_EQ(seen.header("Host"), "127.0.0.1:" + std::to_string(fake.port()));
  EXPECT_EQ(seen.header("X-Custom"), "kept");
  EXPECT_EQ(seen.header("MS-PartnerCenter-Application"), "pcproxy-tests");
  EXPECT_EQ(seen.header("Authorization"), "Bearer alice-token");
  EXPECT_FALSE(seen.has_header("X-Hop"));
  EXPECT_FALSE(seen.has_header("Proxy-Authorization"));
}

TEST(PagingOnOneThread, AWalkAndAHitWorkWithoutStrands) {
  fake_partner_center fake({.customers = 25, .page_size = 10});
  auto settings = test_config(fake.url());
  settings.threads = 1;  // as bench/compare runs it: no strands anywhere
  running_proxy proxy(settings);
  const auto first = walk_pages(proxy.port(), usage, alice);
  EXPECT_EQ(first.pages.size(), 3u);
  EXPECT_EQ(first.bodies(), walk_pages(fake.port(), usage, alice).bodies());
  EXPECT_THAT(x_cache_of(walk_pages(proxy.port(), usage, alice)), Each(std::string("HIT")));
}

TEST(PagingWithBom, TheBomIsKeptByteForByte) {
  fake_partner_center fake({.customers = 5, .page_size = 10, .bom = true});
  running_proxy proxy(test_config(fake.url()));
  const auto direct = http_get(fake.port(), usage, alice);
  ASSERT_EQ(direct.body.rfind("\xEF\xBB\xBF", 0), 0u);
  const auto miss = http_get(proxy.port(), usage, alice);
  const auto hit = http_get(proxy.port(), usage, alice);
  EXPECT_EQ(miss.body, direct.body);
  EXPECT_EQ(hit.body, direct.body);
  EXPECT_EQ(hit.header("X-Cache"), "HIT");
}

TEST(PagingWithTokenFile, TheConfiguredTokenIsInjected) {
  fake_partner_center fake;
  auto settings = test_config(fake.url());
  settings.upstream.token_file = write_temp_file("token", "injected-secret\n");
  running_proxy proxy(settings);
  const auto res = http_get(proxy.port(), usage);
  EXPECT_EQ(res.status, 200);
  ASSERT_EQ(fake.count(), 1u);
  EXPECT_EQ(fake.requests()[0].header("Authorization"), "Bearer injected-secret");
  EXPECT_THAT(res.body, HasSubstr(caller_id("Bearer injected-secret")));
  // A caller's own credential still wins.
  http_get(proxy.port(), "/v1/customers", alice);
  EXPECT_EQ(fake.requests()[1].header("Authorization"), "Bearer alice-token");
}

TEST(PagingLinks, AbsoluteUpstreamLinksAreRewrittenToThePublicBaseUrl) {
  fake_partner_center fake({.customers = 25, .page_size = 10, .absolute_links = true});
  auto settings = test_config(fake.url());
  settings.public_base_url = "http://pcproxy.internal:8080";
  running_proxy proxy(settings);
  const auto direct = http_get(fake.port(), usage, alice);
  ASSERT_THAT(direct.body, HasSubstr("\"uri\":\"" + fake.url() + "/v1/customers/usagerecords?"));
  const auto proxied = http_get(proxy.port(), usage, alice);
  EXPECT_THAT(proxied.body, Not(HasSubstr(fake.url())));
  // Exactly the origin is replaced; every other byte is the fake's.
  std::string expected = direct.body;
  expected.replace(expected.find(fake.url()), fake.url().size(), settings.public_base_url);
  EXPECT_EQ(proxied.body, expected);
  EXPECT_EQ(http_get(proxy.port(), usage, alice).body, expected);  // the stored copy too
}

TEST(PagingLinks, RelativeLinksPassThroughUntouched) {
  fake_partner_center fake;
  auto settings = test_config(fake.url());
  settings.public_base_url = "http://pcproxy.internal:8080";
  running_proxy proxy(settings);
  EXPECT_EQ(http_get(proxy.port(), usage, alice).body, http_get(fake.port(), usage, alice).body);
}

}  // namespace
}  // namespace pcproxy::testing
