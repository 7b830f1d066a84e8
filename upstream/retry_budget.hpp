#pragma once
// The retry budget (DESIGN.md §8): retries may be at most `ratio` of the requests of
// the last 10 seconds (plus a small floor, so a lone client can still retry), so a
// failing upstream sees about (1 + ratio) x the request rate, never x max_attempts.
// Thread-safety: every member is safe from any thread.
#include "core/clock.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>

namespace pcproxy::upstream {

class retry_budget {
public:
  /// Retries allowed per window regardless of traffic.
  static constexpr std::uint64_t floor = 3;

  retry_budget(double ratio, std::shared_ptr<const core::clock> clock);

  void set_ratio(double ratio);

  /// Counts one logical request.
  void record_request();
  /// Takes one retry from the budget; false (and counted as a rejection) when spent.
  bool try_spend();
  /// True when the budget is spent (nothing taken, nothing counted).
  bool spent() const;

  struct statistics {
    std::uint64_t requests = 0;  // in the window
    std::uint64_t retries = 0;   // in the window
    std::uint64_t rejections = 0;  // since start
  };
  statistics stats() const;

private:
  struct bucket {
    long long second = -1;
    std::uint64_t requests = 0;
    std::uint64_t retries = 0;
  };
  static constexpr std::size_t window_seconds = 10;

  bucket& current_locked();
  statistics window_locked() const;

  double ratio_;  // guarded by mutex_
  const std::shared_ptr<const core::clock> clock_;
  mutable std::mutex mutex_;
  std::array<bucket, window_seconds> buckets_{};
  std::uint64_t rejections_ = 0;
};

}  // namespace pcproxy::upstream
