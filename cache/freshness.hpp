#pragma once
// Freshness decisions as pure functions of an entry and "now" (DESIGN.md §4).
// Thread-safety: free functions over values.
#include "cache/entry.hpp"
#include "core/clock.hpp"

#include <chrono>
#include <optional>
#include <string_view>

namespace pcproxy::cache {

/// Seconds since upstream sent or last confirmed the entry (revalidated_at).
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

/// The parts of a Cache-Control header that pcproxy acts on.
struct cache_control {
  bool no_store = false;
  bool no_cache = false;
  bool private_ = false;
  bool public_ = false;
  bool must_revalidate = false;
  bool only_if_cached = false;
  std::optional<std::chrono::seconds> max_age;
  std::optional<std::chrono::seconds> s_maxage;
};

/// Parses a Cache-Control field value; unknown directives are ignored.
cache_control parse_cache_control(std::string_view value) noexcept;

/// RFC 9111 shared-cache storability and lifetime for routes with policy "http": the
/// freshness lifetime, or nullopt when the response must not be stored. A request with
/// Authorization may only be stored when the response says public, s-maxage or
/// must-revalidate (RFC 9111 §3.5).
std::optional<std::chrono::seconds> http_lifetime(const cache_control& response,
                                                  bool request_had_authorization) noexcept;

}  // namespace pcproxy::cache
