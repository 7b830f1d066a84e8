#pragma once
// A clock tests move by hand (freshness, month boundaries, token expiry).
#include "core/clock.hpp"

#include <atomic>
#include <chrono>

namespace pcproxy::testing {

class manual_clock final : public core::clock {
public:
  explicit manual_clock(core::sys_time start = std::chrono::sys_days{std::chrono::year{2026} / 11 / 10} +
                                               std::chrono::hours{12})
      : now_(start.time_since_epoch().count()) {}

  core::sys_time now() const noexcept override { return core::sys_time{core::sys_time::duration{now_.load()}}; }
  void advance(std::chrono::seconds by) { now_ += std::chrono::duration_cast<core::sys_time::duration>(by).count(); }
  void set(core::sys_time t) { now_ = t.time_since_epoch().count(); }

private:
  std::atomic<core::sys_time::rep> now_;
};

}  // namespace pcproxy::testing
