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
  return e.initial_age + seconds{core::seconds_between(e.revalidated_at, now)};
}

bool crosses_month_boundary(core::sys_time a, core::sys_time b) noexcept {
  return utc_month(a) != utc_month(b);
}

seconds time_to_live(const entry& e, core::sys_time now) noexcept {
  if (e.rules.no_cache) return seconds{0};
  const auto a = age(e, now);
  if (a >= e.rules.ttl) return seconds{0};
  auto left = e.rules.ttl - a;
  if (e.rules.month_boundary) {
    const auto month_end = next_month_start(e.revalidated_at);
    if (now >= month_end) return seconds{0};
    left = std::min(left, std::chrono::ceil<seconds>(month_end - now));
  }
  return left;
}

freshness classify(const entry& e, core::sys_time now) noexcept {
  const auto a = age(e, now);
  const bool month_passed = e.rules.month_boundary && crosses_month_boundary(e.revalidated_at, now);
  if (!month_passed) {
    if (time_to_live(e, now) > seconds{0}) return freshness::fresh;
    if (!e.rules.must_revalidate && !e.rules.no_cache && a < e.rules.ttl + e.rules.stale_while_revalidate)
      return freshness::stale_while_revalidate;
  }
  // A stale entry is kept for its validators until its windows end; one that must be
  // revalidated is never served stale.
  if (a < e.rules.ttl + std::max(e.rules.stale_while_revalidate, e.rules.stale_if_error)) return freshness::stale;
  return freshness::unusable;
}

bool usable_if_error(const entry& e, core::sys_time now) noexcept {
  return !e.rules.must_revalidate && age(e, now) < e.rules.ttl + e.rules.stale_if_error;
}

namespace {

// Splits a list on commas outside quoted strings (no-cache="a, b" is one directive).
template <typename Each>
void for_each_directive(std::string_view value, Each each) {
  std::size_t start = 0;
  bool quoted = false;
  for (std::size_t i = 0; i <= value.size(); ++i) {
    if (i < value.size() && value[i] == '"' && (i == 0 || value[i - 1] != '\\')) quoted = !quoted;
    if (i == value.size() || (value[i] == ',' && !quoted)) {
      const auto directive = trim(value.substr(start, i - start));
      if (!directive.empty()) each(directive);
      start = i + 1;
    }
  }
}

// A delta-seconds directive; a second occurrence with another value, or a value that
// is not delta-seconds, makes it invalid (`invalid` set, the value dropped).
void take_seconds(std::optional<seconds>& slot, bool& invalid, std::string_view arg, bool has_arg) {
  const auto v = has_arg ? parse_seconds(arg) : std::nullopt;
  if (!v || (slot && *slot != *v)) {
    invalid = true;
    slot.reset();
    return;
  }
  slot = v;
}

}  // namespace

cache_control parse_cache_control(std::string_view value) noexcept {
  cache_control cc;
  bool max_age_seen = false, s_maxage_seen = false, ignored = false;
  for_each_directive(value, [&](std::string_view directive) {
    const auto eq = directive.find('=');
    const auto name = trim(directive.substr(0, eq));
    const bool has_arg = eq != std::string_view::npos;
    const auto arg = has_arg ? trim(directive.substr(eq + 1)) : std::string_view{};
    if (iequals(name, "no-store")) cc.no_store = true;
    else if (iequals(name, "no-cache")) cc.no_cache = true;
    else if (iequals(name, "private")) cc.private_ = true;
    else if (iequals(name, "public")) cc.public_ = true;
    else if (iequals(name, "must-revalidate")) cc.must_revalidate = true;
    else if (iequals(name, "proxy-revalidate")) cc.proxy_revalidate = true;
    else if (iequals(name, "only-if-cached")) cc.only_if_cached = true;
    else if (iequals(name, "max-age")) {
      if (max_age_seen && !cc.max_age) return;  // already invalid
      max_age_seen = true;
      take_seconds(cc.max_age, cc.invalid_lifetime, arg, has_arg);
    } else if (iequals(name, "s-maxage")) {
      if (s_maxage_seen && !cc.s_maxage) return;
      s_maxage_seen = true;
      take_seconds(cc.s_maxage, cc.invalid_lifetime, arg, has_arg);
    } else if (iequals(name, "min-fresh")) {
      take_seconds(cc.min_fresh, ignored, arg, has_arg);
    } else if (iequals(name, "max-stale")) {
      // Without a value: a stale response of any age is acceptable.
      cc.max_stale = has_arg ? parse_seconds(arg) : std::optional<seconds>(seconds{2147483648LL});
    }
  });
  return cc;
}

}  // namespace pcproxy::cache
