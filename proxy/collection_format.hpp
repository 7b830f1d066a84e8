#pragma once
// Whole collections (DESIGN.md §12), the byte side: reading a Partner Center collection
// page (its "items", each exactly as sent, and its links.next) and writing the items
// out as one JSON collection, NDJSON or CSV. Pure functions over bytes: no number is
// ever parsed into a double and printed back (money values keep every digit).
// Thread-safety: free functions; a collection_writer belongs to one response.
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pcproxy::proxy {

struct collection_link {
  std::string uri;                                           // links.next.uri, as sent
  std::vector<std::pair<std::string, std::string>> headers;  // links.next.headers (MS-ContinuationToken)
};

struct collection_page {
  std::vector<std::string_view> items;  // each element of the top-level "items", exactly as sent
  std::optional<collection_link> next;
};

/// The page in `body` (a leading BOM is fine), or nullopt with the reason in `why` when
/// it is not a JSON object with an "items" array. The views point into `body`.
std::optional<collection_page> read_collection_page(std::string_view body, std::string& why);

/// `value` (one JSON value) without insignificant whitespace; strings and numbers untouched.
std::string minify_json(std::string_view value);

/// The request target for a links.next uri, on pcproxy's /v1/... layout: "/v1/..." as
/// it is, "/customers/..." and "customers/..." under /v1, an absolute URL's path and
/// query (never its host: pages come from the one upstream). nullopt when unusable.
std::optional<std::string> next_target(std::string_view uri);

enum class collection_format { json, ndjson, csv };
const char* content_type(collection_format f) noexcept;

/// Writes the items of a collection, page by page, in one format.
/// - json: {"items":[...],"totalCount":N,"attributes":{"objectType":"Collection"}}
/// - ndjson: one minified item per line
/// - csv (RFC 4180): a header row of the leaf paths ("customerSpendingBudget.amount") in
///   the order they first appear on the first page, then "extra"; one row per item;
///   numbers as their literal text, strings decoded, arrays as JSON text, null empty;
///   leaves first seen on later pages go into "extra" as a JSON object.
class collection_writer {
public:
  explicit collection_writer(collection_format format);

  /// What goes before the first item.
  std::string begin();
  /// The output for one page's items.
  std::string page(const std::vector<std::string_view>& items);
  /// What closes the collection.
  std::string end();

  std::size_t items() const noexcept { return items_; }

private:
  std::string csv_row(std::string_view item);

  collection_format format_;
  std::size_t items_ = 0;
  bool header_written_ = false;
  std::vector<std::string> columns_;
  std::map<std::string, std::size_t, std::less<>> column_index_;
};

}  // namespace pcproxy::proxy
