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
  using namespace std::chrono;
  // "Sun, 06 Nov 1994 08:49:37 GMT"
  if (s.size() != 29 || s.substr(3, 2) != ", " || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
      s[19] != ':' || s[22] != ':' || s.substr(25) != " GMT")
    return std::nullopt;
  int d = 0, y = 0, hh = 0, mm = 0, ss = 0;
  if (!read_number(s.substr(5, 2), d) || !read_number(s.substr(12, 4), y) ||
      !read_number(s.substr(17, 2), hh) || !read_number(s.substr(20, 2), mm) ||
      !read_number(s.substr(23, 2), ss))
    return std::nullopt;
  unsigned m = 0;
  while (m < 12 && month_names[m] != s.substr(8, 3)) ++m;
  if (m == 12 || hh > 23 || mm > 59 || ss > 60) return std::nullopt;
  const year_month_day ymd{year{y}, month{m + 1}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  return sys_days{ymd} + hours{hh} + minutes{mm} + seconds{ss};
}

}  // namespace pcproxy::core
