// What a client sees when the upstream fails: fitting statuses, Partner Center-shaped
// errors with correlation ids, and nothing stored.
#include "proxy/service.hpp"
#include "tests/support/fake_partner_center.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/running_proxy.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <future>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pcproxy::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

const std::string usage = "/v1/customers/usagerecords";
const header_list alice = {{"Authorization", "Bearer alice-token"}};

// A loopback port with nothing listening on it.
std::uint16_t closed_port() {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor a(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();  // closed again when `a` goes
}

TEST(UpstreamFailure, AnUnreachableUpstreamGives502WithTheReason) {
  running_proxy proxy(test_config("http://127.0.0.1:" + std::to_string(closed_port())));
  const auto res = http_get(proxy.port(), usage, alice);
  EXPECT_EQ(res.status, 502);
  EXPECT_EQ(res.header("Content-Type"), "application/json; charset=utf-8");
  EXPECT_THAT(res.body, HasSubstr("\"code\":5022"));
  EXPECT_THAT(res.body, HasSubstr("cannot connect to 127.0.0.1"));
  EXPECT_THAT(res.body, HasSubstr("\"source\":\"pcproxy\""));
  EXPECT_THAT(res.body, HasSubstr("\"correlationId\":\"" + res.header("MS-CorrelationId") + "\""));
  EXPECT_EQ(proxy.service().store()->memory().stats().entries, 0u);
}

TEST(UpstreamFailure, AnUpstreamTooSlowForTheTryTimeoutGives504) {
  fake_partner_center fake;
  fake.set_delay(usage, 3s);
  auto settings = test_config(fake.url());
  settings.upstream.try_timeout_ms = 200;
  running_proxy proxy(settings);
  const auto started = std::chrono::steady_clock::now();
  const auto res = http_get(proxy.port(), usage, alice);
  EXPECT_EQ(res.status, 504);
  EXPECT_THAT(res.body, HasSubstr("upstream.try_timeout_ms"));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
}

TEST(UpstreamFailure, TheOverallDeadlineGives504) {
  fake_partner_center fake;
  fake.set_delay(usage, 3s);
  auto settings = test_config(fake.url());
  settings.upstream.deadline_ms = 200;
  running_proxy proxy(settings);
  const auto res = http_get(proxy.port(), usage, alice);
  EXPECT_EQ(res.status, 504);
  EXPECT_THAT(res.body, HasSubstr("upstream.deadline_ms"));
}

TEST(UpstreamFailure, AResponseOverTheSizeCapGives502) {
  fake_partner_center fake;
  auto settings = test_config(fake.url());
  settings.upstream.max_body_bytes = 100;
  running_proxy proxy(settings);
  const auto res = http_get(proxy.port(), usage, alice);
  EXPECT_EQ(res.status, 502);
  EXPECT_THAT(res.body, HasSubstr("\"code\":5023"));
  EXPECT_THAT(res.body, HasSubstr("upstream.max_body_bytes (100)"));
}

TEST(UpstreamFailure, UpstreamErrorsPassThroughUnchangedAndAreNotStored) {
  fake_partner_center fake;
  running_proxy proxy(test_config(fake.url()));
  const header_list bad_token = {{"Authorization", "Bearer alice-token"}, {"MS-ContinuationToken", "forged"}};
  const auto direct = http_get(fake.port(), usage, bad_token);
  ASSERT_EQ(direct.status, 400);
  const auto first = http_get(proxy.port(), usage, bad_token);
  const auto second = http_get(proxy.port(), usage, bad_token);
  EXPECT_EQ(first.status, 400);
  EXPECT_EQ(first.body, direct.body);
  EXPECT_EQ(second.header("X-Cache"), "MISS");
  EXPECT_EQ(fake.count(), 3u);  // direct + both proxied: the 400 was never served from cache
  EXPECT_EQ(proxy.service().store()->memory().stats().entries, 0u);
}

TEST(UpstreamFailure, TheUpstreamsOwn401PassesThroughUnchanged) {
  fake_partner_center fake;
  running_proxy proxy(test_config(fake.url()));
  const header_list expired = {{"Authorization", "Bearer expired-token"}};
  const auto direct = http_get(fake.port(), usage, expired);
  ASSERT_EQ(direct.status, 401);
  const auto res = http_get(proxy.port(), usage, expired);
  EXPECT_EQ(res.status, 401);
  EXPECT_EQ(res.body, direct.body);
  EXPECT_THAT(res.body, HasSubstr("\"source\":\"PartnerFD\""));
  EXPECT_EQ(proxy.service().store()->memory().stats().entries, 0u);
}

TEST(UpstreamConnections, KeepAliveConnectionsToUpstreamAreReused) {
  fake_partner_center fake;
  running_proxy proxy(test_config(fake.url()));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(http_get(proxy.port(), "/v1/customers", alice).status, 200);
  const auto seen = fake.requests();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[1].connection, seen[0].connection);
  EXPECT_EQ(seen[2].connection, seen[0].connection);
}

TEST(UpstreamConnections, AConnectionUpstreamClosedWhileIdleIsNotReused) {
  // Closed later than the pool's unprobed reuse (200 ms): the liveness probe must see it.
  // A POST, which pcproxy never resends, fails if it is written onto the dead connection.
  fake_partner_center fake({.idle_timeout = std::chrono::milliseconds(300)});
  running_proxy proxy(test_config(fake.url()));
  EXPECT_EQ(http_get(proxy.port(), "/v1/customers", alice).status, 200);
  ASSERT_TRUE(fake.wait_for_closed_connections(1, 5s));  // the pooled connection is now dead
  const auto res = http_request(proxy.port(), "POST", "/v1/customers", alice, "{}");
  EXPECT_EQ(res.status, 201) << res.body;  // the fake creates the customer
  const auto seen = fake.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].method, "POST");
  EXPECT_NE(seen[1].connection, seen[0].connection);
}

TEST(UpstreamConnections, ThePoolIsBoundedByMaxConnections) {
  fake_partner_center fake;
  fake.set_delay("/v1/slow", 300ms);
  auto settings = test_config(fake.url());
  settings.upstream.max_connections = 1;
  running_proxy proxy(settings);
  auto a = std::async(std::launch::async, [&] { return http_get(proxy.port(), "/v1/slow", alice).status; });
  auto b = std::async(std::launch::async, [&] { return http_get(proxy.port(), "/v1/slow", alice).status; });
  EXPECT_EQ(a.get(), 200u);
  EXPECT_EQ(b.get(), 200u);
  const auto seen = fake.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].connection, seen[1].connection);  // one connection, used in turn
  EXPECT_GE(seen[1].received_at - seen[0].received_at, 250ms);
}

}  // namespace
}  // namespace pcproxy::testing
