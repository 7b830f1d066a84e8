#include "upstream/retry_budget.hpp"

#include <cmath>

namespace pcproxy::upstream {

retry_budget::retry_budget(double ratio, std::shared_ptr<const core::clock> clock)
    : ratio_(ratio), clock_(std::move(clock)) {}

retry_budget::bucket& retry_budget::current_locked() {
  const auto second =
      std::chrono::duration_cast<std::chrono::seconds>(clock_->now().time_since_epoch()).count();
  auto& b = buckets_[static_cast<std::size_t>(second) % window_seconds];
  if (b.second != second) b = bucket{second, 0, 0};  // a bucket from an earlier window
  return b;
}

retry_budget::statistics retry_budget::window_locked() const {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(clock_->now().time_since_epoch()).count();
  statistics s;
  for (const auto& b : buckets_)
    if (b.second > now - static_cast<long long>(window_seconds) && b.second <= now) {
      s.requests += b.requests;
      s.retries += b.retries;
    }
  s.rejections = rejections_;
  return s;
}

void retry_budget::set_ratio(double ratio) {
  std::lock_guard lock(mutex_);
  ratio_ = ratio;
}

void retry_budget::record_request() {
  std::lock_guard lock(mutex_);
  ++current_locked().requests;
}

bool retry_budget::try_spend() {
  std::lock_guard lock(mutex_);
  const auto window = window_locked();
  const auto allowed = floor + static_cast<std::uint64_t>(std::floor(ratio_ * static_cast<double>(window.requests)));
  if (window.retries >= allowed) {
    ++rejections_;
    return false;
  }
  ++current_locked().retries;
  return true;
}

bool retry_budget::spent() const {
  std::lock_guard lock(mutex_);
  const auto window = window_locked();
  return window.retries >= floor + static_cast<std::uint64_t>(std::floor(ratio_ * static_cast<double>(window.requests)));
}

retry_budget::statistics retry_budget::stats() const {
  std::lock_guard lock(mutex_);
  return window_locked();
}

}  // namespace pcproxy::upstream
