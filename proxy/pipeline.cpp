#include "proxy/pipeline.hpp"

#include "cache/freshness.hpp"
#include "cache/http_rules.hpp"
#include "cache/key.hpp"
#include "cache/policy.hpp"
#include "cache/scope.hpp"
#include "cache/validator.hpp"
#include "core/http_date.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "proxy/credentials.hpp"
#include "proxy/entry_builder.hpp"
#include "proxy/fetcher.hpp"
#include "proxy/prefetcher.hpp"
#include "proxy/request_context.hpp"
#include "proxy/token_verdicts.hpp"
#include "upstream/headers.hpp"

#include <boost/beast/core/string.hpp>

#include <openssl/crypto.h>

namespace pcproxy::proxy {

namespace http = beast::http;
using std::chrono::seconds;

namespace {

const std::shared_ptr<spdlog::logger>& log() {
  static const auto l = core::logger("proxy");
  return l;
}

// Request fields pcproxy sets itself or keeps to itself.
bool owned_request_field(std::string_view name) {
  for (std::string_view n : {"host", "authorization", "ms-correlationid", "ms-requestid", "ms-cv", "pcproxy-debug",
                             "pcproxy-debug-token"})
    if (beast::iequals(name, n)) return true;
  return false;
}

bool readable(http::verb method) { return method == http::verb::get || method == http::verb::head; }

// Upstream failed in a way a stale entry may cover (stale-if-error).
bool upstream_failed(const fetched& f) {
  return !f.response || f.response->status >= 500 || f.response->status == 429;
}

std::string ttl_param(seconds ttl) { return "; ttl=" + std::to_string(ttl.count()); }

}  // namespace

pipeline::live_state::live_state(const config::config& c, traffic_metrics& metrics)
    : settings(c),
      routes(c.routes),
      injected_token(std::make_shared<token_file>(c.upstream.token_file)),
      admin_token(std::make_shared<token_file>(c.admin.token_file)) {
  for (std::size_t i = 0; i < routes.size(); ++i) rows.push_back(&metrics.row(routes.at(i).path));
}

pipeline::pipeline(const config::config& settings, std::shared_ptr<upstream::transport> upstream,
                   std::shared_ptr<cache::tiered> store, std::shared_ptr<const core::clock> clock,
                   upstream::random_source random, std::shared_ptr<cache::fleet> fleet,
                   std::shared_ptr<credential_provider> credentials)
    : settings_(settings),
      upstream_(std::move(upstream)),
      store_(std::move(store)),
      clock_(std::move(clock)),
      random_(std::move(random)),
      metrics_(std::make_shared<traffic_metrics>()),
      verdicts_(std::make_shared<token_verdicts>(clock_)),
      builder_(std::make_shared<entry_builder>(settings)),
      fetcher_(std::make_shared<fetcher>(upstream_, store_, clock_, builder_, metrics_, verdicts_, std::move(fleet))),
      prefetcher_(std::make_shared<prefetcher>(fetcher_, upstream_, store_, random_)),
      credentials_(std::move(credentials)),
      live_(std::make_shared<const live_state>(settings, *metrics_)) {}

pipeline::~pipeline() = default;

void pipeline::apply(const config::config& settings) {
  live_.store(std::make_shared<const live_state>(settings, *metrics_));
}

bool pipeline::admin_token_configured() const { return live_.load()->admin_token->configured(); }

bool pipeline::admin_token_matches(std::string_view bearer) const {
  const auto expected = live_.load()->admin_token->authorization();
  return expected && bearer.size() == expected->size() &&
         CRYPTO_memcmp(bearer.data(), expected->data(), bearer.size()) == 0;
}

std::size_t pipeline::single_flight_waiters() const { return fetcher_->waiters(); }

awaitable<server::response> pipeline::handle(const server::request& req, const server::request_info& info) {
  if (is_collection_request(req.target())) {
    const auto live = live_.load();
    const collection_settings walk{live->settings.limits.max_collection_items, live->settings.log.access,
                                   live->settings.log.format == config::log_format::json};
    co_return co_await serve_collection(shared_from_this(), req, info, walk);
  }
  auto answered = co_await answer(req, info, true);
  co_return std::move(answered.response);
}

awaitable<page_source::page> pipeline::serve_page(const server::request& req, const server::request_info& info) {
  co_return co_await answer(req, info, false);
}

awaitable<std::optional<page_source::cached>> pipeline::fresh_page(const server::request& req) {
  const auto live = live_.load();
  call c(req);
  prepare(c, *live);
  const auto refused = co_await provide_credentials(c);
  if (!refused.empty() || c.authorization.empty() || !c.policy->uses_cache()) co_return std::nullopt;
  identify(c);
  if (!c.who.may_read) co_return std::nullopt;
  const auto key = cache::derive_key({c.who.scope, "GET", c.path, c.query, c.headers.continuation_token,
                                      c.headers.accept, c.headers.locale});
  const auto found = co_await lookup_variant(c, key);
  if (!found.value || c.policy->reuse(*found.value, {cache::cache_control{}}, clock_->now()) != cache::freshness::fresh)
    co_return std::nullopt;
  co_return cached{found.value->body, found.value->validator};
}

void pipeline::prepare(call& c, const live_state& live) const {
  c.settings = &live.settings;
  const std::string_view target = c.req.target();
  const auto question = target.find('?');
  c.path = target.substr(0, question);
  c.query = question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);
  c.corr = upstream::correlation_for_request(c.headers.correlation_id, c.headers.request_id, c.headers.cv, random_);
  const auto route_index = live.routes.index_of(c.path);
  c.route = &live.routes.at(route_index);
  c.policy = &cache::policy_for(c.route->policy);
  c.row = live.rows[route_index];
  c.authorization = c.headers.authorization;
  if (c.authorization.empty()) c.injected = live.injected_token->authorization();
  if (c.injected) c.authorization = *c.injected;
}

awaitable<page_source::page> pipeline::answer(const server::request& req, const server::request_info& info,
                                              bool log_access) {
  const auto live = live_.load();
  std::optional<call> c;
  server::response res;
  // Upstream refusing a token pcproxy injected: one refresh and one retry.
  for (int attempt = 0; attempt < 2; ++attempt) {
    c.emplace(req);
    c->live_hold = live;
    prepare(*c, *live);
    const auto refused = co_await provide_credentials(*c);
    if (!refused.empty()) {
      res = credentials_failed(*c, refused);
      break;
    }
    if (c->authorization.empty()) {
      res = missing_credentials(*c, live->injected_token->configured());
      break;
    }
    res = co_await process(*c);
    if (res.status != 401 || !c->provided || attempt > 0 || !credentials_->rejected(*c->injected)) break;
    log()->info("{}: upstream refused pcproxy's access token (401); refreshing it and trying once more", c->path);
  }
  finish(*c, res, info, log_access);
  co_return page{std::move(res), c->label};
}

awaitable<std::string> pipeline::provide_credentials(call& c) const {
  if (!c.authorization.empty() || !credentials_) co_return std::string{};
  auto got = co_await credentials_->authorization();
  if (!got.authorization) co_return std::move(got.failure);
  c.injected = std::move(got.authorization);
  c.authorization = *c.injected;
  c.provided = true;
  co_return std::string{};
}

server::response pipeline::credentials_failed(call& c, const std::string& why) const {
  auto res = error_response(502, core::error_code_number::credentials,
                            "pcproxy has no Partner Center access token for requests without Authorization: " + why,
                            c.corr);
  stamp(c, res, cache_result::bypass, 0, "pcproxy; fwd=bypass; detail=no-credentials");
  return res;
}

server::response pipeline::missing_credentials(call& c, bool token_file_configured) const {
  auto res = error_response(401, core::error_code_number::missing_credentials,
                            token_file_configured
                                ? "no Authorization header, and upstream.token_file holds no usable token"
                                : "no Authorization header: send 'Authorization: Bearer <token>' for Partner "
                                  "Center, or configure upstream.token_file",
                            c.corr);
  stamp(c, res, cache_result::bypass, 0, "pcproxy; fwd=bypass; detail=no-credentials");
  return res;
}

awaitable<server::response> pipeline::process(call& c) {
  identify(c);
  const bool caching = settings_.cache.max_bytes > 0 || store_->has_lower_tiers();
  if (c.policy->uses_cache() && readable(c.req.method()) && caching)
    co_return co_await serve_from_cache(c);
  co_return co_await forward(c);
}

// The cache scope: the tenant of a bearer JWT in tenant scope (readable only once
// upstream has accepted that exact token), the credential's hash otherwise; pcproxy's
// own tokens in credential scope share one scope that outlives each hourly token.
void pipeline::identify(call& c) const {
  if (c.provided && c.settings->cache.scope == config::cache_scope::credential) {
    c.who.scope = cache::app_scope(settings_.upstream.auth.tenant, settings_.upstream.auth.client_id);
    return;
  }
  if (c.settings->cache.scope == config::cache_scope::tenant)
    if (auto claims = cache::read_jwt_claims(c.authorization))
      c.who = {cache::tenant_scope(claims->tenant_id), true, verdicts_->accepted(c.authorization), claims->expires};
  if (c.who.scope.empty()) c.who.scope = cache::credential_scope(c.authorization);
}

awaitable<server::response> pipeline::serve_from_cache(call& c) {
  const auto directives = request_directives(c.headers);
  const auto key = cache::derive_key({c.who.scope, "GET", c.path, c.query, c.headers.continuation_token,
                                      c.headers.accept, c.headers.locale});
  c.key = key;

  cache::tiered::found stored;
  if (c.who.may_read) stored = co_await lookup_variant(c, key);
  if (stored.value) {
    const auto now = clock_->now();
    const auto state = c.policy->reuse(*stored.value, {directives}, now);
    if (state == cache::freshness::fresh) {
      const bool from_memory = stored.from == &store_->memory();
      std::string detail = from_memory ? "" : std::string("; detail=") + stored.from->name();
      if (from_memory && prefetcher_->take(key)) {  // fetched ahead: the walk goes on ahead too
        detail = "; detail=prefetched";
        const auto executor = co_await net::this_coro::executor;
        prefetcher_->after(c, *stored.value, executor);
      }
      co_return respond(c, *stored.value, cache_result::hit,
                        "pcproxy; hit" + detail + ttl_param(cache::time_to_live(*stored.value, now)));
    }
    if (state == cache::freshness::stale_while_revalidate) {
      const auto executor = co_await net::this_coro::executor;
      fetcher_->refresh_in_background(fetcher_->plan(c, key, stored.value, directives), executor);
      co_return respond(c, *stored.value, cache_result::stale, "pcproxy; hit; detail=stale-while-revalidate");
    }
  }
  if (directives.only_if_cached) {
    auto res = error_response(504, core::error_code_number::only_if_cached_miss,
                              "Cache-Control: only-if-cached, and pcproxy holds no fresh response for this request",
                              c.corr);
    stamp(c, res, cache_result::miss, 0, "pcproxy; fwd=miss; detail=only-if-cached");
    co_return res;
  }

  const auto plan = fetcher_->plan(c, key, stored.value, directives);
  // An unverified tenant token must see upstream's own answer, never a shared one; so
  // does a client whose own conditions went upstream (the answer may be its 304).
  fetcher::outcome got;
  if (c.who.may_read && !plan.client_conditional) {
    got = co_await fetcher_->fetch_collapsed(plan);
  } else {
    got.result = co_await fetcher_->fetch(plan);
    got.own = true;
  }
  const auto& result = *got.result;
  if (got.own) {
    c.corr = result.sent;  // the client gets the ids of its own final attempt
    c.attempts = result.attempts;
  }
  const std::string forwarded = stored.value ? "pcproxy; fwd=stale" : "pcproxy; fwd=uri-miss";
  const auto attempts = got.own ? result.attempts.size() : 0;

  if (upstream_failed(result) && stored.value && cache::usable_if_error(*stored.value, clock_->now())) {
    const auto why = result.response ? "fwd-status=" + std::to_string(result.response->status)
                                     : std::string("detail=") + upstream::to_string(result.error);
    log()->warn("{} served stale: upstream {}", c.path,
                result.response ? std::to_string(result.response->status) : result.detail);
    auto res = respond(c, *stored.value, cache_result::stale, "pcproxy; fwd=stale; " + why + "; detail=stale-if-error");
    add_attempts_header(res, attempts);
    co_return res;
  }
  if (!result.response && stored.value && stored.value->rules.must_revalidate) {
    // RFC 9111 §4.2.4: a response that must be revalidated is never served stale.
    auto res = error_response(504, core::error_code_number::gateway_timeout,
                              "the stored response must be revalidated (must-revalidate) and upstream could not be "
                              "asked: " + result.detail,
                              c.corr);
    stamp(c, res, cache_result::miss, 0, forwarded + "; detail=must-revalidate");
    add_attempts_header(res, attempts);
    co_return res;
  }
  if (!result.response) {
    upstream::result failed;
    failed.error = result.error;
    failed.detail = result.detail;
    failed.retry_after = result.retry_after;
    failed.sent = c.corr;
    auto res = failure_response(failed);
    stamp(c, res, cache_result::miss, 0, forwarded + "; detail=upstream-failed");
    add_attempts_header(res, attempts);
    co_return res;
  }
  const auto& answer = *result.response;
  if (result.shared) {  // another instance of the fleet fetched it
    co_return respond(c, answer, cache_result::hit,
                      "pcproxy; hit; detail=shared" + ttl_param(cache::time_to_live(answer, clock_->now())));
  }
  const auto ttl = result.stored ? ttl_param(cache::time_to_live(answer, answer.revalidated_at)) : std::string{};
  server::response res;
  if (result.revalidated) {
    res = respond(c, answer, cache_result::revalidated, "pcproxy; fwd=stale; detail=revalidated" + ttl);
  } else {
    res = respond(c, answer, cache_result::miss,
                  forwarded + "; fwd-status=" + std::to_string(answer.status) + (result.stored ? "; stored" : "") +
                      ttl + (c.who.may_read ? "" : "; detail=token-not-yet-verified"));
    if (result.stored && got.own) {
      const auto executor = co_await net::this_coro::executor;
      prefetcher_->after(c, answer, executor);
    }
  }
  add_attempts_header(res, attempts);
  co_return res;
}

awaitable<server::response> pipeline::forward(call& c) {
  const auto method = c.req.method();
  upstream::request out;
  out.method = method;
  out.target = std::string(c.req.target());
  upstream::copy_end_to_end(c.req.base(), out.headers, owned_request_field);
  out.headers.set(http::field::authorization, c.authorization);
  out.body = c.req.body();
  out.scope = c.who.scope;
  const bool idempotent = readable(method) || method == http::verb::put || method == http::verb::delete_ ||
                          method == http::verb::options;
  auto result = co_await upstream_->send(out, c.corr, idempotent);
  for (const auto& a : result.attempts) metrics_->attempt(a);
  c.attempts = result.attempts;
  c.corr = result.sent;
  if (!result.answer) {
    auto res = failure_response(result);
    stamp(c, res, cache_result::bypass, 0, "pcproxy; fwd=bypass; detail=upstream-failed");
    add_attempts_header(res, result.attempts.size());
    co_return res;
  }
  auto& answer = *result.answer;
  if (c.who.tenant) verdicts_->record(c.authorization, answer.status, c.who.expires);
  // RFC 9111 §4.4: a successful unsafe request invalidates what is stored for its path,
  // and for the paths its Location and Content-Location name on the same origin.
  if (!readable(method) && answer.status >= 200 && answer.status < 400) {
    std::vector<std::string> paths{std::string(c.path)};
    for (const auto field : {http::field::location, http::field::content_location})
      if (const auto it = answer.headers.find(field); it != answer.headers.end())
        if (auto path = same_origin_path(it->value()); path && *path != paths.front()) paths.push_back(std::move(*path));
    std::size_t erased = 0;
    for (auto& path : paths) {
      cache::purge_filter invalidated;
      invalidated.scope = c.who.scope;
      invalidated.path = std::move(path);
      const auto purged = co_await store_->purge(std::move(invalidated));
      for (const auto& p : purged) erased += p.result.purged;
    }
    if (erased > 0) log()->debug("{} {} invalidated {} cached entries", c.req.method_string(), c.path, erased);
  }

  const auto head_length = answer.headers.find(http::field::content_length);
  std::optional<std::uint64_t> announced;
  if (method == http::verb::head && head_length != answer.headers.end())
    announced = core::parse_number<std::uint64_t>(head_length->value());
  const auto relayed = builder_->build(answer.status, end_to_end_headers(answer.headers), std::move(answer.body),
                                       {clock_->now(), {}, {}, c.who.scope, std::string(c.path), c.route->path});
  auto res = respond(c, *relayed, cache_result::bypass,
                     std::string(readable(method) ? "pcproxy; fwd=bypass" : "pcproxy; fwd=method") +
                         "; fwd-status=" + std::to_string(answer.status));
  res.head_content_length = announced;
  add_attempts_header(res, result.attempts.size());
  co_return res;
}

server::response pipeline::respond(call& c, const cache::entry& e, cache_result label,
                                   std::string_view cache_status) const {
  server::response res;
  res.status = e.status;
  res.header_block = e.header_block;
  if (e.status == 200 && client_holds(c, e))
    res.status = 304;  // the client holds this version: headers only
  else
    res.body = e.body;
  stamp(c, res, label, cache::age(e, clock_->now()).count(), cache_status);
  return res;
}

// The path of a URI reference (relative, or absolute on the upstream or pcproxy's public
// origin), without its query; nullopt for another origin or anything else.
std::optional<std::string> pipeline::same_origin_path(std::string_view uri) const {
  uri = core::trim(uri);
  for (const auto& origin : {settings_.upstream.url.base_url, settings_.public_base_url})
    if (!origin.empty() && uri.size() > origin.size() && uri.starts_with(origin) && uri[origin.size()] == '/') {
      uri.remove_prefix(origin.size());
      break;
    }
  if (!uri.starts_with('/') || uri.starts_with("//")) return std::nullopt;
  return std::string(uri.substr(0, uri.find_first_of("?#")));
}

// RFC 9110 §13.2.2: If-None-Match decides when present; otherwise, on RFC 9111 routes,
// If-Modified-Since against the stored Last-Modified.
bool pipeline::client_holds(const call& c, const cache::entry& e) const {
  const auto inm = c.headers.if_none_match;
  if (!inm.empty()) return cache::if_none_match_matches(inm, e.validator);
  if (!c.policy->follows_rfc9111() || (c.req.method() != http::verb::get && c.req.method() != http::verb::head))
    return false;
  const auto ims_field = c.req[http::field::if_modified_since];
  if (ims_field.empty()) return false;
  const auto since = core::parse_http_date(ims_field);
  const auto headers = cache::headers(e);
  const auto* modified_field = cache::find_header(headers, "Last-Modified");
  const auto modified = modified_field ? core::parse_http_date(*modified_field) : std::nullopt;
  return since && modified && *modified <= *since;
}

// RFC 9111 §4.1: a stored response that varies serves only requests whose selecting
// headers match; another variant is under its own key.
awaitable<cache::tiered::found> pipeline::lookup_variant(const call& c, const cache::cache_key& key) {
  auto found = co_await store_->lookup(key);
  if (!found.value || found.value->vary.empty()) co_return found;
  cache::header_list request;
  for (const auto& f : c.req.base()) request.push_back({std::string(f.name_string()), std::string(f.value())});
  const auto selecting = cache::selecting_headers(cache::field_names(found.value->vary), request);
  if (selecting == found.value->vary) co_return found;
  co_return co_await store_->lookup(cache::variant_key(key, selecting));
}

void pipeline::stamp(call& c, server::response& res, cache_result label, long long age_s,
                     std::string_view cache_status) const {
  c.label = label;
  add_correlation_headers(res, c.corr);
  add_cache_headers(res, label, age_s, cache_status);
}

void pipeline::finish(call& c, server::response& res, const server::request_info& info, bool log_access) {
  request_record r;
  r.method = c.req.method_string();
  r.path = c.path;
  r.route = c.route->path;
  r.policy = c.route->policy;
  r.status = res.status;
  r.result = c.label;
  r.scope = c.who.scope;
  r.attempts = std::move(c.attempts);
  r.total = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - info.received_at);
  r.bytes = res.body ? res.body->size() : 0;
  metrics_->record(*c.row, r);
  res.head += "Server-Timing: ";
  append_server_timing(res.head, r);
  res.head += "\r\n";

  // Debugging headers: for loopback callers, or anyone holding the admin token.
  if (c.headers.debug == "1") {
    const auto token = c.headers.debug_token;
    const bool debugging = info.peer.address().is_loopback() ||
                           (!token.empty() && admin_token_matches("Bearer " + std::string(token)));
    if (debugging) {
      if (c.key) r.key = core::to_hex(c.key->digest, 8);
      add_debug_headers(res, r);
    }
  }
  if (log_access && c.settings->log.access) {
    r.ids = std::move(c.corr);
    r.peer = info.peer.address().to_string() + ":" + std::to_string(info.peer.port());
    static const auto access = core::logger("access");
    access->info("{}", access_line(r, c.settings->log.format == config::log_format::json));
  }
}

std::vector<pipeline::route_stats> pipeline::stats() const {
  const auto live = live_.load();
  std::vector<route_stats> out;
  for (std::size_t i = 0; i < live->routes.size(); ++i) {
    const auto& r = live->routes.at(i);
    const auto t = metrics_->totals(*live->rows[i]);
    out.push_back({r.path, r.policy, t.hits, t.misses, t.stale, t.revalidated, t.bypassed});
  }
  return out;
}

}  // namespace pcproxy::proxy
