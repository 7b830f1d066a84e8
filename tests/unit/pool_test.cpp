// The upstream connection pool's bound and its waiting, without sockets.
#include "upstream/pool.hpp"

#include <gtest/gtest.h>


namespace pcproxy::upstream {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

TEST(ConnectionPool, HandsOutNewConnectionsUpToTheLimitThenWaitsUntilTheDeadline) {
  net::io_context ioc;
  pool connections(ioc, nullptr, 1, true);
  bool first_is_new = false;
  bool second_got_one = true;
  steady::duration second_waited{};
  net::co_spawn(ioc, [&]() -> awaitable<void> {
    auto first = co_await connections.acquire(steady::now() + 1s);
    first_is_new = first && !first->reused();
    const auto started = steady::now();
    auto second = co_await connections.acquire(steady::now() + 100ms);
    second_waited = steady::now() - started;
    second_got_one = second.has_value();
  }, net::detached);
  ioc.run();
  EXPECT_TRUE(first_is_new);
  EXPECT_FALSE(second_got_one);
  EXPECT_GE(second_waited, 100ms);
}

TEST(ConnectionPool, AReleasedSlotGoesToAWaiter) {
  net::io_context ioc;
  pool connections(ioc, nullptr, 1, true);
  std::vector<std::string> order;
  net::co_spawn(ioc, [&]() -> awaitable<void> {
    auto held = co_await connections.acquire(steady::now() + 1s);
    order.push_back("first acquired");
    net::steady_timer t(ioc);
    t.expires_after(50ms);
    co_await t.async_wait(use_nothrow);
    order.push_back("first released");
    held->release(false);  // not connected, so not kept: the slot frees up
  }, net::detached);
  net::co_spawn(ioc, [&]() -> awaitable<void> {
    auto second = co_await connections.acquire(steady::now() + 5s);
    order.push_back(second ? "second acquired" : "second timed out");
  }, net::detached);
  ioc.run();
  EXPECT_EQ(order, (std::vector<std::string>{"first acquired", "first released", "second acquired"}));
}

TEST(ConnectionPool, ALeaseDroppedWithoutReleaseFreesItsSlot) {
  net::io_context ioc;
  pool connections(ioc, nullptr, 1, true);
  bool again = false;
  net::co_spawn(ioc, [&]() -> awaitable<void> {
    { auto dropped = co_await connections.acquire(steady::now() + 1s); }
    auto next = co_await connections.acquire(steady::now() + 100ms);
    again = next.has_value();
  }, net::detached);
  ioc.run();
  EXPECT_TRUE(again);
}

}  // namespace
}  // namespace pcproxy::upstream
