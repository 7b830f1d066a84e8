#include "proxy/token_verdicts.hpp"

#include <cstring>

namespace pcproxy::proxy {

std::size_t token_verdicts::digest_hash::operator()(const core::sha256_digest& d) const noexcept {
  std::size_t h;
  std::memcpy(&h, d.data(), sizeof h);
  return h;
}

token_verdicts::token_verdicts(std::shared_ptr<const core::clock> clock, std::size_t max_tokens)
    : clock_(std::move(clock)), max_tokens_(max_tokens) {}

bool token_verdicts::accepted(std::string_view authorization) const {
  const auto digest = core::sha256(authorization);
  const auto now = clock_->now();
  std::lock_guard lock(mutex_);
  const auto it = until_.find(digest);
  return it != until_.end() && now < it->second;
}

void token_verdicts::accept(std::string_view authorization, std::optional<core::sys_time> expires) {
  const auto now = clock_->now();
  const auto cap = now + std::chrono::hours(24);
  const auto until = expires ? std::min(*expires, cap) : cap;
  if (until <= now) return;  // already expired: nothing to remember
  const auto digest = core::sha256(authorization);
  std::lock_guard lock(mutex_);
  if (until_.size() >= max_tokens_ && !until_.count(digest)) {
    std::erase_if(until_, [&](const auto& v) { return v.second <= now; });
    if (until_.size() >= max_tokens_) until_.clear();  // tokens only re-verify: safe, if slower
  }
  until_[digest] = until;
}

void token_verdicts::reject(std::string_view authorization) {
  const auto digest = core::sha256(authorization);
  std::lock_guard lock(mutex_);
  until_.erase(digest);
}

void token_verdicts::record(std::string_view authorization, unsigned status, std::optional<core::sys_time> expires) {
  if (status >= 200 && status < 300) accept(authorization, expires);
  if (status == 401 || status == 403) reject(authorization);
}

std::size_t token_verdicts::size() const {
  std::lock_guard lock(mutex_);
  return until_.size();
}

}  // namespace pcproxy::proxy
