#include "upstream/throttle.hpp"

namespace pcproxy::upstream {

throttle::throttle(std::shared_ptr<const core::clock> clock, std::size_t max_scopes)
    : clock_(std::move(clock)), max_scopes_(max_scopes) {}

void throttle::hold(const std::string& scope, std::chrono::milliseconds wait) {
  if (wait.count() <= 0) return;
  const auto now = clock_->now();
  std::lock_guard lock(mutex_);
  if (until_.size() >= max_scopes_) std::erase_if(until_, [&](const auto& e) { return e.second <= now; });
  if (until_.size() >= max_scopes_) return;  // more throttled scopes than memory: let upstream say it again
  auto& until = until_[scope];
  until = std::max(until, now + wait);
}

std::optional<std::chrono::milliseconds> throttle::remaining(const std::string& scope) const {
  const auto now = clock_->now();
  std::lock_guard lock(mutex_);
  const auto it = until_.find(scope);
  if (it == until_.end() || it->second <= now) return std::nullopt;
  return std::chrono::ceil<std::chrono::milliseconds>(it->second - now);
}

std::size_t throttle::held() const {
  const auto now = clock_->now();
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& [scope, until] : until_)
    if (until > now) ++n;
  return n;
}

}  // namespace pcproxy::upstream
