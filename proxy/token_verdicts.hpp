#pragma once
// Tenant scope's gate (DESIGN.md §2): a bearer token may read its tenant's cached
// entries only after upstream answered 2xx to that exact token. The verdict is kept
// (by SHA-256 of the Authorization value, never the token) until the token's exp, and
// dropped when upstream answers 401 or 403 to it.
// Thread-safety: every member is safe from any thread.
#include "core/clock.hpp"
#include "core/sha256.hpp"

#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>

namespace pcproxy::proxy {

class token_verdicts {
public:
  /// `max_tokens` bounds memory: beyond it, expired verdicts are dropped, then all.
  token_verdicts(std::shared_ptr<const core::clock> clock, std::size_t max_tokens = 100000);

  /// True when upstream accepted this Authorization value and it has not expired.
  bool accepted(std::string_view authorization) const;

  /// Records a 2xx from upstream for the value, valid until `expires` (capped at a day;
  /// a day when the token has no exp).
  void accept(std::string_view authorization, std::optional<core::sys_time> expires);

  /// Forgets the value (upstream answered 401 or 403 to it).
  void reject(std::string_view authorization);

  /// Upstream's answer to a request with this value: 2xx accepts it (until `expires`),
  /// 401 and 403 reject it, anything else says nothing about it.
  void record(std::string_view authorization, unsigned status, std::optional<core::sys_time> expires);

  std::size_t size() const;

private:
  struct digest_hash {
    std::size_t operator()(const core::sha256_digest& d) const noexcept;
  };

  std::shared_ptr<const core::clock> clock_;
  const std::size_t max_tokens_;
  mutable std::mutex mutex_;
  std::unordered_map<core::sha256_digest, core::sys_time, digest_hash> until_;
};

}  // namespace pcproxy::proxy
