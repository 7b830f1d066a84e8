#include "proxy/pipeline.hpp"

#include "cache/freshness.hpp"
#include "cache/key.hpp"
#include "config/loader.hpp"
#include "core/log.hpp"
#include "proxy/responses.hpp"
#include "upstream/headers.hpp"

#include <boost/beast/core/string.hpp>

#include <charconv>

namespace pcproxy::proxy {

namespace http = beast::http;

namespace {

const std::shared_ptr<spdlog::logger>& log() {
  static const auto l = core::logger("proxy");
  return l;
}

// Request fields pcproxy sets itself or keeps to itself.
bool owned_request_field(std::string_view name) {
  static constexpr std::string_view owned[] = {"host", "authorization", "ms-correlationid",
                                               "ms-requestid", "ms-cv", "pcproxy-debug"};
  for (auto o : owned)
    if (beast::iequals(name, o)) return true;
  return false;
}

// Response fields that belong to one exchange and never go into a stored entry.
bool per_exchange_response_field(std::string_view name) {
  static constexpr std::string_view per_exchange[] = {
      "ms-correlationid", "ms-requestid", "ms-cv", "set-cookie", "age", "x-cache", "cache-status"};
  for (auto p : per_exchange)
    if (beast::iequals(name, p)) return true;
  return false;
}

std::string serialise_fields(const http::fields& fields) {
  std::string out;
  for (const auto& f : fields) {
    out += f.name_string();
    out += ": ";
    out += f.value();
    out += "\r\n";
  }
  return out;
}

std::chrono::seconds seconds_of(std::int64_t s) { return std::chrono::seconds(s); }

}  // namespace

/// The state of one request as it moves through the pipeline.
struct call {
  const server::request& req;
  const server::request_info& info;
  std::string_view path;
  std::string_view query;
  upstream::correlation corr;
  std::string_view authorization;
  std::shared_ptr<const std::string> injected;  // keeps an injected token alive
  const config::route_config* route = nullptr;
};

namespace {

upstream::request upstream_request_for(const call& c) {
  upstream::request out;
  out.method = c.req.method();
  out.target = std::string(c.req.target());
  upstream::copy_end_to_end(c.req.base(), out.headers, owned_request_field);
  out.headers.set(http::field::authorization, c.authorization);
  out.body = c.req.body();
  return out;
}

std::optional<std::uint64_t> content_length_of(const http::fields& fields) {
  const auto it = fields.find(http::field::content_length);
  if (it == fields.end()) return std::nullopt;
  std::uint64_t n = 0;
  const auto v = it->value();
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc{}) return std::nullopt;
  return n;
}

}  // namespace

pipeline::pipeline(const config::config& settings, std::shared_ptr<upstream::transport> upstream,
                   std::shared_ptr<cache::store> store, std::shared_ptr<const core::clock> clock,
                   upstream::random_source random)
    : settings_(settings),
      upstream_base_url_([&] {
        std::string why;
        return config::parse_origin(settings.upstream.url, why).value_or(config::origin{}).base_url;
      }()),
      upstream_(std::move(upstream)),
      store_(std::move(store)),
      clock_(std::move(clock)),
      random_(std::move(random)),
      router_(settings.routes),
      injected_token_(settings.upstream.token_file) {}

awaitable<server::response> pipeline::handle(const server::request& req,
                                             const server::request_info& info) {
  call c{req, info, {}, {}, {}, {}, {}, {}};
  const std::string_view target = req.target();
  const auto question = target.find('?');
  c.path = target.substr(0, question);
  c.query = question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);
  c.corr = upstream::correlation_for_request(req["MS-CorrelationId"], req["MS-RequestId"],
                                             req["MS-CV"], random_);

  c.authorization = req[http::field::authorization];
  if (c.authorization.empty()) {
    c.injected = injected_token_.authorization();
    if (!c.injected) {
      auto res = error_response(
          401, core::error_code_number::missing_credentials,
          injected_token_.configured()
              ? "no Authorization header, and upstream.token_file holds no usable token"
              : "no Authorization header: send 'Authorization: Bearer <token>' for Partner "
                "Center, or configure upstream.token_file",
          c.corr);
      set_cache_headers(res, cache_result::bypass, 0, "pcproxy; fwd=bypass; detail=no-credentials");
      co_return res;
    }
    c.authorization = *c.injected;
  }

  c.route = &router_.match(c.path);
  const auto method = req.method();
  const bool readable = method == http::verb::get || method == http::verb::head;
  if (c.route->policy != config::cache_policy::pass && readable && settings_.cache.max_bytes > 0)
    co_return co_await serve_from_cache(c);
  co_return co_await forward(c);
}

awaitable<server::response> pipeline::serve_from_cache(call& c) {
  const auto scope = cache::credential_scope(c.authorization);
  const auto key = cache::derive_key({scope, "GET", c.path, c.query, c.req["MS-ContinuationToken"],
                                      c.req[http::field::accept], c.req["X-Locale"]});
  const auto now = clock_->now();

  if (auto hit = store_->find(key); hit && cache::classify(*hit, now) == cache::freshness::fresh) {
    server::response res;
    res.status = hit->status;
    res.header_block = hit->header_block;
    res.body = hit->body;
    set_correlation_headers(res, c.corr);
    const auto ttl = cache::time_to_live(*hit, now).count();
    set_cache_headers(res, cache_result::hit, cache::age(*hit, now).count(),
                      "pcproxy; hit; ttl=" + std::to_string(ttl));
    co_return res;
  }

  auto result = co_await upstream_->send(upstream_request_for(c), c.corr, true);
  if (!result.answer) {
    auto res = failure_response(result);
    set_cache_headers(res, cache_result::miss, 0, "pcproxy; fwd=uri-miss; detail=upstream-failed");
    co_return res;
  }

  auto& answer = *result.answer;
  if (answer.status == 200 && c.req.method() == http::verb::get) {
    if (auto stored = store_response(c, key, answer)) {
      server::response res;
      res.status = 200;
      res.header_block = stored->header_block;
      res.body = stored->body;
      set_correlation_headers(res, result.sent);
      set_cache_headers(res, cache_result::miss, 0,
                        "pcproxy; fwd=uri-miss; fwd-status=200; stored; ttl=" +
                            std::to_string(cache::time_to_live(*stored, stored->stored_at).count()));
      co_return res;
    }
  }

  co_return relay(c, result, cache_result::miss,
                  "pcproxy; fwd=uri-miss; fwd-status=" + std::to_string(answer.status));
}

std::shared_ptr<const cache::entry> pipeline::store_response(call& c, const cache::cache_key& key,
                                                             upstream::response& answer) {
  const auto& route = *c.route;
  const auto response_cc = cache::parse_cache_control(answer.headers[http::field::cache_control]);
  std::chrono::seconds ttl = seconds_of(route.ttl_s);
  if (route.policy == config::cache_policy::http) {
    auto lifetime = cache::http_lifetime(response_cc, true);
    if (!lifetime) return nullptr;
    ttl = *lifetime;
  } else if (response_cc.no_store) {
    return nullptr;
  }

  http::fields kept;
  upstream::copy_end_to_end(answer.headers, kept, per_exchange_response_field);
  auto e = std::make_shared<cache::entry>();
  e->status = 200;
  e->header_block = std::make_shared<const std::string>(serialise_fields(kept));
  e->body = rewrite_links(std::move(answer.body));
  e->stored_at = clock_->now();
  e->rules.ttl = ttl;
  e->rules.stale_while_revalidate = seconds_of(route.stale_while_revalidate_s);
  e->rules.stale_if_error = seconds_of(settings_.cache.stale_if_error_s);
  e->rules.month_boundary = route.month_boundary;
  e->scope = cache::credential_scope(c.authorization);
  e->path = std::string(c.path);
  e->route = route.path;
  if (!store_->insert(key, e))
    log()->debug("response for {} not stored: larger than cache.max_bytes", c.path);
  return e;
}

awaitable<server::response> pipeline::forward(call& c) {
  const auto method = c.req.method();
  const bool idempotent = method == http::verb::get || method == http::verb::head ||
                          method == http::verb::put || method == http::verb::delete_ ||
                          method == http::verb::options;
  auto result = co_await upstream_->send(upstream_request_for(c), c.corr, idempotent);
  const bool readable = method == http::verb::get || method == http::verb::head;
  if (!result.answer) {
    auto res = failure_response(result);
    set_cache_headers(res, cache_result::bypass, 0, "pcproxy; fwd=bypass; detail=upstream-failed");
    co_return res;
  }
  auto& answer = *result.answer;
  // RFC 9111 §4.4: a successful unsafe request invalidates what is stored for its path.
  if (!readable && answer.status >= 200 && answer.status < 400) {
    const auto scope = cache::credential_scope(c.authorization);
    const std::string path(c.path);
    const auto erased = store_->erase_if(
        [&](const cache::entry& e) { return e.scope == scope && e.path == path; });
    if (erased > 0) log()->debug("{} {} invalidated {} cached entries", c.req.method_string(), path, erased);
  }

  co_return relay(c, result, cache_result::bypass,
                  std::string(readable ? "pcproxy; fwd=bypass" : "pcproxy; fwd=method") +
                      "; fwd-status=" + std::to_string(answer.status));
}

server::response pipeline::relay(const call& c, upstream::result& result, cache_result label,
                                 std::string_view cache_status) const {
  auto& answer = *result.answer;
  server::response res;
  res.status = answer.status;
  upstream::copy_end_to_end(answer.headers, res.fields, per_exchange_response_field);
  if (c.req.method() == http::verb::head) res.head_content_length = content_length_of(answer.headers);
  res.body = rewrite_links(std::move(answer.body));
  set_correlation_headers(res, result.sent);
  set_cache_headers(res, label, 0, cache_status);
  return res;
}

std::shared_ptr<const std::string> pipeline::rewrite_links(std::string body) const {
  // Links are relative in practice; an absolute one to the upstream origin would take a
  // client around the proxy, so it is pointed at public_base_url. No other byte changes.
  if (!settings_.public_base_url.empty() && !upstream_base_url_.empty()) {
    std::string escaped_from;  // the JSON-escaped spelling, "https:\/\/host"
    for (char ch : upstream_base_url_) {
      if (ch == '/') escaped_from += '\\';
      escaped_from += ch;
    }
    std::string escaped_to;
    for (char ch : settings_.public_base_url) {
      if (ch == '/') escaped_to += '\\';
      escaped_to += ch;
    }
    for (const auto& [from, to] : {std::pair{upstream_base_url_, settings_.public_base_url},
                                   std::pair{escaped_from, escaped_to}}) {
      for (auto at = body.find(from); at != std::string::npos; at = body.find(from, at + to.size()))
        body.replace(at, from.size(), to);
    }
  }
  return std::make_shared<const std::string>(std::move(body));
}

}  // namespace pcproxy::proxy
