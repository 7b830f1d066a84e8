#pragma once
// Rate-limited logging for failures that repeat per request or per operation (a full
// disk, an unreachable Redis): the first occurrence is logged at once, repeats at most
// once per period, with how many were left out in between.
// Thread-safety: allow() from any thread.
#include <atomic>
#include <chrono>
#include <cstdint>

namespace pcproxy::core {

class log_limiter {
public:
  explicit log_limiter(std::chrono::steady_clock::duration period = std::chrono::minutes(1)) : period_(period) {}

  /// True when a line may be logged now; then `suppressed` is how many were not
  /// logged since the last one.
  bool allow(std::uint64_t& suppressed) {
    const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    auto next = next_.load();
    if (now < next || !next_.compare_exchange_strong(next, now + period_.count())) {
      ++skipped_;
      return false;
    }
    suppressed = skipped_.exchange(0);
    return true;
  }

private:
  const std::chrono::steady_clock::duration period_;
  std::atomic<std::chrono::steady_clock::rep> next_{0};
  std::atomic<std::uint64_t> skipped_{0};
};

}  // namespace pcproxy::core
