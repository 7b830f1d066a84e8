#pragma once
// A one-shot wake-up for a coroutine that waits with a deadline, woken from any thread:
// the "condition variable" of the connection pool and the single flight.
// Thread-safety: wake() from any thread; wait_until() by the one coroutine that owns
// it, on a strand or a single-threaded executor (the wake is delivered there).
#include "core/net.hpp"

#include <atomic>
#include <chrono>
#include <memory>

namespace pcproxy::core {

class wakeup : public std::enable_shared_from_this<wakeup> {
public:
  explicit wakeup(net::any_io_executor executor) : timer_(std::move(executor)) {}

  static std::shared_ptr<wakeup> on(net::any_io_executor executor) {
    return std::make_shared<wakeup>(std::move(executor));
  }

  /// True when woken (before or while waiting), false when `until` passed first.
  awaitable<bool> wait_until(std::chrono::steady_clock::time_point until) {
    if (woken_.load()) co_return true;
    timer_.expires_at(until);
    co_await timer_.async_wait(use_nothrow);
    co_return woken_.load();
  }

  void wake() {
    if (woken_.exchange(true)) return;
    // The timer belongs to the waiter's executor: cancel it there. Set-then-post means
    // the waiter either sees the flag before arming the timer or has the timer cancelled.
    net::post(timer_.get_executor(), [self = shared_from_this()] { self->timer_.cancel(); });
  }

  bool woken() const { return woken_.load(); }

private:
  net::steady_timer timer_;
  std::atomic<bool> woken_{false};
};

}  // namespace pcproxy::core
