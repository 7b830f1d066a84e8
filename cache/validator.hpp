#pragma once
// Entity validators (DESIGN.md §5): what identifies one version of a stored body, and
// If-None-Match matching. Thread-safety: free functions over values.
#include <string>
#include <string_view>

namespace pcproxy::cache {

/// One pass over a JSON body (SAX: no document is built, nothing is allocated but the
/// etag): whether it parses, why not, and its top-level attributes.etag. A leading BOM
/// is fine; the body is only read.
struct json_scan {
  bool valid = false;
  std::string error;  // when not valid: what and where
  std::string etag;   // attributes.etag, "" when absent
};
json_scan scan_json(std::string_view body);

/// The validator of a response, as an entity-tag ready for an ETag header: the upstream
/// ETag when there is one, else the body's attributes.etag (quoted), else a strong
/// hash of the body.
std::string validator_of(std::string_view upstream_etag, std::string_view body_etag, std::string_view body);

/// The same, scanning the body for its etag.
std::string validator_of(std::string_view upstream_etag, std::string_view body);

/// The body's top-level attributes.etag, or "" when the body is not JSON or has none.
std::string body_etag(std::string_view body);

/// True when an If-None-Match field value matches `validator`: "*" matches anything,
/// otherwise any listed entity-tag equal under weak comparison (RFC 9110 §13.1.2).
bool if_none_match_matches(std::string_view if_none_match, std::string_view validator);

}  // namespace pcproxy::cache
