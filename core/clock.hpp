#pragma once
// Wall-clock time, injected wherever a decision depends on it (freshness, month
// boundaries, token expiry) so unit tests can move time by hand.
// Thread-safety: implementations must be safe to call from any thread.
#include <chrono>

namespace pcproxy::core {

using sys_time = std::chrono::system_clock::time_point;

class clock {
public:
  virtual ~clock() = default;
  virtual sys_time now() const noexcept = 0;
};

/// The real clock.
class system_clock final : public clock {
public:
  sys_time now() const noexcept override { return std::chrono::system_clock::now(); }
};

/// Whole seconds between two instants, never negative.
inline long long seconds_between(sys_time from, sys_time to) noexcept {
  auto d = std::chrono::duration_cast<std::chrono::seconds>(to - from).count();
  return d < 0 ? 0 : d;
}

}  // namespace pcproxy::core
