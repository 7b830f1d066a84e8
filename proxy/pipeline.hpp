#pragma once
// The request pipeline behind the server's handler interface (DESIGN.md "Request
// pipeline"): credentials -> correlation -> route policy -> cache key -> store ->
// upstream, and the response with its cache and correlation headers.
// Thread-safety: handle() runs concurrently; every member is thread-safe or immutable.
#include "cache/store.hpp"
#include "config/config.hpp"
#include "core/clock.hpp"
#include "proxy/responses.hpp"
#include "proxy/router.hpp"
#include "proxy/token_file.hpp"
#include "server/handler.hpp"
#include "upstream/client.hpp"

#include <memory>
#include <string>

namespace pcproxy::proxy {

struct call;

class pipeline final : public server::request_handler {
public:
  pipeline(const config::config& settings, std::shared_ptr<upstream::transport> upstream,
           std::shared_ptr<cache::store> store, std::shared_ptr<const core::clock> clock,
           upstream::random_source random);

  awaitable<server::response> handle(const server::request& req,
                                     const server::request_info& info) override;

private:
  awaitable<server::response> serve_from_cache(call& c);
  awaitable<server::response> forward(call& c);
  std::shared_ptr<const cache::entry> store_response(call& c, const cache::cache_key& key,
                                                     upstream::response& answer);
  server::response relay(const call& c, upstream::result& result, cache_result label,
                         std::string_view cache_status) const;
  std::shared_ptr<const std::string> rewrite_links(std::string body) const;

  const config::config settings_;
  const std::string upstream_base_url_;
  const std::shared_ptr<upstream::transport> upstream_;
  const std::shared_ptr<cache::store> store_;
  const std::shared_ptr<const core::clock> clock_;
  const upstream::random_source random_;
  const router router_;
  token_file injected_token_;
};

}  // namespace pcproxy::proxy
