#include "core/http_date.hpp"

#include <array>
#include <charconv>
#include <chrono>

namespace pcproxy::core {
namespace {

constexpr std::array<std::string_view, 7> day_names = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 12> month_names = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

bool read_number(std::string_view s, int& out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size();
}

// A date from its fields; nullopt unless each is well formed and the day exists. Years
// before 1900 are refused; later than 2200 stand for the end of 2200 (sys_time counts
// nanoseconds and reaches only 2262), so an Expires of 9999 is far off, not invalid.
std::optional<sys_time> from_parts(std::string_view day_text, std::string_view month_text, std::string_view year_text,
                                   std::string_view time_text) {
  using namespace std::chrono;
  int d = 0, y = 0, hh = 0, mm = 0, ss = 0;
  if (time_text.size() != 8 || time_text[2] != ':' || time_text[5] != ':') return std::nullopt;
  if (day_text.empty() || year_text.size() != 4 || !read_number(day_text, d) || !read_number(year_text, y) ||
      !read_number(time_text.substr(0, 2), hh) || !read_number(time_text.substr(3, 2), mm) ||
      !read_number(time_text.substr(6, 2), ss))
    return std::nullopt;
  unsigned m = 0;
  while (m < 12 && month_names[m] != month_text) ++m;
  if (m == 12 || d < 1 || hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60 || y < 1900) return std::nullopt;
  const year_month_day ymd{year{y}, month{m + 1}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  if (y > 2200) return sys_days{year{2200} / December / 31} + hours{23} + minutes{59} + seconds{59};
  return sys_days{ymd} + hours{hh} + minutes{mm} + seconds{ss};
}

}  // namespace

std::string format_http_date(sys_time t) {
  using namespace std::chrono;
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss hms{floor<seconds>(t - day)};
  const weekday wd{day};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02u %s %04d %02d:%02d:%02d GMT",
                day_names[wd.c_encoding()].data(), static_cast<unsigned>(ymd.day()),
                month_names[static_cast<unsigned>(ymd.month()) - 1].data(), static_cast<int>(ymd.year()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

std::optional<sys_time> parse_http_date(std::string_view s) {
  // IMF-fixdate   "Sun, 06 Nov 1994 08:49:37 GMT"
  // rfc850-date   "Sunday, 06-Nov-94 08:49:37 GMT"
  // asctime-date  "Sun Nov  6 08:49:37 1994"
  if (s.size() == 29 && s.substr(3, 2) == ", " && s[7] == ' ' && s[11] == ' ' && s[16] == ' ' &&
      s.substr(25) == " GMT")
    return from_parts(s.substr(5, 2), s.substr(8, 3), s.substr(12, 4), s.substr(17, 8));
  if (const auto comma = s.find(", "); comma != std::string_view::npos && comma >= 6 && comma <= 9 &&
                                         s.size() == comma + 24 && s[comma + 4] == '-' && s[comma + 8] == '-' &&
                                         s[comma + 11] == ' ' && s.substr(comma + 20) == " GMT") {
    int yy = 0;
    if (!read_number(s.substr(comma + 9, 2), yy) || yy < 0) return std::nullopt;
    // §5.6.7: a two-digit year more than 50 years ahead is in the past century; with
    // no clock here, 70-99 are 19xx and 00-69 are 20xx.
    const auto year = std::to_string(yy < 70 ? 2000 + yy : 1900 + yy);
    return from_parts(s.substr(comma + 2, 2), s.substr(comma + 5, 3), year, s.substr(comma + 12, 8));
  }
  if (s.size() == 24 && s[3] == ' ' && s[7] == ' ' && s[10] == ' ' && s[19] == ' ') {
    auto day = s.substr(8, 2);
    if (day.front() == ' ') day.remove_prefix(1);
    return from_parts(day, s.substr(4, 3), s.substr(20, 4), s.substr(11, 8));
  }
  return std::nullopt;
}

}  // namespace pcproxy::core
