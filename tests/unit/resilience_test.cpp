// Retry policy, retry budget, circuit breaker, throttling and the resilient transport,
// with a manual clock, a fixed jitter source and a scripted upstream.
#include "core/http_date.hpp"
#include "tests/support/manual_clock.hpp"
#include "tests/support/scripted_upstream.hpp"
#include "upstream/resilient_transport.hpp"
#include "upstream/retry_policy.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pcproxy::upstream {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;
using testing::manual_clock;
using testing::scripted_upstream;
namespace http = beast::http;

config::retry_config retry_settings() { return config::config{}.retry; }

TEST(RetryPolicy, RetriesTransientStatusesAndFailuresOnly) {
  const auto s = retry_settings();
  for (unsigned status : {408u, 429u, 500u, 502u, 503u, 504u})
    EXPECT_EQ(after_attempt(status, failure::none, true, s), next_step::retry_new_id) << status;
  for (unsigned status : {200u, 201u, 304u, 400u, 401u, 403u, 404u, 409u, 412u, 501u, 505u})
    EXPECT_EQ(after_attempt(status, failure::none, true, s), next_step::done) << status;
  EXPECT_EQ(after_attempt(0, failure::connect, true, s), next_step::retry_same_id);
  EXPECT_EQ(after_attempt(0, failure::timeout, true, s), next_step::retry_same_id);
  EXPECT_EQ(after_attempt(0, failure::connection_lost, true, s), next_step::retry_same_id);
  EXPECT_EQ(after_attempt(0, failure::bad_response, true, s), next_step::retry_new_id);
  EXPECT_EQ(after_attempt(0, failure::tls, true, s), next_step::done);
  EXPECT_EQ(after_attempt(0, failure::deadline, true, s), next_step::done);
  EXPECT_EQ(after_attempt(0, failure::too_large, true, s), next_step::done);
  EXPECT_EQ(after_attempt(503, failure::none, false, s), next_step::done);  // not a retryable method
}

TEST(RetryPolicy, OnlyConfiguredIdempotentMethods) {
  auto s = retry_settings();
  EXPECT_TRUE(method_is_retryable(http::verb::get, s));
  EXPECT_TRUE(method_is_retryable(http::verb::head, s));
  EXPECT_FALSE(method_is_retryable(http::verb::put, s));
  EXPECT_FALSE(method_is_retryable(http::verb::post, s));
  s.methods = {"GET", "PUT", "POST"};
  EXPECT_TRUE(method_is_retryable(http::verb::put, s));
  EXPECT_FALSE(method_is_retryable(http::verb::post, s));  // never, whatever the list says
}

TEST(RetryPolicy, RetryAfterInBothForms) {
  const auto now = std::chrono::sys_days{std::chrono::year{2026} / 11 / 10} + 12h;
  EXPECT_EQ(parse_retry_after("57", now), milliseconds(57000));
  EXPECT_EQ(parse_retry_after(" 0 ", now), milliseconds(0));
  EXPECT_EQ(parse_retry_after(core::format_http_date(now + 30s), now), milliseconds(30000));
  EXPECT_EQ(parse_retry_after(core::format_http_date(now - 30s), now), milliseconds(0));
  EXPECT_FALSE(parse_retry_after("soon", now));
  EXPECT_FALSE(parse_retry_after("-5", now));
  EXPECT_FALSE(parse_retry_after("", now));
}

TEST(RetryPolicy, ExponentialBackoffWithFullJitter) {
  const auto s = retry_settings();  // base 1000 ms, max 10000 ms
  EXPECT_EQ(backoff_delay(1, 0.0, s), milliseconds(0));
  EXPECT_EQ(backoff_delay(1, 0.999, s), milliseconds(999));
  EXPECT_EQ(backoff_delay(2, 0.5, s), milliseconds(1000));   // half of 2000
  EXPECT_EQ(backoff_delay(3, 0.5, s), milliseconds(2000));   // half of 4000
  EXPECT_EQ(backoff_delay(10, 0.5, s), milliseconds(5000));  // half of the 10000 cap
  EXPECT_EQ(retry_wait(1, milliseconds(3000), 0.9, s), milliseconds(3000));    // Retry-After wins
  EXPECT_EQ(retry_wait(1, milliseconds(90000), 0.9, s), milliseconds(60000));  // capped
}

TEST(RetryBudget, AllowsAShareOfRecentRequestsPlusAFloor) {
  auto clock = std::make_shared<manual_clock>();
  retry_budget budget(0.2, clock);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(budget.try_spend());
  EXPECT_FALSE(budget.try_spend());  // the floor is spent
  for (int i = 0; i < 50; ++i) budget.record_request();
  int allowed = 0;
  while (budget.try_spend()) ++allowed;
  EXPECT_EQ(allowed, 10);  // 0.2 x 50
  EXPECT_EQ(budget.stats().rejections, 2u);
  clock->advance(11s);  // the window has moved on
  EXPECT_TRUE(budget.try_spend());
  EXPECT_EQ(budget.stats().requests, 0u);
}

TEST(CircuitBreaker, OpensAfterTheThresholdThenOneProbeDecides) {
  auto clock = std::make_shared<manual_clock>();
  circuit_breaker breaker(3, 30s, clock);
  for (int i = 0; i < 2; ++i) breaker.record(false, breaker.allow().probe);
  EXPECT_EQ(breaker.current(), circuit_breaker::state::closed);
  breaker.record(false, breaker.allow().probe);
  EXPECT_EQ(breaker.current(), circuit_breaker::state::open);
  auto refused = breaker.allow();
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after, 30s);
  clock->advance(30s);
  const auto probe = breaker.allow();
  EXPECT_TRUE(probe.allowed);
  EXPECT_TRUE(probe.probe);
  EXPECT_FALSE(breaker.allow().allowed);  // one probe at a time
  breaker.record(false, true);            // the probe failed: open again
  EXPECT_EQ(breaker.current(), circuit_breaker::state::open);
  clock->advance(30s);
  breaker.record(true, breaker.allow().probe);
  EXPECT_EQ(breaker.current(), circuit_breaker::state::closed);
  EXPECT_TRUE(breaker.allow().allowed);
}

TEST(CircuitBreaker, ASuccessResetsTheCountAndALostProbeIsReplaced) {
  auto clock = std::make_shared<manual_clock>();
  circuit_breaker breaker(2, 10s, clock);
  breaker.record(false, false);
  breaker.record(true, false);
  breaker.record(false, false);
  EXPECT_EQ(breaker.current(), circuit_breaker::state::closed);
  breaker.record(false, false);
  EXPECT_EQ(breaker.current(), circuit_breaker::state::open);
  clock->advance(10s);
  EXPECT_TRUE(breaker.allow().probe);  // this probe never reports back
  clock->advance(10s);
  EXPECT_TRUE(breaker.allow().probe);
}

TEST(CircuitBreaker, DisabledItLetsEverythingThroughAndStaysClosed) {
  auto clock = std::make_shared<manual_clock>();
  circuit_breaker breaker(2, 10s, clock);
  breaker.record(false, false);
  breaker.record(false, false);
  ASSERT_EQ(breaker.current(), circuit_breaker::state::open);
  breaker.reconfigure(false, 2, 10s);  // circuit.enabled: false, by a reload
  EXPECT_EQ(breaker.current(), circuit_breaker::state::closed);
  for (int i = 0; i < 10; ++i) {
    const auto permit = breaker.allow();
    EXPECT_TRUE(permit.allowed);
    EXPECT_FALSE(permit.probe);
    breaker.record(false, permit.probe);
  }
  EXPECT_EQ(breaker.current(), circuit_breaker::state::closed);
  EXPECT_EQ(breaker.consecutive_failures(), 0);
  breaker.reconfigure(true, 2, 10s);  // on again: counting starts afresh
  breaker.record(false, breaker.allow().probe);
  EXPECT_EQ(breaker.current(), circuit_breaker::state::closed);
  breaker.record(false, breaker.allow().probe);
  EXPECT_EQ(breaker.current(), circuit_breaker::state::open);
}

TEST(Throttle, HoldsAScopeForTheWait) {
  auto clock = std::make_shared<manual_clock>();
  throttle t(clock);
  t.hold("c-a", 5s);
  EXPECT_EQ(t.remaining("c-a"), milliseconds(5000));
  EXPECT_FALSE(t.remaining("c-b"));
  clock->advance(4s);
  EXPECT_EQ(t.remaining("c-a"), milliseconds(1000));
  clock->advance(1s);
  EXPECT_FALSE(t.remaining("c-a"));
  EXPECT_EQ(t.held(), 0u);
}

class Resilient : public ::testing::Test {
protected:
  Resilient() {
    settings.retry.base_delay_ms = 0;
    settings.retry.max_delay_ms = 0;
    settings.circuit.failure_threshold = 1000;
  }
  resilient_transport& transport() {
    if (!layer)
      layer = std::make_unique<resilient_transport>(upstream, settings, clock, [] { return 0.5; },
                                                    upstream::system_random());
    return *layer;
  }
  static request get(std::string scope = "c-a") {
    request r;
    r.target = "/v1/customers/usagerecords";
    r.scope = std::move(scope);
    return r;
  }
  static correlation start() {
    return {"0f8fad5b-d9cb-469f-a165-70867728950e", "7c9e6679-7425-40de-944b-e07fc1f90ae7", "UGInjBojP0y0mAqo.0"};
  }

  result send(request req = get(), correlation corr = start()) {
    result out;
    net::io_context ioc;
    net::co_spawn(ioc, [&]() -> awaitable<void> { out = co_await transport().send(req, corr, true); },
                  net::detached);
    ioc.run();
    return out;
  }
  config::config settings;
  std::shared_ptr<scripted_upstream> upstream = std::make_shared<scripted_upstream>();
  std::shared_ptr<manual_clock> clock = std::make_shared<manual_clock>();
  std::unique_ptr<resilient_transport> layer;
};

TEST_F(Resilient, RetriesAnErrorAnswerWithANewRequestIdAndTheNextVector) {
  upstream->queue = {scripted_upstream::ok("{}", 500), scripted_upstream::ok("{}", 503)};
  const auto r = send();
  ASSERT_TRUE(r.answer);
  EXPECT_EQ(r.answer->status, 200);
  const auto ids = upstream->ids();
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0].request_id, start().request_id);
  EXPECT_NE(ids[1].request_id, ids[0].request_id);
  EXPECT_NE(ids[2].request_id, ids[1].request_id);
  EXPECT_EQ(ids[0].vector, "UGInjBojP0y0mAqo.1");
  EXPECT_EQ(ids[1].vector, "UGInjBojP0y0mAqo.2");
  EXPECT_EQ(ids[2].vector, "UGInjBojP0y0mAqo.3");
  for (const auto& id : ids) EXPECT_EQ(id.correlation_id, start().correlation_id);
  EXPECT_EQ(r.sent.request_id, ids[2].request_id);  // the client gets the final attempt's ids
  EXPECT_EQ(r.sent.vector, ids[2].vector);
  EXPECT_EQ(r.attempts.size(), 3u);
}

TEST_F(Resilient, ATimeoutOrLostConnectionKeepsTheRequestId) {
  upstream->queue = {scripted_upstream::failed(failure::timeout), scripted_upstream::failed(failure::connection_lost)};
  const auto r = send();
  ASSERT_TRUE(r.answer);
  const auto ids = upstream->ids();
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[1].request_id, ids[0].request_id);
  EXPECT_EQ(ids[2].request_id, ids[0].request_id);
  EXPECT_EQ(ids[2].vector, "UGInjBojP0y0mAqo.3");
}

TEST_F(Resilient, StopsAtMaxAttemptsAndPassesTheLastAnswerOn) {
  upstream->fallback = [](const request&) { return scripted_upstream::ok("{\"code\":5000}", 500); };
  const auto r = send();
  EXPECT_EQ(upstream->calls(), 3u);
  ASSERT_TRUE(r.answer);
  EXPECT_EQ(r.answer->status, 500);
  EXPECT_EQ(r.answer->body, "{\"code\":5000}");
}

TEST_F(Resilient, NeverRetriesPostOrAClientError) {
  upstream->queue = {scripted_upstream::ok("{}", 503)};
  auto post = get();
  post.method = http::verb::post;
  EXPECT_EQ(send(post).answer->status, 503);
  upstream->queue = {scripted_upstream::ok("{}", 404)};
  EXPECT_EQ(send().answer->status, 404);
  EXPECT_EQ(upstream->calls(), 2u);
}

TEST_F(Resilient, AWaitBeyondTheDeadlineIsNotTaken) {
  upstream->queue = {scripted_upstream::ok("{}", 503, {{"Retry-After", "30"}})};
  auto req = get();
  req.deadline = std::chrono::steady_clock::now() + 1s;
  const auto r = send(req);
  EXPECT_EQ(upstream->calls(), 1u);
  EXPECT_EQ(r.answer->status, 503);
}

TEST_F(Resilient, RetryAfterSetsTheWaitCappedByTheSetting) {
  settings.retry.max_retry_after_ms = 100;  // upstream asks for 30 s; 100 ms is taken
  upstream->queue = {scripted_upstream::ok("{}", 503, {{"Retry-After", "30"}})};
  const auto started = std::chrono::steady_clock::now();
  const auto r = send();
  EXPECT_EQ(r.answer->status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 100ms);
}

TEST_F(Resilient, ThrottledScopesAreHeldBackWhileRetryAfterRuns) {
  settings.retry.max_attempts = 1;
  upstream->queue = {scripted_upstream::ok("{}", 429, {{"Retry-After", "60"}})};
  EXPECT_EQ(send().answer->status, 429);
  const auto held = send();
  EXPECT_EQ(held.error, failure::throttled);
  EXPECT_EQ(held.retry_after, milliseconds(60000));
  EXPECT_EQ(upstream->calls(), 1u);             // not sent
  EXPECT_TRUE(send(get("c-b")).answer);         // another caller is not held
  clock->advance(61s);
  EXPECT_TRUE(send().answer);
  EXPECT_EQ(upstream->calls(), 3u);
}

TEST_F(Resilient, TheCircuitOpensAfterConsecutiveFailedRequestsAndAProbeClosesIt) {
  settings.circuit.failure_threshold = 2;
  settings.circuit.open_ms = 5000;
  settings.retry.max_attempts = 1;
  upstream->fallback = [](const request&) { return scripted_upstream::failed(failure::connect); };
  send();
  send();
  const auto refused = send();
  EXPECT_EQ(refused.error, failure::circuit_open);
  EXPECT_EQ(refused.retry_after, milliseconds(5000));
  EXPECT_EQ(upstream->calls(), 2u);
  EXPECT_EQ(transport().stats().circuit, circuit_breaker::state::open);
  clock->advance(5s);
  upstream->fallback = [](const request&) { return scripted_upstream::ok("{}"); };
  EXPECT_TRUE(send().answer);  // the probe
  EXPECT_EQ(transport().stats().circuit, circuit_breaker::state::closed);
}

TEST_F(Resilient, ThrottlingDoesNotOpenTheCircuit) {
  settings.circuit.failure_threshold = 1;
  settings.retry.max_attempts = 1;
  upstream->queue = {scripted_upstream::ok("{}", 429)};
  send();
  EXPECT_EQ(transport().stats().circuit, circuit_breaker::state::closed);
}

TEST_F(Resilient, TheBudgetBoundsRetriesOfAFailingUpstream) {
  settings.retry.budget_ratio = 0.2;
  upstream->fallback = [](const request&) { return scripted_upstream::ok("{}", 503); };
  for (int i = 0; i < 50; ++i) send();
  // 50 requests, at most 0.2 x 50 + the floor of 3 retries: never 50 x 3.
  EXPECT_LE(upstream->calls(), 50u + 10u + retry_budget::floor);
  EXPECT_GT(transport().stats().budget_rejections, 0u);
}

TEST_F(Resilient, AnAnswerTheChecksRefuseIsRetriedAsABadResponse) {
  upstream->queue = {scripted_upstream::ok("{\"items\":[")};
  auto req = get();
  req.check = [](const response& a) { return a.body.ends_with("]}") ? std::string{} : std::string("not JSON"); };
  const auto r = send(req);
  ASSERT_TRUE(r.answer);
  EXPECT_EQ(r.answer->body, "{\"items\":[1]}");
  EXPECT_EQ(upstream->calls(), 2u);
  EXPECT_NE(upstream->ids()[1].request_id, upstream->ids()[0].request_id);  // it did answer
}

}  // namespace
}  // namespace pcproxy::upstream
