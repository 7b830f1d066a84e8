#pragma once
// The tiers the conformance suite runs over, each made fresh per test with a byte
// bound, a manual clock and a temporary directory; and a runner for their awaitables.
#include "cache/tier.hpp"
#include "tests/support/manual_clock.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace pcproxy::testing {

struct tier_options {
  std::size_t max_bytes;
  std::shared_ptr<const core::clock> clock;
  std::string dir;
};

struct tier_factory {
  std::string name;
  std::function<std::shared_ptr<cache::tier>(const tier_options&)> make;
};

/// Every tier pcproxy ships (tier_factories.cpp).
std::vector<tier_factory> tier_factories();

/// Runs one awaitable to completion on a private io_context and returns its result.
struct tier_runner {
  template <typename T>
  T operator()(awaitable<T> work) {
    net::io_context ioc;
    auto result = net::co_spawn(ioc, std::move(work), net::use_future);
    ioc.run();
    return result.get();
  }
  void operator()(awaitable<void> work) {
    net::io_context ioc;
    auto result = net::co_spawn(ioc, std::move(work), net::use_future);
    ioc.run();
    result.get();
  }
};

}  // namespace pcproxy::testing
