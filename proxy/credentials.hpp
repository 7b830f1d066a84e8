#pragma once
// Partner Center credentials handled by pcproxy (upstream.auth.mode refresh_token, the
// Secure Application Model): the refresh token (valid 90 days, renewed each time it is
// redeemed) and the app's id and secret are redeemed at <authority>/<tenant>/oauth2/token
// for an access token that lives about an hour.
//
// - The access token is kept in memory only. A background loop refreshes it ahead of
//   its expiry (a fifth of its lifetime, at most 5 minutes, before it), and a request
//   that finds it missing refreshes it itself: one refresh however many requests wait.
// - The rotated refresh token is written back to refresh_token_file atomically
//   (temporary file, fsync, rename, mode 0600), so a restart after 89 days still works.
// - A failure (invalid_grant, invalid_client, no answer in time, unreachable) is a value
//   with words that say what to do; it is logged once a minute, counted by outcome, and
//   retried after a growing pause (1 s doubling to 60 s) rather than by every request.
//   While no valid access token can be had, not_ready_reason() says why (/readyz).
//   After invalid_grant the refresh token file is read again, so replacing it is enough.
// - No secret (client secret, refresh or access token) is ever logged or exposed.
// Thread-safety: every member may be called concurrently from any executor.
#include "config/config.hpp"
#include "core/clock.hpp"
#include "core/log_limiter.hpp"
#include "core/net.hpp"
#include "upstream/client.hpp"

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pcproxy::core {
class wakeup;
}

namespace pcproxy::proxy {

class credential_provider : public std::enable_shared_from_this<credential_provider> {
public:
  /// Start-up: throws std::runtime_error naming the key when the secret or the refresh
  /// token file cannot be read. `token_endpoint`: a client for upstream.auth.authority.
  credential_provider(const config::auth_config& settings, std::shared_ptr<upstream::transport> token_endpoint,
                      std::shared_ptr<const core::clock> clock);

  struct outcome {
    std::shared_ptr<const std::string> authorization;  // "Bearer <access token>"; null when none is valid
    std::string failure;                               // what went wrong and what to do ("" when fine)
  };
  /// A valid access token, refreshed first when it is missing or expired.
  awaitable<outcome> authorization();

  /// Upstream answered 401 to `authorization`. True when a new token will be tried (the
  /// caller retries once); false when that token was itself just refreshed because of a
  /// 401 (a refusal a refresh does not cure: at most one such refresh a minute).
  bool rejected(const std::string& authorization);

  /// Redeems the refresh token now, then keeps the access token fresh until stop().
  void start(net::any_io_executor executor);
  void stop();

  /// "" while a valid access token is held, else why there is none (for /readyz).
  std::string not_ready_reason() const;

  enum class result { ok, invalid_grant, invalid_client, timeout, unreachable, error };
  static constexpr std::size_t result_count = 6;
  static const char* to_string(result r) noexcept;
  /// Token requests by outcome, since start.
  std::vector<std::pair<result, std::uint64_t>> refreshes() const;

private:
  struct token_state {
    std::shared_ptr<const std::string> authorization;
    core::sys_time obtained{};
    core::sys_time expires{};
    core::sys_time refresh_after{};
    bool forced = false;  // obtained because upstream refused the one before
  };
  awaitable<void> keep_fresh();
  /// Makes the background loop plan again (after a failure: to retry when the pause ends).
  void replan();
  awaitable<outcome> refresh();
  outcome succeed(const std::string& access, std::chrono::seconds lifetime, const std::string& rotated,
                  const std::string& redeemed);
  outcome fail(result r, std::string why);
  void write_refresh_token(const std::string& token);
  bool valid(core::sys_time now) const { return token_.authorization && now < token_.expires; }

  const config::auth_config settings_;
  const std::shared_ptr<upstream::transport> endpoint_;
  const std::shared_ptr<const core::clock> clock_;
  const std::string client_secret_;

  mutable std::mutex mutex_;
  token_state token_;
  std::string refresh_token_;
  bool refreshing_ = false;
  bool force_pending_ = false;  // the refresh under way was asked for by a 401
  std::vector<std::shared_ptr<core::wakeup>> waiters_;
  std::string last_failure_;
  result last_result_ = result::ok;
  bool attempted_ = false;
  unsigned failures_in_a_row_ = 0;
  core::sys_time retry_at_{};

  // The background loop: its timer lives on its strand; replan() and stop() cancel it there.
  std::optional<net::strand<net::any_io_executor>> strand_;
  std::optional<net::steady_timer> timer_;
  std::atomic<bool> stopped_{false};

  std::array<std::atomic<std::uint64_t>, result_count> counts_{};
  core::log_limiter failure_log_;
};

}  // namespace pcproxy::proxy
