#pragma once
// HTTP dates (RFC 9110 §5.6.7). Thread-safety: free functions.
#include "core/clock.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace pcproxy::core {

/// IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
std::string format_http_date(sys_time t);

/// Parses the three forms recipients must accept: IMF-fixdate (the only one senders may
/// generate), rfc850-date and asctime-date; nullopt otherwise. Dates before 1900 are
/// refused; dates after 2200 read as the end of 2200.
std::optional<sys_time> parse_http_date(std::string_view text);

}  // namespace pcproxy::core
