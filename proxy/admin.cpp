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

using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;

// One "name": value member.
void member(json_writer& w, const char* name, std::uint64_t value) {
  w.Key(name);
  w.Uint64(value);
}
void member(json_writer& w, const char* name, std::int64_t value) {
  w.Key(name);
  w.Int64(value);
}
void member(json_writer& w, const char* name, std::string_view value) {
  w.Key(name);
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
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
  json_writer w(buf);
  w.StartObject();
  member(w, "entries", std::uint64_t{stats.entries});
  member(w, "bytes", std::uint64_t{stats.bytes});
  member(w, "max_bytes", std::uint64_t{stats.max_bytes});
  member(w, "evictions", stats.evictions);
  member(w, "single_flight_waiters", std::uint64_t{proxy_->single_flight_waiters()});

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
    member(w, "path", r.path);
    member(w, "policy", config::to_string(r.policy));
    member(w, "entries", std::uint64_t{entries});
    member(w, "bytes", std::uint64_t{bytes});
    member(w, "hits", r.hits);
    member(w, "misses", r.misses);
    member(w, "stale", r.stale);
    member(w, "revalidated", r.revalidated);
    member(w, "bypassed", r.bypassed);
    w.EndObject();
  }
  w.EndArray();
  member(w, "hits", hits);
  member(w, "misses", misses);

  // Keys are shown as a digest prefix; scopes are hashes. No credential, no
  // continuation token and no query string is held, so none can be shown.
  w.Key("items");
  w.StartArray();
  std::size_t listed = 0;
  store.for_each([&](const cache::cache_key& key, const cache::entry& e) {
    if (listed++ >= limit) return;
    w.StartObject();
    member(w, "key", core::to_hex(key.digest, 8));
    member(w, "scope", e.scope);
    member(w, "path", e.path);
    member(w, "route", e.route);
    member(w, "status", std::uint64_t{e.status});
    member(w, "bytes", std::uint64_t{cache::charged_bytes(e)});
    member(w, "age_s", std::int64_t{cache::age(e, now).count()});
    member(w, "ttl_s", std::int64_t{cache::time_to_live(e, now).count()});
    member(w, "state", freshness_name(cache::classify(e, now)));
    member(w, "etag", e.validator);
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
