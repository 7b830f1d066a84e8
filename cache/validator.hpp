#pragma once
// Entity validators (DESIGN.md §5): what identifies one version of a stored body, and
// If-None-Match matching. Thread-safety: free functions over values.
#include <string>
#include <string_view>

namespace pcproxy::cache {

/// The validator of a response, as an entity-tag ready for an ETag header: the upstream
/// ETag when there is one, else the body's attributes.etag (quoted), else a strong
/// hash of the body. The body is only read, never re-serialised; a leading BOM is fine.
std::string validator_of(std::string_view upstream_etag, std::string_view body);

/// The body's top-level attributes.etag, or "" when the body is not JSON or has none.
std::string body_etag(std::string_view body);

/// True when an If-None-Match field value matches `validator`: "*" matches anything,
/// otherwise any listed entity-tag equal under weak comparison (RFC 9110 §13.1.2).
bool if_none_match_matches(std::string_view if_none_match, std::string_view validator);

}  // namespace pcproxy::cache
