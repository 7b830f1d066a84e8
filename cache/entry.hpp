#pragma once
// One stored response as structured data: status, header list, body, validator, times,
// and whose it is. Immutable once built: a hit shares it (and its buffers) with every
// request that reads it, and a revalidation makes a new entry that points at the same
// bytes. Every tier stores this; the non-memory tiers through cache/entry_codec.
// Thread-safety: immutable; share through std::shared_ptr<const entry>.
#include "core/clock.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pcproxy::cache {

struct header {
  std::string name;
  std::string value;
  friend bool operator==(const header&, const header&) = default;
};
using header_list = std::vector<header>;

/// The value of the first header named `name` (case-insensitive), or nullptr.
const std::string* find_header(const header_list& headers, std::string_view name) noexcept;

/// How long an entry may be served, fixed when it is stored.
struct freshness_rules {
  std::chrono::seconds ttl{0};
  std::chrono::seconds stale_while_revalidate{0};
  std::chrono::seconds stale_if_error{0};
  bool month_boundary = false;  // not fresh after the UTC month it was stored in ends
  bool must_revalidate = false; // never served stale: must-revalidate, proxy-revalidate, s-maxage (RFC 9111 §4.2.4)
  bool no_cache = false;        // never served without revalidation: no-cache (RFC 9111 §5.2.2.4)
  friend bool operator==(const freshness_rules&, const freshness_rules&) = default;
};

struct entry {
  unsigned status = 200;
  /// The stored end-to-end response headers (no framing, no per-request fields): the
  /// header list in the one form a hit writes as it is, "Name: value\r\n" lines.
  /// headers() reads it as a list; header_block() makes one from a list.
  std::shared_ptr<const std::string> header_block;
  /// The body exactly as upstream sent it (a BOM included).
  std::shared_ptr<const std::string> body;
  /// The validator clients see as ETag (a quoted entity tag), empty when none.
  std::string validator;
  /// When upstream sent these bytes.
  core::sys_time stored_at{};
  /// When upstream last confirmed them (stored_at until a revalidation): the base of
  /// the entry's age and freshness.
  core::sys_time revalidated_at{};
  /// Its age when it arrived (RFC 9111 §4.2.3 corrected initial age: upstream's Age
  /// header, the response delay, a Date in the past), added to the time since then.
  std::chrono::seconds initial_age{0};
  /// The request headers a Vary names (RFC 9111 §4.1), lowercase names with the values
  /// of the request that stored it: it serves only requests with the same values.
  header_list vary;
  freshness_rules rules;
  /// Whose and what it is, for purges and listings: the scope id (a hash, never a
  /// credential), the request path (no query) and the route's pattern.
  std::string scope;
  std::string path;
  std::string route;
};

/// Removes every line of the field `name` (case-insensitive).
void drop_field(header_list& headers, std::string_view name);

/// The header list of an entry (parsed from its header block).
header_list headers(const entry& e);

/// The header block of a list: its lines, serialised once.
std::shared_ptr<const std::string> header_block(const header_list& headers);

/// RFC 9110 §5.1 field names (tokens) and values without CR, LF or NUL: what a header
/// read back from outside (disk, Redis) must be before it goes on the wire.
bool valid_field_name(std::string_view name) noexcept;
bool valid_field_value(std::string_view value) noexcept;

/// The bytes an entry is charged in a tier: key, headers, body, validator, metadata
/// strings and a fixed per-entry overhead for the index and allocation headers.
std::size_t charged_bytes(const entry& e) noexcept;

/// The first instant at which no rule lets the entry be served any more (past its
/// TTL, stale-while-revalidate and stale-if-error windows): tiers drop it then.
core::sys_time retention_end(const entry& e) noexcept;

}  // namespace pcproxy::cache
