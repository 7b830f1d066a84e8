#pragma once
// Walks a paged Partner Center collection the way the SDKs do: GET the first page, then
// follow links.next with every header it lists (MS-ContinuationToken), until there is
// no next link.
#include "tests/support/http_client.hpp"

#include <string>
#include <vector>

namespace pcproxy::testing {

struct walk_result {
  std::vector<http_result> pages;
  std::vector<std::string> bodies() const;
};

/// Walks from `first_target` on 127.0.0.1:port with `headers` on every request.
/// Throws when a page is not 200 or not JSON. Stops after `max_pages`.
walk_result walk_pages(std::uint16_t port, const std::string& first_target, const header_list& headers,
                       std::size_t max_pages = 100);

}  // namespace pcproxy::testing
