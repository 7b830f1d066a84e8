// Request heads and targets as a client sends them: Beast's parser with the server's
// limits, the server's refusals (absolute and asterisk form, CONNECT, Host, Transfer-
// Encoding), then what the pipeline reads from an accepted request: its headers, its
// Cache-Control, the route, the query normalised into a cache key, the caller's scope.
#include "cache/key.hpp"
#include "config/config.hpp"
#include "proxy/request_context.hpp"
#include "proxy/router.hpp"
#include "server/request_rules.hpp"
#include "tests/fuzz/fuzz_input.hpp"

#include <boost/beast/http/parser.hpp>

using namespace pcproxy;
namespace http = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const config::config defaults;
  static const proxy::router routes(defaults.routes);

  http::request_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(defaults.limits.max_header_bytes));
  parser.body_limit(static_cast<std::uint64_t>(defaults.limits.max_body_bytes));
  parser.eager(true);
  beast::error_code ec;
  auto input = fuzz::as_text(data, size);
  while (!input.empty() && !parser.is_done()) {
    const auto used = parser.put(net::buffer(input.data(), input.size()), ec);
    if (ec || used == 0) break;
    input.remove_prefix(used);
  }
  if (ec || !parser.is_header_done()) return 0;
  const auto& req = parser.get();
  if (server::refuse(req)) return 0;
  fuzz::require(!req.target().empty() && req.target().front() == '/');

  const auto headers = proxy::read_headers(req);
  (void)proxy::request_directives(headers);
  const auto target = std::string_view(req.target());
  const auto question = target.find('?');
  const auto path = target.substr(0, question);
  const auto query = question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);
  (void)routes.match(path);
  const auto scope = cache::credential_scope(headers.authorization);
  (void)cache::derive_key({scope, req.method_string(), path, query, headers.continuation_token,
                                      headers.accept, headers.locale});
  // Parameter order and percent-encoding of unreserved characters never split a page's key.
  const auto normalised = cache::normalise_query(query);
  fuzz::require(cache::normalise_query(normalised) == normalised);
  return 0;
}
