#pragma once
// When to try an upstream request again, and how long to wait first (DESIGN.md §8,
// partner-center.md "Throttling, retries, errors"). Pure functions: the clock and the
// randomness come in as arguments, so every decision is unit-testable.
// Thread-safety: free functions over values.
#include "config/config.hpp"
#include "core/clock.hpp"

#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <optional>
#include <string_view>

namespace pcproxy::upstream {

enum class failure;

/// What to do after an attempt.
enum class next_step {
  done,            // the answer (or failure) is final
  retry_same_id,   // retry with the same MS-RequestId: the request may never have arrived
  retry_new_id,    // retry with a new MS-RequestId: upstream answered this one
};

/// True for the methods retry.methods allows (never POST or PATCH).
bool method_is_retryable(boost::beast::http::verb method, const config::retry_config& settings);

/// The step after an attempt that got `status` (0 when no answer) or `error`.
/// Retried: the configured statuses (never 400/401/403/404/409/412/501/505), connection
/// failures, per-try timeouts, garbled answers. Not retried: TLS failures (they repeat),
/// oversized bodies, the overall deadline, and methods that are not retryable.
next_step after_attempt(unsigned status, failure error, bool method_retryable,
                        const config::retry_config& settings);

/// A Retry-After value as a wait from `now`: delta-seconds or an HTTP-date (RFC 9110
/// §10.2.3). A date in the past is a zero wait; anything else unreadable is nullopt.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value, core::sys_time now);

/// The wait before retry number `retry` (1 for the first retry): full jitter over
/// [0, min(max_delay, base_delay * 2^(retry-1))], `uniform01` in [0, 1).
std::chrono::milliseconds backoff_delay(int retry, double uniform01, const config::retry_config& settings);

/// The wait before the next attempt: upstream's Retry-After when it sent one (capped
/// at max_retry_after_ms), else the jittered backoff.
std::chrono::milliseconds retry_wait(int retry, std::optional<std::chrono::milliseconds> retry_after,
                                     double uniform01, const config::retry_config& settings);

}  // namespace pcproxy::upstream
