#include "proxy/admin.hpp"

#include "cache/freshness.hpp"
#include "cache/key.hpp"
#include "core/error_body.hpp"
#include "core/log.hpp"

#include <openssl/crypto.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>

namespace pcproxy::proxy {

namespace http = beast::http;

namespace {

// The decoded value of `name` in a query string, or nullopt.
std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto piece = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const auto eq = piece.find('=');
    if (cache::percent_decode(piece.substr(0, eq)) == name)
      return eq == std::string_view::npos ? std::string{} : cache::percent_decode(piece.substr(eq + 1));
  }
  return std::nullopt;
}

server::response admin_error(unsigned status, core::error_code_number code, std::string_view description) {
  return server::json_response(status, core::error_body(code, description));
}

const char* freshness_name(cache::freshness f) {
  switch (f) {
    case cache::freshness::fresh: return "fresh";
    case cache::freshness::stale_while_revalidate: return "stale-while-revalidate";
    case cache::freshness::stale: return "stale";
    case cache::freshness::unusable: return "expired";
  }
  return "expired";
}

}  // namespace

admin_handler::admin_handler(std::shared_ptr<const pipeline> proxy, const std::string& token_file)
    : proxy_(std::move(proxy)), token_(token_file) {}

awaitable<server::response> admin_handler::handle(const server::request& req, const server::request_info&) {
  const std::string_view target = req.target();
  const auto question = target.find('?');
  const auto path = target.substr(0, question);
  const auto query = question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);

  if (path.starts_with("/admin/") && token_.configured()) {
    const auto expected = token_.authorization();
    const std::string_view given = req[http::field::authorization];
    const bool ok = expected && given.size() == expected->size() &&
                    CRYPTO_memcmp(given.data(), expected->data(), given.size()) == 0;
    if (!ok) {
      core::logger("admin")->warn("refused {} {}: missing or wrong admin token", req.method_string(), path);
      auto res = admin_error(401, core::error_code_number::missing_credentials,
                             "admin calls need 'Authorization: Bearer <the token in admin.token_file>'");
      res.fields.set(http::field::www_authenticate, "Bearer realm=\"pcproxy-admin\"");
      co_return res;
    }
  }
  if (path == "/admin/cache") {
    if (req.method() == http::verb::get) co_return cache_listing(query);
    if (req.method() == http::verb::delete_) co_return purge(query);
    auto res = admin_error(405, core::error_code_number::method_not_allowed, "/admin/cache takes GET or DELETE");
    res.fields.set(http::field::allow, "GET, DELETE");
    co_return res;
  }
  co_return admin_error(404, core::error_code_number::not_found,
                        "no admin endpoint " + std::string(path) + "; try /healthz, /readyz or /admin/cache");
}

server::response admin_handler::cache_listing(std::string_view query) const {
  std::size_t limit = 100;
  if (auto v = query_param(query, "limit")) {
    const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), limit);
    if (ec != std::errc{} || end != v->data() + v->size() || limit > 100000)
      return admin_error(400, core::error_code_number::bad_request, "limit must be a number from 0 to 100000");
  }
  const auto& store = *proxy_->store();
  const auto stats = store.stats();
  const auto now = proxy_->clock()->now();

  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("entries");
  w.Uint64(stats.entries);
  w.Key("bytes");
  w.Uint64(stats.bytes);
  w.Key("max_bytes");
  w.Uint64(stats.max_bytes);
  w.Key("evictions");
  w.Uint64(stats.evictions);
  w.Key("single_flight_waiters");
  w.Uint64(proxy_->single_flight_waiters());

  std::uint64_t hits = 0, misses = 0;
  w.Key("routes");
  w.StartArray();
  for (const auto& r : proxy_->stats()) {
    hits += r.hits;
    misses += r.misses;
    std::size_t entries = 0, bytes = 0;
    store.for_each([&](const cache::cache_key&, const cache::entry& e) {
      if (e.route == r.path) {
        ++entries;
        bytes += cache::charged_bytes(e);
      }
    });
    w.StartObject();
    w.Key("path");
    w.String(r.path.c_str());
    w.Key("policy");
    w.String(config::to_string(r.policy));
    w.Key("entries");
    w.Uint64(entries);
    w.Key("bytes");
    w.Uint64(bytes);
    w.Key("hits");
    w.Uint64(r.hits);
    w.Key("misses");
    w.Uint64(r.misses);
    w.Key("stale");
    w.Uint64(r.stale);
    w.Key("revalidated");
    w.Uint64(r.revalidated);
    w.Key("bypassed");
    w.Uint64(r.bypassed);
    w.EndObject();
  }
  w.EndArray();
  w.Key("hits");
  w.Uint64(hits);
  w.Key("misses");
  w.Uint64(misses);

  // Keys are shown as a digest prefix; scopes are hashes. No credential, no
  // continuation token and no query string is held, so none can be shown.
  w.Key("items");
  w.StartArray();
  std::size_t listed = 0;
  store.for_each([&](const cache::cache_key& key, const cache::entry& e) {
    if (listed++ >= limit) return;
    w.StartObject();
    w.Key("key");
    w.String(core::to_hex(key.digest, 8).c_str());
    w.Key("scope");
    w.String(e.scope.c_str());
    w.Key("path");
    w.String(e.path.c_str());
    w.Key("route");
    w.String(e.route.c_str());
    w.Key("status");
    w.Uint(e.status);
    w.Key("bytes");
    w.Uint64(cache::charged_bytes(e));
    w.Key("age_s");
    w.Int64(cache::age(e, now).count());
    w.Key("ttl_s");
    w.Int64(cache::time_to_live(e, now).count());
    w.Key("state");
    w.String(freshness_name(cache::classify(e, now)));
    w.Key("etag");
    w.String(e.validator.c_str());
    w.EndObject();
  });
  w.EndArray();
  w.EndObject();
  return server::json_response(200, buf.GetString());
}

server::response admin_handler::purge(std::string_view query) const {
  const auto prefix = query_param(query, "prefix");
  const auto scope = query_param(query, "scope");
  if (prefix && !prefix->starts_with('/'))
    return admin_error(400, core::error_code_number::bad_request, "prefix must be a path starting with /");
  const auto purged = proxy_->store()->erase_if([&](const cache::entry& e) {
    return (!prefix || e.path.starts_with(*prefix)) && (!scope || e.scope == *scope);
  });
  core::logger("admin")->info("purged {} cache entries (prefix {}, scope {})", purged, prefix.value_or("any"),
                              scope.value_or("any"));
  return server::json_response(200, "{\"purged\":" + std::to_string(purged) + "}");
}

}  // namespace pcproxy::proxy
