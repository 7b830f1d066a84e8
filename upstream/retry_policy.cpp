#include "upstream/retry_policy.hpp"

#include "core/http_date.hpp"
#include "upstream/client.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace pcproxy::upstream {

namespace http = boost::beast::http;
using std::chrono::milliseconds;

bool method_is_retryable(http::verb method, const config::retry_config& settings) {
  if (method == http::verb::post || method == http::verb::patch) return false;
  const auto name = http::to_string(method);
  return std::any_of(settings.methods.begin(), settings.methods.end(),
                     [&](const std::string& m) { return m == name; });
}

next_step after_attempt(unsigned status, failure error, bool method_retryable,
                        const config::retry_config& settings) {
  if (!method_retryable) return next_step::done;
  if (status != 0) {
    const bool listed = std::find(settings.statuses.begin(), settings.statuses.end(), static_cast<int>(status)) !=
                        settings.statuses.end();
    return listed ? next_step::retry_new_id : next_step::done;
  }
  switch (error) {
    case failure::connect:
    case failure::timeout:
    case failure::connection_lost:
      return next_step::retry_same_id;  // the request may not have reached upstream
    case failure::bad_response:
      return next_step::retry_new_id;  // it did, and the answer was garbage
    default:
      return next_step::done;
  }
}

std::optional<milliseconds> parse_retry_after(std::string_view value, core::sys_time now) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  long long seconds = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec == std::errc{} && end == value.data() + value.size() && seconds >= 0)
    return milliseconds(std::min(seconds, 365LL * 24 * 3600) * 1000);
  if (const auto at = core::parse_http_date(value)) {
    if (*at <= now) return milliseconds(0);
    return std::chrono::duration_cast<milliseconds>(*at - now);
  }
  return std::nullopt;
}

milliseconds backoff_delay(int retry, double uniform01, const config::retry_config& settings) {
  const double exponential = static_cast<double>(settings.base_delay_ms) * std::pow(2.0, std::max(0, retry - 1));
  const double cap = std::min(static_cast<double>(settings.max_delay_ms), exponential);
  return milliseconds(static_cast<long long>(std::clamp(uniform01, 0.0, 1.0) * cap));
}

milliseconds retry_wait(int retry, std::optional<milliseconds> retry_after, double uniform01,
                        const config::retry_config& settings) {
  if (retry_after) return std::min(*retry_after, milliseconds(settings.max_retry_after_ms));
  return backoff_delay(retry, uniform01, settings);
}

}  // namespace pcproxy::upstream
