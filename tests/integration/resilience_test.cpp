// Upstream failures end to end: each fault the fake can inject, what the client sees,
// and what upstream saw (attempts, request ids, vectors, the waits between them).
#include "tests/support/child_process.hpp"
#include "tests/support/fake_partner_center.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/log_capture.hpp"
#include "tests/support/manual_clock.hpp"
#include "tests/support/running_proxy.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pcproxy::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string usage = "/v1/customers/usagerecords";
const std::string customers = "/v1/customers";
const header_list alice = {{"Authorization", "Bearer alice-token"},
                           {"MS-CorrelationId", "0f8fad5b-d9cb-469f-a165-70867728950e"},
                           {"MS-RequestId", "7c9e6679-7425-40de-944b-e07fc1f90ae7"},
                           {"MS-CV", "UGInjBojP0y0mAqo.4"}};

std::chrono::milliseconds gap(const recorded_request& a, const recorded_request& b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b.received_at - a.received_at);
}

class Faults : public ::testing::Test {
protected:
  config::config settings() {
    auto c = test_config(fake.url());
    c.upstream.try_timeout_ms = 400;
    c.circuit.failure_threshold = 1000;  // the breaker has tests of its own
    return c;
  }
  http_result get(running_proxy& proxy, const std::string& target = usage) {
    return http_get(proxy.port(), target, alice);
  }
  fake_partner_center fake;
};

TEST_F(Faults, ErrorAnswersAreRetriedWithNewRequestIdsAndIncrementedVectors) {
  fake.script(usage, parse_script("500,503"));
  running_proxy proxy(settings());
  const auto res = get(proxy);
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.header("Pcproxy-Attempts"), "3");
  const auto seen = fake.requests();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].header("MS-RequestId"), "7c9e6679-7425-40de-944b-e07fc1f90ae7");
  EXPECT_NE(seen[1].header("MS-RequestId"), seen[0].header("MS-RequestId"));
  EXPECT_NE(seen[2].header("MS-RequestId"), seen[1].header("MS-RequestId"));
  EXPECT_EQ(seen[0].header("MS-CV"), "UGInjBojP0y0mAqo.4.1");
  EXPECT_EQ(seen[1].header("MS-CV"), "UGInjBojP0y0mAqo.4.2");
  EXPECT_EQ(seen[2].header("MS-CV"), "UGInjBojP0y0mAqo.4.3");
  for (const auto& r : seen) EXPECT_EQ(r.header("MS-CorrelationId"), "0f8fad5b-d9cb-469f-a165-70867728950e");
  // The client gets the final attempt's ids.
  EXPECT_EQ(res.header("MS-RequestId"), seen[2].header("MS-RequestId"));
  EXPECT_EQ(res.header("MS-CV"), "UGInjBojP0y0mAqo.4.3");
  // Backoff with full jitter: each wait within [0, min(max, base * 2^n)] (+ scheduling slack).
  EXPECT_LE(gap(seen[0], seen[1]), 20ms + 150ms);
  EXPECT_LE(gap(seen[1], seen[2]), 40ms + 150ms);
}

TEST_F(Faults, EachAttemptGetsALogLineWithTheIds) {
  log_capture logs(core::log_format::text);
  fake.script(usage, parse_script("reset,500"));  // a reset on a fresh connection, then an error
  running_proxy proxy(settings());
  EXPECT_EQ(get(proxy).status, 200);
  const auto text = logs.text();
  EXPECT_THAT(text, HasSubstr("GET /v1/customers/usagerecords attempt 1/3: connection_lost"));
  EXPECT_THAT(text, HasSubstr("with the same MS-RequestId"));
  EXPECT_THAT(text, HasSubstr("attempt 2/3: 500; retrying in"));
  EXPECT_THAT(text, HasSubstr("with a new MS-RequestId"));
  EXPECT_THAT(text, HasSubstr("MS-CorrelationId=0f8fad5b-d9cb-469f-a165-70867728950e"));
  EXPECT_THAT(text, HasSubstr("MS-CV=UGInjBojP0y0mAqo.4.1"));
  EXPECT_THAT(text, Not(HasSubstr("alice-token")));
}

TEST_F(Faults, AResetOnAReusedKeepAliveConnectionIsResentAtOnceWithTheNextVector) {
  fake.script(usage, parse_script("500,reset"));
  running_proxy proxy(settings());
  EXPECT_EQ(get(proxy).status, 200);
  const auto seen = fake.requests();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[1].connection, seen[0].connection);  // the 500's connection, kept alive and reused
  EXPECT_NE(seen[2].connection, seen[1].connection);  // the resend: a fresh connection
  EXPECT_EQ(seen[2].header("MS-RequestId"), seen[1].header("MS-RequestId"));
  EXPECT_EQ(seen[1].header("MS-CV"), "UGInjBojP0y0mAqo.4.2");
  EXPECT_EQ(seen[2].header("MS-CV"), "UGInjBojP0y0mAqo.4.3");
  EXPECT_LT(gap(seen[1], seen[2]), 100ms);  // at once, no backoff
}

TEST_F(Faults, RetriesRunOutAndTheLastAnswerPassesThroughUnstored) {
  fake.script(usage, parse_script("503,503,503"));
  running_proxy proxy(settings());
  const auto res = get(proxy);
  EXPECT_EQ(res.status, 503);
  EXPECT_THAT(res.body, HasSubstr("PartnerFD"));  // upstream's body, unchanged
  EXPECT_EQ(res.header("Pcproxy-Attempts"), "3");
  EXPECT_EQ(fake.count(), 3u);
  EXPECT_EQ(get(proxy).header("X-Cache"), "MISS");  // nothing was stored
}

TEST_F(Faults, RetryAfterInSecondsSetsTheWait) {
  fake.script(usage, parse_script("429:retry-after=1"));
  running_proxy proxy(settings());
  const auto res = get(proxy);
  EXPECT_EQ(res.status, 200);
  const auto seen = fake.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_GE(gap(seen[0], seen[1]), 950ms);
  EXPECT_LE(gap(seen[0], seen[1]), 1500ms);
}

TEST_F(Faults, RetryAfterAsAnHttpDateSetsTheWait) {
  fake.script(usage, parse_script("503:retry-after-date=+2"));
  running_proxy proxy(settings());
  EXPECT_EQ(get(proxy).status, 200);
  const auto seen = fake.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_GE(gap(seen[0], seen[1]), 900ms);  // the date has whole seconds: 1 to 2 s ahead
  EXPECT_LE(gap(seen[0], seen[1]), 2500ms);
}

TEST_F(Faults, ARetryAfterBeyondTheDeadlineIsNotWaitedAndTheScopeIsHeldBack) {
  auto c = settings();
  c.upstream.deadline_ms = 2000;
  fake.script(usage, parse_script("429:retry-after=60"));
  running_proxy proxy(c);
  const auto first = get(proxy);
  EXPECT_EQ(first.status, 429);
  EXPECT_EQ(first.header("Retry-After"), "60");  // upstream's answer, passed through
  EXPECT_EQ(fake.count(), 1u);
  // While the Retry-After runs, this caller's requests stay home.
  const auto held = get(proxy, customers);
  EXPECT_EQ(held.status, 429);
  EXPECT_THAT(held.body, HasSubstr("\"source\":\"pcproxy\""));
  EXPECT_THAT(held.body, HasSubstr("throttled"));
  EXPECT_GE(std::stoi(held.header("Retry-After")), 58);
  EXPECT_EQ(fake.count(), 1u);
  // Another caller is not held back.
  EXPECT_EQ(http_get(proxy.port(), customers, {{"Authorization", "Bearer bob-token"}}).status, 200);
  EXPECT_EQ(fake.count(), 2u);
}

TEST_F(Faults, AThrottledCallerGetsStoredDataWhereThereIsSome) {
  auto clock = std::make_shared<manual_clock>();
  running_proxy proxy(settings(), clock);
  const auto stored = get(proxy);
  clock->advance(7200s);  // past TTL and stale-while-revalidate
  fake.script(usage, parse_script("429:retry-after=60"));
  const auto res = get(proxy);
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.header("X-Cache"), "STALE");
  EXPECT_EQ(res.body, stored.body);
  EXPECT_THAT(res.header("Cache-Status"), HasSubstr("fwd-status=429"));
}

TEST_F(Faults, AStallIsCutByTheTryTimeoutAndRetriedWithTheSameRequestId) {
  fake.script(usage, parse_script("stall"));
  running_proxy proxy(settings());
  const auto res = get(proxy);
  EXPECT_EQ(res.status, 200);
  const auto seen = fake.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].header("MS-RequestId"), seen[0].header("MS-RequestId"));
  EXPECT_EQ(seen[1].header("MS-CV"), "UGInjBojP0y0mAqo.4.2");
  // upstream.try_timeout_ms (400 ms), less how much later the first request reached the
  // fake than the second (the backoff's jitter may be 0): a tolerance of 50 ms.
  EXPECT_GE(gap(seen[0], seen[1]), 350ms);
}

struct connection_fault {
  const char* name;
  const char* script;
};

class ConnectionFaults : public Faults, public ::testing::WithParamInterface<connection_fault> {};

TEST_P(ConnectionFaults, AreRetriedWithTheSameRequestId) {
  fake.script(usage, parse_script(GetParam().script));
  running_proxy proxy(settings());
  const auto res = get(proxy);
  EXPECT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(res.body, render_usage_page(caller_id("Bearer alice-token"), 0, 10, 25).body);
  const auto seen = fake.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].header("MS-RequestId"), seen[0].header("MS-RequestId"));
}

void PrintTo(const connection_fault& f, std::ostream* os) { *os << f.name; }

INSTANTIATE_TEST_SUITE_P(Upstream, ConnectionFaults,
                         ::testing::Values(connection_fault{"ResetBeforeTheAnswer", "reset"},
                                           connection_fault{"ResetMidBody", "reset-mid-body"},
                                           connection_fault{"TruncatedBody", "truncate"}),
                         [](const auto& instance) { return std::string(instance.param.name); });

TEST_F(Faults, MalformedJsonOnACachedRouteIsRetriedAndNeverStored) {
  fake.script(usage, parse_script("malformed,malformed,malformed"));
  running_proxy proxy(settings());
  const auto res = get(proxy);
  EXPECT_EQ(res.status, 502);
  EXPECT_THAT(res.body, HasSubstr("not JSON"));
  EXPECT_EQ(fake.count(), 3u);
  EXPECT_EQ(get(proxy).status, 200);  // the next answer is fine, and it is what gets stored
}

TEST_F(Faults, MalformedJsonOnAPassRouteIsRelayedAsItIs) {
  fake.script(customers, parse_script("malformed"));
  running_proxy proxy(settings());
  const auto res = get(proxy, customers);
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "{\"totalCount\":1,\"items\":[{\"id\":");
}

TEST_F(Faults, ASlowTrickleWithinTheTryTimeoutArrivesWhole) {
  fake.script(customers, {{fault::kind::trickle, 0, 5ms}});
  running_proxy proxy(settings());
  const auto res = get(proxy, customers);
  EXPECT_EQ(res.status, 200);
  EXPECT_THAT(res.body, HasSubstr("\"path\":\"/v1/customers\""));
  EXPECT_EQ(fake.count(), 1u);
}

TEST_F(Faults, ATrickleSlowerThanTheTryTimeoutIsRetried) {
  fake.script(usage, {{fault::kind::trickle, 0, 100ms}});  // ~4 KiB in 64-byte pieces: far too slow
  running_proxy proxy(settings());
  EXPECT_EQ(get(proxy).status, 200);
  EXPECT_EQ(fake.count(), 2u);
}

TEST_F(Faults, PostIsNeverRetried) {
  fake.script(customers, parse_script("503"));
  running_proxy proxy(settings());
  const auto res = http_request(proxy.port(), "POST", customers, alice, "{}");
  EXPECT_EQ(res.status, 503);
  EXPECT_EQ(fake.count(), 1u);
  EXPECT_EQ(res.header("Pcproxy-Attempts"), "1");
}

TEST_F(Faults, ClientErrorsAreNeverRetried) {
  fake.script(usage, parse_script("404,409,412"));
  running_proxy proxy(settings());
  for (unsigned expected : {404u, 409u, 412u}) EXPECT_EQ(get(proxy).status, expected);
  EXPECT_EQ(fake.count(), 3u);
}

TEST_F(Faults, TheDeadlineEndsTheRetries) {
  auto c = settings();
  c.upstream.deadline_ms = 700;  // room for one stalled try of 400 ms and part of another
  fake.script(usage, parse_script("stall,stall,stall"));
  running_proxy proxy(c);
  const auto started = std::chrono::steady_clock::now();
  const auto res = get(proxy);
  EXPECT_EQ(res.status, 504);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1500ms);
  EXPECT_LE(fake.count(), 2u);
}

TEST_F(Faults, TheRetryBudgetBoundsAFullyFailingUpstream) {
  fake.script(usage, parse_script("503*"));
  auto c = settings();
  c.retry.budget_ratio = 0.2;
  running_proxy proxy(c);
  const int requests = 30;
  for (int i = 0; i < requests; ++i) EXPECT_EQ(get(proxy).status, 503);
  // Without a budget: 30 x 3 = 90 attempts. With it: 30 + 0.2 x 30 + the floor.
  EXPECT_LE(fake.count(), static_cast<std::size_t>(requests + 6 + 3));
  EXPECT_GE(fake.count(), static_cast<std::size_t>(requests));
}

TEST_F(Faults, TheCircuitOpensFailsFastThenAProbeClosesIt) {
  auto clock = std::make_shared<manual_clock>();
  auto c = settings();
  c.circuit.failure_threshold = 3;
  c.circuit.open_ms = 30000;
  c.retry.max_attempts = 1;
  fake.script(customers, parse_script("500,502,503"));
  running_proxy proxy(c, clock);
  for (int i = 0; i < 3; ++i) EXPECT_GE(get(proxy, customers).status, 500u);
  const auto fast = get(proxy, customers);
  EXPECT_EQ(fast.status, 503);
  EXPECT_THAT(fast.body, HasSubstr("circuit"));
  EXPECT_THAT(fast.body, HasSubstr("\"source\":\"pcproxy\""));
  EXPECT_EQ(fast.header("Retry-After"), "30");
  EXPECT_EQ(fake.count(), 3u);  // failing fast: upstream is left alone
  clock->advance(30s);
  EXPECT_EQ(get(proxy, customers).status, 200);  // the probe succeeds
  EXPECT_EQ(get(proxy, customers).status, 200);  // closed again
  EXPECT_EQ(fake.count(), 5u);
}

TEST_F(Faults, WithTheCircuitDisabledEveryFailureReachesTheClientFromUpstream) {
  auto c = settings();
  c.circuit.enabled = false;
  c.circuit.failure_threshold = 2;
  c.retry.max_attempts = 1;
  fake.script(customers, parse_script("500,502,503,500,500"));
  running_proxy proxy(c);
  for (unsigned expected : {500u, 502u, 503u, 500u, 500u}) {
    const auto res = get(proxy, customers);
    EXPECT_EQ(res.status, expected);
    EXPECT_THAT(res.body, HasSubstr("\"source\":\"PartnerFD\""));  // upstream's answer, not pcproxy's
  }
  EXPECT_EQ(get(proxy, customers).status, 200);
  EXPECT_EQ(fake.count(), 6u);
}

TEST_F(Faults, WhileTheCircuitIsOpenStoredDataIsServed) {
  auto clock = std::make_shared<manual_clock>();
  auto c = settings();
  c.circuit.failure_threshold = 1;
  c.circuit.open_ms = 3 * 3600 * 1000;  // still open after the clock skips past the page's TTL
  c.retry.max_attempts = 1;
  running_proxy proxy(c, clock);
  const auto stored = get(proxy);
  fake.script(customers, parse_script("500"));
  get(proxy, customers);  // opens the circuit
  clock->advance(7200s);
  const auto res = get(proxy);
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.header("X-Cache"), "STALE");
  EXPECT_THAT(res.header("Cache-Status"), HasSubstr("detail=circuit_open"));
  EXPECT_EQ(res.body, stored.body);
}

TEST(FakeBinary, ScriptsFromTheCommandLineAndTheControlApi) {
  child_process fake(PCPROXY_FAKE_BINARY, {"--port", "0", "--control-port", "0", "--script",
                                           "/v1/customers/usagerecords=503,200*"});
  const auto api = fake.wait_for_line(std::regex(R"(listening on http://127\.0\.0\.1:(\d+))"), 10s);
  ASSERT_TRUE(api) << fake.output();
  const auto port = static_cast<std::uint16_t>(std::stoi((*api)[1]));
  const auto control_line = fake.wait_for_line(std::regex(R"(control API on http://127\.0\.0\.1:(\d+))"), 10s);
  ASSERT_TRUE(control_line) << fake.output();
  const auto control = static_cast<std::uint16_t>(std::stoi((*control_line)[1]));
  const header_list token = {{"Authorization", "Bearer secret-token"}};

  EXPECT_EQ(http_get(port, usage, token).status, 503);  // the command-line script, repeating
  EXPECT_EQ(http_get(port, usage, token).status, 200);
  EXPECT_EQ(http_get(port, usage, token).status, 503);

  EXPECT_EQ(http_request(control, "PUT", "/script?path=/v1/customers", {}, "429:retry-after=7").status, 204u);
  const auto throttled = http_get(port, customers, token);
  EXPECT_EQ(throttled.status, 429);
  EXPECT_EQ(throttled.header("Retry-After"), "7");
  EXPECT_EQ(http_request(control, "PUT", "/script?path=/v1/x", {}, "bogus").status, 400u);

  const auto log = http_get(control, "/requests");
  EXPECT_THAT(log.body, HasSubstr("\"target\":\"/v1/customers\""));
  EXPECT_THAT(log.body, HasSubstr("<redacted>"));
  EXPECT_THAT(log.body, Not(HasSubstr("secret-token")));
  EXPECT_EQ(http_request(control, "DELETE", "/requests").status, 204u);
  EXPECT_EQ(http_get(control, "/requests").body, "[]");
  fake.signal(SIGTERM);
  EXPECT_EQ(fake.wait(10s), 0);
}

}  // namespace
}  // namespace pcproxy::testing
