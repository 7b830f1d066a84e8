#pragma once
// Freshness decisions as pure functions of an entry and "now" (DESIGN.md §4).
// Thread-safety: free functions over values.
#include "cache/entry.hpp"
#include "core/clock.hpp"

#include <chrono>
#include <optional>
#include <string_view>

namespace pcproxy::cache {

/// The entry's current age (RFC 9111 §4.2.3): its corrected initial age when upstream
/// sent or last confirmed it, plus the time since (revalidated_at).
std::chrono::seconds age(const entry& e, core::sys_time now) noexcept;

/// True when `a` and `b` fall in different UTC calendar months.
bool crosses_month_boundary(core::sys_time a, core::sys_time b) noexcept;

enum class freshness {
  fresh,                   // serve as a hit
  stale_while_revalidate,  // serve at once, refresh in the background
  stale,                   // must be refreshed; may still be served if upstream fails
  unusable,                // past every window: treat as a miss
};

/// How the entry may be used at `now`. The month-boundary rule makes an entry from an
/// earlier month stale (never fresh, never stale-while-revalidate).
freshness classify(const entry& e, core::sys_time now) noexcept;

/// Seconds of freshness left (0 when not fresh), for Cache-Status' ttl parameter.
std::chrono::seconds time_to_live(const entry& e, core::sys_time now) noexcept;

/// True when the entry may stand in for a failed upstream at `now` (stale-if-error).
bool usable_if_error(const entry& e, core::sys_time now) noexcept;

/// The parts of a Cache-Control header that pcproxy acts on (RFC 9111 §5.2), from a
/// request or a response.
struct cache_control {
  bool no_store = false;
  bool no_cache = false;          // with or without field names (a qualified no-cache is treated as plain)
  bool private_ = false;          // with or without field names (likewise)
  bool public_ = false;
  bool must_revalidate = false;
  bool proxy_revalidate = false;
  bool only_if_cached = false;
  std::optional<std::chrono::seconds> max_age;
  std::optional<std::chrono::seconds> s_maxage;
  std::optional<std::chrono::seconds> min_fresh;
  std::optional<std::chrono::seconds> max_stale;  // without a value: any staleness
  /// max-age or s-maxage present but not a valid delta-seconds, or given twice with
  /// different values: §4.2.1 lets a cache consider such a response stale, and pcproxy does.
  bool invalid_lifetime = false;
};

/// Parses a Cache-Control field value (all field lines joined by commas); unknown
/// directives are ignored, quoted arguments may hold commas.
cache_control parse_cache_control(std::string_view value) noexcept;

}  // namespace pcproxy::cache
