#pragma once
// The circuit breaker (DESIGN.md §8): `threshold` consecutive failed logical requests
// open it for `open_for`; while open, requests fail fast. Then one request is let
// through as a probe: its success closes the circuit, its failure opens it again.
// Disabled (circuit.enabled false), it lets everything through and stays closed: for an
// origin whose 5xx answers are meant for the client.
// Thread-safety: every member is safe from any thread.
#include "core/clock.hpp"

#include <chrono>
#include <memory>
#include <mutex>

namespace pcproxy::upstream {

class circuit_breaker {
public:
  enum class state { closed, open, half_open };

  circuit_breaker(std::int64_t threshold, std::chrono::milliseconds open_for,
                  std::shared_ptr<const core::clock> clock);

  struct permit {
    bool allowed = true;
    bool probe = false;                          // this request decides a half-open circuit
    std::chrono::milliseconds retry_after{0};    // when refused: until the next probe
  };
  /// May a request go upstream now?
  permit allow();

  /// New settings (a reload); the current state is kept, unless `enabled` is false:
  /// then it is closed and stays closed.
  void reconfigure(bool enabled, std::int64_t threshold, std::chrono::milliseconds open_for);

  /// The outcome of a request that was allowed.
  void record(bool success, bool probe);

  state current() const;
  std::int64_t consecutive_failures() const;

private:
  bool enabled_ = true;                   // guarded by mutex_
  std::int64_t threshold_;               // guarded by mutex_
  std::chrono::milliseconds open_for_;  // guarded by mutex_
  const std::shared_ptr<const core::clock> clock_;
  mutable std::mutex mutex_;
  state state_ = state::closed;
  std::int64_t failures_ = 0;
  core::sys_time open_until_{};
  core::sys_time probe_started_{};
};

const char* to_string(circuit_breaker::state s);

}  // namespace pcproxy::upstream
