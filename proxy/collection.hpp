#pragma once
// Whole collections (DESIGN.md §12): GET /pcproxy/collection/<Partner Center path>?<query>
// walks the collection's pages (links.next, with its MS-ContinuationToken) and streams
// every item in one response, as JSON, NDJSON or CSV (proxy/collection_format.hpp).
//
// - Every page is a request of its own through the pipeline: the caller's scope, the
//   route's policy, the cache (each page its own entry, shared with clients paging by
//   hand), single flight, retries, throttle holds, the circuit.
// - The next page is fetched while the current one is being sent (one ahead).
// - A failure before the first byte is the page's own answer; after it, the response
//   ends without its last chunk (the client sees an incomplete transfer) and one log
//   line says how far the walk got. So does a collection past limits.max_collection_items.
// - When every page is fresh in the cache, the response carries an ETag made of the
//   pages' validators in order; If-None-Match with it is answered 304, free upstream.
// Thread-safety: one collection per request; the page source is shared.
#include "config/config.hpp"
#include "proxy/responses.hpp"
#include "server/handler.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace pcproxy::proxy {

/// Where a collection's pages come from: the pipeline.
class page_source {
public:
  virtual ~page_source() = default;

  struct page {
    server::response response;
    cache_result label = cache_result::bypass;  // HIT: from a tier; MISS: fetched
  };
  /// Serves `req` as any request is served, without an access-log line of its own.
  virtual awaitable<page> serve_page(const server::request& req, const server::request_info& info) = 0;

  struct cached {
    std::shared_ptr<const std::string> body;
    std::string validator;
  };
  /// The page for `req` when it is fresh in the cache (nothing is fetched), else nullopt.
  virtual awaitable<std::optional<cached>> fresh_page(const server::request& req) = 0;
};

struct collection_link;

/// The request for the page a links.next points at: `previous` (the request of the page
/// that carries the link) with the link's target and headers (never Authorization, Host
/// or framing fields). nullopt when the link cannot be followed.
std::optional<server::request> next_page_request(const server::request& previous, const collection_link& link);

inline constexpr std::string_view collection_prefix = "/pcproxy/collection/";

inline bool is_collection_request(std::string_view target) { return target.starts_with(collection_prefix); }

struct collection_settings {
  std::int64_t max_items = 1000000;
  bool access_log = true;
  bool json_log = true;
};

/// The response for a collection request (the stream that walks the pages, or the
/// first page's own answer when it is not a 200 collection page).
awaitable<server::response> serve_collection(std::shared_ptr<page_source> pages, const server::request& req,
                                             const server::request_info& info, collection_settings settings);

}  // namespace pcproxy::proxy
