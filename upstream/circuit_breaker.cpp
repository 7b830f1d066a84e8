#include "upstream/circuit_breaker.hpp"

namespace pcproxy::upstream {

using std::chrono::milliseconds;

const char* to_string(circuit_breaker::state s) {
  switch (s) {
    case circuit_breaker::state::closed: return "closed";
    case circuit_breaker::state::open: return "open";
    case circuit_breaker::state::half_open: return "half_open";
  }
  return "closed";
}

circuit_breaker::circuit_breaker(std::int64_t threshold, milliseconds open_for,
                                 std::shared_ptr<const core::clock> clock)
    : threshold_(threshold), open_for_(open_for), clock_(std::move(clock)) {}

circuit_breaker::permit circuit_breaker::allow() {
  std::lock_guard lock(mutex_);
  if (!enabled_) return {};
  const auto now = clock_->now();
  switch (state_) {
    case state::closed:
      return {};
    case state::open:
      if (now < open_until_)
        return {false, false, std::chrono::ceil<milliseconds>(open_until_ - now)};
      state_ = state::half_open;
      probe_started_ = now;
      return {true, true, milliseconds(0)};
    case state::half_open:
      // One probe at a time; a probe that never reported back (its request was cut
      // off) is replaced after another open period.
      if (now - probe_started_ >= open_for_) {
        probe_started_ = now;
        return {true, true, milliseconds(0)};
      }
      return {false, false, std::chrono::ceil<milliseconds>(probe_started_ + open_for_ - now)};
  }
  return {};
}

void circuit_breaker::reconfigure(bool enabled, std::int64_t threshold, milliseconds open_for) {
  std::lock_guard lock(mutex_);
  enabled_ = enabled;
  threshold_ = threshold;
  open_for_ = open_for;
  if (!enabled_) {
    state_ = state::closed;
    failures_ = 0;
  }
}

void circuit_breaker::record(bool success, bool probe) {
  std::lock_guard lock(mutex_);
  if (!enabled_) return;
  if (success) {
    failures_ = 0;
    if (probe || state_ == state::closed) state_ = state::closed;
    return;
  }
  ++failures_;
  if (probe || (state_ == state::closed && failures_ >= threshold_)) {
    state_ = state::open;
    open_until_ = clock_->now() + open_for_;
  }
}

circuit_breaker::state circuit_breaker::current() const {
  std::lock_guard lock(mutex_);
  return state_;
}

std::int64_t circuit_breaker::consecutive_failures() const {
  std::lock_guard lock(mutex_);
  return failures_;
}

}  // namespace pcproxy::upstream
