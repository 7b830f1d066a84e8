#pragma once
// One stored response. Immutable once built: a hit shares it (and its buffers) with
// every request that reads it, and a refresh makes a new entry that points at the same
// bytes.
// Thread-safety: immutable; share through std::shared_ptr<const entry>.
#include "core/clock.hpp"

#include <chrono>
#include <memory>
#include <string>

namespace pcproxy::cache {

/// How long an entry may be served, fixed when it is stored.
struct freshness_rules {
  std::chrono::seconds ttl{0};
  std::chrono::seconds stale_while_revalidate{0};
  std::chrono::seconds stale_if_error{0};
  bool month_boundary = false;  // not fresh after the UTC month it was stored in ends
};

struct entry {
  unsigned status = 200;
  /// The stored end-to-end response headers, serialised once as "Name: value\r\n" lines
  /// (no Content-Length, no per-request headers), ready to be written as they are.
  std::shared_ptr<const std::string> header_block;
  /// The body exactly as upstream sent it (a BOM included).
  std::shared_ptr<const std::string> body;
  /// When the response was received or last revalidated: the base of its age.
  core::sys_time stored_at{};
  freshness_rules rules;
  /// The validator clients see as ETag (a quoted entity tag), empty when none.
  std::string validator;
  /// For admin listings and purges: the scope id and the request path (no query, no
  /// token, no credential).
  std::string scope;
  std::string path;
  std::string route;
};

/// The bytes an entry is charged in the store: key, headers, body, validator, metadata
/// strings and a fixed per-entry overhead for the index and allocation headers.
std::size_t charged_bytes(const entry& e) noexcept;

}  // namespace pcproxy::cache
