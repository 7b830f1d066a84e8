#include "cache/freshness.hpp"

#include "core/text.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace pcproxy::cache {
namespace {

using std::chrono::seconds;

std::chrono::year_month utc_month(core::sys_time t) noexcept {
  const std::chrono::year_month_day ymd{std::chrono::floor<std::chrono::days>(t)};
  return {ymd.year(), ymd.month()};
}

// The first instant of the UTC month after the one `t` falls in.
core::sys_time next_month_start(core::sys_time t) noexcept {
  const auto next = utc_month(t) + std::chrono::months{1};
  return std::chrono::sys_days{next / std::chrono::day{1}};
}

using core::iequals;
using core::trim;

std::optional<seconds> parse_seconds(std::string_view v) noexcept {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  long long n = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec == std::errc::result_out_of_range && !v.empty() && v.front() != '-')
    return seconds{2147483648LL};  // RFC 9111 §1.2.2: treat overflow as "a very long time"
  if (ec != std::errc{} || end != v.data() + v.size() || n < 0) return std::nullopt;
  return seconds{n};
}

}  // namespace

seconds age(const entry& e, core::sys_time now) noexcept {
  return seconds{core::seconds_between(e.revalidated_at, now)};
}

bool crosses_month_boundary(core::sys_time a, core::sys_time b) noexcept {
  return utc_month(a) != utc_month(b);
}

seconds time_to_live(const entry& e, core::sys_time now) noexcept {
  auto fresh_until = e.revalidated_at + e.rules.ttl;
  if (e.rules.month_boundary) fresh_until = std::min(fresh_until, next_month_start(e.revalidated_at));
  if (now >= fresh_until) return seconds{0};
  return std::chrono::ceil<seconds>(fresh_until - now);
}

freshness classify(const entry& e, core::sys_time now) noexcept {
  const auto a = age(e, now);
  const bool month_passed = e.rules.month_boundary && crosses_month_boundary(e.revalidated_at, now);
  if (!month_passed) {
    if (time_to_live(e, now) > seconds{0}) return freshness::fresh;
    if (a < e.rules.ttl + e.rules.stale_while_revalidate) return freshness::stale_while_revalidate;
  }
  if (usable_if_error(e, now)) return freshness::stale;
  return freshness::unusable;
}

bool usable_if_error(const entry& e, core::sys_time now) noexcept {
  return age(e, now) < e.rules.ttl + e.rules.stale_if_error;
}

cache_control parse_cache_control(std::string_view value) noexcept {
  cache_control cc;
  while (!value.empty()) {
    const auto comma = value.find(',');
    const auto directive = trim(value.substr(0, comma));
    value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
    const auto eq = directive.find('=');
    const auto name = trim(directive.substr(0, eq));
    const auto arg = eq == std::string_view::npos ? std::string_view{} : trim(directive.substr(eq + 1));
    if (iequals(name, "no-store")) cc.no_store = true;
    else if (iequals(name, "no-cache")) cc.no_cache = true;
    else if (iequals(name, "private")) cc.private_ = true;
    else if (iequals(name, "public")) cc.public_ = true;
    else if (iequals(name, "must-revalidate")) cc.must_revalidate = true;
    else if (iequals(name, "only-if-cached")) cc.only_if_cached = true;
    else if (iequals(name, "max-age")) cc.max_age = parse_seconds(arg);
    else if (iequals(name, "s-maxage")) cc.s_maxage = parse_seconds(arg);
  }
  return cc;
}

std::optional<seconds> http_lifetime(const cache_control& response,
                                     bool request_had_authorization) noexcept {
  if (response.no_store || response.private_ || response.no_cache) return std::nullopt;
  if (request_had_authorization && !response.public_ && !response.s_maxage &&
      !response.must_revalidate)
    return std::nullopt;
  if (response.s_maxage) return response.s_maxage;
  if (response.max_age) return response.max_age;
  return std::nullopt;  // no explicit lifetime: pcproxy does not guess a heuristic one
}

}  // namespace pcproxy::cache
