#include "proxy/single_flight.hpp"
#include "proxy/token_verdicts.hpp"
#include "tests/support/manual_clock.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace pcproxy::proxy {
namespace {

using namespace std::chrono_literals;
using flights = single_flight<int, std::string, std::hash<int>>;
using steady = std::chrono::steady_clock;

awaitable<void> sleep_for(std::chrono::milliseconds d) {
  net::steady_timer t(co_await net::this_coro::executor);
  t.expires_after(d);
  co_await t.async_wait(use_nothrow);
}

TEST(SingleFlight, OneLeaderAndEveryFollowerGetsItsResult) {
  net::io_context ioc;
  flights f;
  int work_done = 0;
  std::vector<std::string> results;
  for (int i = 0; i < 10; ++i)
    net::co_spawn(ioc, [&]() -> awaitable<void> {
      auto ticket = f.join(7);
      if (ticket.leader) {
        flights::leader_guard guard(f, 7, ticket.shared);
        ++work_done;
        co_await sleep_for(20ms);
        auto result = std::make_shared<const std::string>("answer");
        guard.finish(result);
        results.push_back(*result);
      } else {
        auto r = co_await f.wait(ticket.shared, steady::now() + 5s);
        results.push_back(r ? *r : "none");
      }
    }, net::detached);
  ioc.run();
  EXPECT_EQ(work_done, 1);
  EXPECT_EQ(results, std::vector<std::string>(10, "answer"));
  EXPECT_FALSE(f.in_flight(7));
  EXPECT_EQ(f.waiting(), 0u);
}

TEST(SingleFlight, FollowersStopWaitingAtTheirDeadline) {
  net::io_context ioc;
  flights f;
  std::string follower = "unset";
  steady::duration waited{};
  net::co_spawn(ioc, [&]() -> awaitable<void> {
    auto ticket = f.join(1);
    flights::leader_guard guard(f, 1, ticket.shared);
    co_await sleep_for(300ms);
    guard.finish(std::make_shared<const std::string>("late"));
  }, net::detached);
  net::co_spawn(ioc, [&]() -> awaitable<void> {
    auto ticket = f.join(1);
    EXPECT_FALSE(ticket.leader);
    const auto started = steady::now();
    auto r = co_await f.wait(ticket.shared, steady::now() + 50ms);
    waited = steady::now() - started;
    follower = r ? *r : "none";
  }, net::detached);
  ioc.run();
  EXPECT_EQ(follower, "none");
  EXPECT_GE(waited, 50ms);
  EXPECT_LT(waited, 300ms);
}

TEST(SingleFlight, ALeaderThatThrowsReleasesItsFollowersWithNothing) {
  net::io_context ioc;
  flights f;
  std::string follower = "unset";
  bool leader_threw = false;
  net::co_spawn(ioc, [&]() -> awaitable<void> {
    auto ticket = f.join(1);
    flights::leader_guard guard(f, 1, ticket.shared);
    co_await sleep_for(10ms);
    throw std::runtime_error("leader failed");
  }, [&](std::exception_ptr e) { leader_threw = e != nullptr; });
  net::co_spawn(ioc, [&]() -> awaitable<void> {
    auto ticket = f.join(1);
    auto r = co_await f.wait(ticket.shared, steady::now() + 5s);
    follower = r ? *r : "none";
  }, net::detached);
  ioc.run();
  EXPECT_TRUE(leader_threw);
  EXPECT_EQ(follower, "none");
  EXPECT_FALSE(f.in_flight(1));
}

TEST(SingleFlight, AFinishedFlightStartsAfresh) {
  flights f;
  auto first = f.join(3);
  EXPECT_TRUE(first.leader);
  EXPECT_FALSE(f.join(3).leader);
  f.finish(3, first.shared, std::make_shared<const std::string>("done"));
  EXPECT_TRUE(f.join(3).leader);
}

TEST(TokenVerdicts, AcceptedUntilExpiryAndForgottenOnReject) {
  auto clock = std::make_shared<testing::manual_clock>();
  token_verdicts v(clock);
  EXPECT_FALSE(v.accepted("Bearer a"));
  v.accept("Bearer a", clock->now() + 60s);
  EXPECT_TRUE(v.accepted("Bearer a"));
  EXPECT_FALSE(v.accepted("Bearer b"));
  clock->advance(61s);
  EXPECT_FALSE(v.accepted("Bearer a"));
  v.accept("Bearer a", clock->now() + 3600s);
  v.reject("Bearer a");
  EXPECT_FALSE(v.accepted("Bearer a"));
}

TEST(TokenVerdicts, ExpiryIsCappedAndAPastExpiryIsIgnored) {
  auto clock = std::make_shared<testing::manual_clock>();
  token_verdicts v(clock);
  v.accept("Bearer far", clock->now() + 24h * 30);
  v.accept("Bearer none", std::nullopt);
  v.accept("Bearer past", clock->now() - 1s);
  EXPECT_TRUE(v.accepted("Bearer far"));
  EXPECT_TRUE(v.accepted("Bearer none"));
  EXPECT_FALSE(v.accepted("Bearer past"));
  clock->advance(24h + 1s);
  EXPECT_FALSE(v.accepted("Bearer far"));
  EXPECT_FALSE(v.accepted("Bearer none"));
}

TEST(TokenVerdicts, MemoryIsBounded) {
  auto clock = std::make_shared<testing::manual_clock>();
  token_verdicts v(clock, 10);
  for (int i = 0; i < 25; ++i) v.accept("Bearer " + std::to_string(i), clock->now() + 60s);
  EXPECT_LE(v.size(), 10u);
  EXPECT_TRUE(v.accepted("Bearer 24"));
}

}  // namespace
}  // namespace pcproxy::proxy
