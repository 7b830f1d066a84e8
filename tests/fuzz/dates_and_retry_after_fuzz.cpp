// HTTP dates (IMF-fixdate, RFC 850, asctime) and Retry-After (delay-seconds or a date):
// what a parsed date prints as parses back to the same instant, and a wait is never
// negative.
#include "core/http_date.hpp"
#include "tests/fuzz/fuzz_input.hpp"
#include "upstream/retry_policy.hpp"

#include <chrono>

using namespace pcproxy;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = fuzz::as_text(data, size);
  if (const auto when = core::parse_http_date(text)) {
    const auto again = core::parse_http_date(core::format_http_date(*when));
    fuzz::require(again && *again == std::chrono::floor<std::chrono::seconds>(*when));
  }
  const core::sys_time now{std::chrono::seconds(1'700'000'000)};
  if (const auto wait = upstream::parse_retry_after(text, now)) fuzz::require(wait->count() >= 0);
  return 0;
}
