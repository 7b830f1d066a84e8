#pragma once
// Polls a condition until it holds or `within` passes: for effects that arrive
// asynchronously (a background refresh, a pub/sub message, a write queue).
#include <chrono>
#include <thread>

namespace pcproxy::testing {

/// True as soon as `condition()` is; false when it still is not after `within`.
template <typename Condition>
bool eventually(Condition condition, std::chrono::milliseconds within = std::chrono::seconds(3)) {
  const auto until = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < until) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

}  // namespace pcproxy::testing
