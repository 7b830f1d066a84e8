#pragma once
// Retries, the retry budget, the circuit breaker and throttling around a transport
// (DESIGN.md §8-§9): the policy lives in retry_policy, retry_budget, circuit_breaker
// and throttle; this class runs the attempts, waits between them, and keeps the
// correlation ids right across them (MS-RequestId reused after a timeout or a lost
// connection, new after an error answer; MS-CV incremented before every attempt).
// Thread-safety: send() runs concurrently; statistics are atomic or locked.
#include "config/config.hpp"
#include "core/clock.hpp"
#include "upstream/circuit_breaker.hpp"
#include "upstream/client.hpp"
#include "upstream/retry_budget.hpp"
#include "upstream/throttle.hpp"

#include <array>
#include <atomic>
#include <functional>
#include <memory>

namespace pcproxy::upstream {

class resilient_transport final : public transport {
public:
  /// `uniform01` draws the jitter in [0, 1); `random` makes new request ids.
  resilient_transport(std::shared_ptr<transport> inner, const config::config& settings,
                      std::shared_ptr<const core::clock> clock, std::function<double()> uniform01,
                      random_source random);

  awaitable<result> send(const request& req, correlation corr, bool idempotent) override;
  bool ready_for(const std::string& scope) const override;

  /// A reload: new retry and circuit settings for the requests that start from now.
  void apply(const config::config& settings);

  /// Holds `scope` back for `wait`, as another instance of the fleet saw upstream ask.
  void hold(const std::string& scope, std::chrono::milliseconds wait);
  /// Start-up: `listener` learns of every hold this instance starts itself (to tell
  /// the fleet). Set before requests flow.
  void on_hold(std::function<void(const std::string& scope, std::chrono::milliseconds wait)> listener);

  struct statistics {
    std::uint64_t requests = 0;        // logical requests that went upstream
    std::uint64_t attempts = 0;
    std::uint64_t retries = 0;
    std::uint64_t budget_rejections = 0;
    std::uint64_t circuit_rejections = 0;
    std::uint64_t throttle_rejections = 0;
    circuit_breaker::state circuit = circuit_breaker::state::closed;
    std::size_t throttled_scopes = 0;
  };
  statistics stats() const;

private:
  const std::shared_ptr<transport> inner_;
  std::atomic<std::shared_ptr<const config::retry_config>> retry_;
  const std::chrono::milliseconds deadline_;
  const std::shared_ptr<const core::clock> clock_;
  const std::function<double()> uniform01_;
  const random_source random_;
  retry_budget budget_;
  circuit_breaker breaker_;
  throttle throttle_;
  std::function<void(const std::string&, std::chrono::milliseconds)> hold_listener_;
  std::atomic<std::uint64_t> requests_{0}, attempts_{0}, retries_{0}, circuit_rejections_{0},
      throttle_rejections_{0};
};

/// A jitter source for production: a per-thread generator seeded from the OS.
std::function<double()> system_uniform01();

}  // namespace pcproxy::upstream
