#pragma once
// Partner Center's throttling, remembered (partner-center.md "Throttling"): after a 429
// with Retry-After, requests of the same scope (caller credential or tenant) are not
// sent upstream until the wait has passed; they are answered from the cache or with
// 429 and the time left.
// Thread-safety: every member is safe from any thread.
#include "core/clock.hpp"

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace pcproxy::upstream {

class throttle {
public:
  explicit throttle(std::shared_ptr<const core::clock> clock, std::size_t max_scopes = 100000);

  /// Upstream throttled `scope` for `wait`.
  void hold(const std::string& scope, std::chrono::milliseconds wait);
  /// The wait left for `scope`, or nullopt when it may go upstream.
  std::optional<std::chrono::milliseconds> remaining(const std::string& scope) const;
  /// Scopes being held back right now.
  std::size_t held() const;

private:
  const std::shared_ptr<const core::clock> clock_;
  const std::size_t max_scopes_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, core::sys_time> until_;
};

}  // namespace pcproxy::upstream
