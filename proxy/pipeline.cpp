#include "proxy/pipeline.hpp"

#include "cache/freshness.hpp"
#include "cache/key.hpp"
#include "cache/scope.hpp"
#include "cache/validator.hpp"
#include "config/loader.hpp"
#include "core/log.hpp"
#include "upstream/headers.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>

#include <openssl/crypto.h>

#include <charconv>

namespace pcproxy::proxy {

namespace http = beast::http;
using std::chrono::seconds;

namespace {

const std::shared_ptr<spdlog::logger>& log() {
  static const auto l = core::logger("proxy");
  return l;
}

bool one_of(std::string_view name, std::initializer_list<std::string_view> names) {
  for (auto n : names)
    if (beast::iequals(name, n)) return true;
  return false;
}

// Request fields pcproxy sets itself or keeps to itself.
bool owned_request_field(std::string_view name) {
  return one_of(name, {"host", "authorization", "ms-correlationid", "ms-requestid", "ms-cv", "pcproxy-debug",
                       "pcproxy-debug-token"});
}

// On cached routes pcproxy fetches whole, unencoded representations and evaluates the
// client's conditions and cache directives itself.
bool cache_owned_request_field(std::string_view name) {
  return owned_request_field(name) ||
         one_of(name, {"if-none-match", "if-modified-since", "if-match", "if-unmodified-since", "if-range",
                       "range", "accept-encoding", "cache-control", "pragma"});
}

// Response fields that belong to one exchange and are never stored or relayed.
bool per_exchange_response_field(std::string_view name) {
  return one_of(name, {"ms-correlationid", "ms-requestid", "ms-cv", "set-cookie", "age", "x-cache", "cache-status"});
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

// A Vary that names only what the key already holds keeps a response storable.
bool vary_is_covered(const http::fields& headers) {
  const auto it = headers.find(http::field::vary);
  if (it == headers.end()) return true;
  for (const auto token : http::token_list{it->value()})
    if (!one_of(token, {"accept", "x-locale", "accept-encoding"})) return false;
  return true;
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

/// The request headers the pipeline reads, found in one pass over the message (each
/// separate lookup would walk Beast's case-insensitive tree).
struct request_headers {
  std::string_view authorization, accept, cache_control, pragma, if_none_match;
  std::string_view correlation_id, request_id, cv, continuation_token, locale, debug, debug_token;
  bool has_cache_control = false;
};

request_headers read_headers(const server::request& req) {
  request_headers h;
  for (const auto& f : req) {
    switch (f.name()) {
      case http::field::authorization: h.authorization = f.value(); continue;
      case http::field::accept: h.accept = f.value(); continue;
      case http::field::cache_control:
        h.cache_control = f.value();
        h.has_cache_control = true;
        continue;
      case http::field::pragma: h.pragma = f.value(); continue;
      case http::field::if_none_match: h.if_none_match = f.value(); continue;
      case http::field::unknown: break;
      default: continue;
    }
    const std::string_view name = f.name_string();
    const auto is = [&](std::string_view wanted) { return name.size() == wanted.size() && beast::iequals(name, wanted); };
    if (is("MS-CorrelationId")) h.correlation_id = f.value();
    else if (is("MS-RequestId")) h.request_id = f.value();
    else if (is("MS-CV")) h.cv = f.value();
    else if (is("MS-ContinuationToken")) h.continuation_token = f.value();
    else if (is("X-Locale")) h.locale = f.value();
    else if (is("Pcproxy-Debug")) h.debug = f.value();
    else if (is("Pcproxy-Debug-Token")) h.debug_token = f.value();
  }
  return h;
}

// The client's Cache-Control (Pragma: no-cache counts when Cache-Control is absent).
cache::cache_control request_directives(const request_headers& h) {
  if (h.has_cache_control) return cache::parse_cache_control(h.cache_control);
  cache::cache_control out;
  out.no_cache = beast::iequals(h.pragma, "no-cache");
  return out;
}

// Upstream failed in a way a stale entry may cover (stale-if-error).
bool upstream_failed(const fetched& f) {
  return !f.response || f.response->status >= 500 || f.response->status == 429;
}

std::string ttl_param(seconds ttl) { return "; ttl=" + std::to_string(ttl.count()); }

}  // namespace

/// Who is asking: the cache scope their requests read and write.
struct identity {
  std::string scope;
  bool tenant = false;     // scope is a tenant's, shared between its tokens
  bool may_read = true;    // false: a tenant token upstream has not accepted yet
  std::optional<core::sys_time> expires;
};

/// The state of one request as it moves through the pipeline.
struct call {
  explicit call(const server::request& r) : req(r), headers(read_headers(r)) {}
  const server::request& req;
  const request_headers headers;
  std::shared_ptr<const void> live_hold;  // keeps the settings this request started with
  const config::config* settings = nullptr;
  std::string_view path;
  std::string_view query;
  upstream::correlation corr;
  std::string_view authorization;
  std::shared_ptr<const std::string> injected;  // keeps an injected token alive
  const config::route_config* route = nullptr;
  traffic_metrics::route_row* row = nullptr;
  identity who;
  std::optional<cache::cache_key> key;
  std::vector<upstream::attempt_record> attempts;  // this request's own upstream attempts
  cache_result label = cache_result::bypass;       // what X-Cache said
};

/// Everything one upstream fetch for the cache needs, owned, so a background refresh
/// can outlive the request that started it.
struct fetch_plan {
  upstream::request request;
  upstream::correlation corr;
  cache::cache_key key;
  identity who;
  std::string authorization;
  std::string path;
  config::route_config route;
  bool store_allowed = true;                   // false: the client said no-store
  std::shared_ptr<const cache::entry> stored;  // to revalidate (If-None-Match)
  seconds stale_if_error{0};
  std::chrono::milliseconds single_flight_wait{0};
  std::shared_ptr<std::string> body_etag;  // set by request.check (cache routes)
};

pipeline::live_state::live_state(const config::config& c, traffic_metrics& metrics)
    : settings(c),
      routes(c.routes),
      injected_token(std::make_shared<token_file>(c.upstream.token_file)),
      admin_token(std::make_shared<token_file>(c.admin.token_file)) {
  for (std::size_t i = 0; i < routes.size(); ++i) rows.push_back(&metrics.row(routes.at(i).path));
}

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
      live_(std::make_shared<const live_state>(settings, metrics_)),
      verdicts_(clock_) {}

void pipeline::apply(const config::config& settings) {
  live_.store(std::make_shared<const live_state>(settings, metrics_));
}

bool pipeline::admin_token_configured() const { return live_.load()->admin_token->configured(); }

bool pipeline::admin_token_matches(std::string_view bearer) const {
  const auto expected = live_.load()->admin_token->authorization();
  return expected && bearer.size() == expected->size() &&
         CRYPTO_memcmp(bearer.data(), expected->data(), bearer.size()) == 0;
}

awaitable<server::response> pipeline::handle(const server::request& req, const server::request_info& info) {
  const auto live = live_.load();
  call c(req);
  c.live_hold = live;
  c.settings = &live->settings;
  const std::string_view target = req.target();
  const auto question = target.find('?');
  c.path = target.substr(0, question);
  c.query = question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);
  c.corr = upstream::correlation_for_request(c.headers.correlation_id, c.headers.request_id, c.headers.cv, random_);
  const auto route_index = live->routes.index_of(c.path);
  c.route = &live->routes.at(route_index);
  c.row = live->rows[route_index];

  c.authorization = c.headers.authorization;
  if (c.authorization.empty()) c.injected = live->injected_token->authorization();
  if (c.injected) c.authorization = *c.injected;
  server::response res;
  if (c.authorization.empty())
    res = missing_credentials(c, live->injected_token->configured());
  else
    res = co_await process(c);  // (a statement of its own: see serve_from_cache)
  finish(c, res, info);
  co_return res;
}

void pipeline::stamp(call& c, server::response& res, cache_result label, long long age_s,
                     std::string_view cache_status) const {
  c.label = label;
  add_correlation_headers(res, c.corr);
  add_cache_headers(res, label, age_s, cache_status);
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
  if (c.settings->cache.scope == config::cache_scope::tenant)
    if (auto claims = cache::read_jwt_claims(c.authorization))
      c.who = {cache::tenant_scope(claims->tenant_id), true, verdicts_.accepted(c.authorization), claims->expires};
  if (c.who.scope.empty()) c.who.scope = cache::credential_scope(c.authorization);

  const auto method = c.req.method();
  const bool readable = method == http::verb::get || method == http::verb::head;
  if (c.route->policy != config::cache_policy::pass && readable && settings_.cache.max_bytes > 0)
    co_return co_await serve_from_cache(c);
  co_return co_await forward(c);
}

void pipeline::finish(call& c, server::response& res, const server::request_info& info) {
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
  metrics_.record(*c.row, r);
  res.head += "Server-Timing: ";
  append_server_timing(res.head, r);
  res.head += "\r\n";

  // Debugging headers: for loopback callers, or anyone holding the admin token.
  bool debugging = false;
  if (c.headers.debug == "1") {
    const auto token = c.headers.debug_token;
    debugging = info.peer.address().is_loopback() ||
                (!token.empty() && admin_token_matches("Bearer " + std::string(token)));
    if (debugging) {
      if (c.key) r.key = core::to_hex(c.key->digest, 8);
      add_debug_headers(res, r);
    }
  }
  if (c.settings->log.access) {
    r.ids = std::move(c.corr);
    r.peer = info.peer.address().to_string() + ":" + std::to_string(info.peer.port());
    static const auto access = core::logger("access");
    access->info("{}", access_line(r, c.settings->log.format == "json"));
  }
}

awaitable<server::response> pipeline::serve_from_cache(call& c) {
  const auto directives = request_directives(c.headers);
  const auto key = cache::derive_key({c.who.scope, "GET", c.path, c.query, c.headers.continuation_token,
                                      c.headers.accept, c.headers.locale});
  c.key = key;
  const auto now = clock_->now();

  std::shared_ptr<const cache::entry> stored = c.who.may_read ? store_->find(key) : nullptr;
  if (stored) {
    auto state = cache::classify(*stored, now);
    const bool too_old = directives.max_age && cache::age(*stored, now) > *directives.max_age;
    const bool usable_now = state == cache::freshness::fresh || state == cache::freshness::stale_while_revalidate;
    if (usable_now && (directives.no_cache || too_old)) state = cache::freshness::stale;
    if (state == cache::freshness::fresh) {
      co_return respond(c, *stored, cache_result::hit,
                        "pcproxy; hit" + ttl_param(cache::time_to_live(*stored, now)));
    }
    if (state == cache::freshness::stale_while_revalidate) {
      const auto executor = co_await net::this_coro::executor;
      refresh_in_background(plan_for(c, key, stored, !directives.no_store), executor);
      co_return respond(c, *stored, cache_result::stale, "pcproxy; hit; detail=stale-while-revalidate");
    }
  }
  if (directives.only_if_cached) {
    auto res = error_response(504, core::error_code_number::only_if_cached_miss,
                              "Cache-Control: only-if-cached, and pcproxy holds no fresh response for this request",
                              c.corr);
    stamp(c, res, cache_result::miss, 0, "pcproxy; fwd=miss; detail=only-if-cached");
    co_return res;
  }

  const auto plan = plan_for(c, key, stored, !directives.no_store);
  // An unverified tenant token must see upstream's own answer, never a shared one.
  // (Each co_await is a statement of its own: GCC 12 mishandles temporaries of a
  // co_await inside a conditional expression or an initialiser list.)
  outcome got;
  if (c.who.may_read) {
    got = co_await fetch_collapsed(plan);
  } else {
    got.result = co_await fetch(plan);
    got.own = true;
  }
  const auto& result = *got.result;
  if (got.own) {
    c.corr = result.sent;  // the client gets the ids of its own final attempt
    c.attempts = result.attempts;
  }
  const std::string forwarded = stored ? "pcproxy; fwd=stale" : "pcproxy; fwd=uri-miss";
  const auto attempts = got.own ? result.attempts.size() : 0;

  if (upstream_failed(result) && stored && cache::usable_if_error(*stored, clock_->now())) {
    const auto why = result.response ? "fwd-status=" + std::to_string(result.response->status)
                                     : std::string("detail=") + upstream::to_string(result.error);
    log()->warn("{} served stale: upstream {}", c.path,
                result.response ? std::to_string(result.response->status) : result.detail);
    auto res = respond(c, *stored, cache_result::stale, "pcproxy; fwd=stale; " + why + "; detail=stale-if-error");
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
  const auto ttl = result.stored ? ttl_param(cache::time_to_live(answer, answer.stored_at)) : std::string{};
  server::response res;
  if (result.revalidated) {
    res = respond(c, answer, cache_result::revalidated, "pcproxy; fwd=stale; detail=revalidated" + ttl);
  } else {
    res = respond(c, answer, cache_result::miss,
                  forwarded + "; fwd-status=" + std::to_string(answer.status) + (result.stored ? "; stored" : "") +
                      ttl + (c.who.may_read ? "" : "; detail=token-not-yet-verified"));
  }
  add_attempts_header(res, attempts);
  co_return res;
}

fetch_plan pipeline::plan_for(const call& c, const cache::cache_key& key,
                              std::shared_ptr<const cache::entry> stored, bool store_allowed) const {
  fetch_plan plan;
  plan.request.method = http::verb::get;  // HEAD too: the stored GET answers both
  plan.request.target = std::string(c.req.target());
  upstream::copy_end_to_end(c.req.base(), plan.request.headers, cache_owned_request_field);
  plan.request.headers.set(http::field::authorization, c.authorization);
  plan.request.scope = c.who.scope;
  if (c.route->policy == config::cache_policy::cache) {
    // A page that is not JSON is a broken answer, never something to store. One pass
    // over the body checks it and finds its attributes.etag for the validator.
    plan.body_etag = std::make_shared<std::string>();
    plan.request.check = [found = plan.body_etag](const upstream::response& answer) {
      auto scan = cache::scan_json(answer.body);
      *found = std::move(scan.etag);
      return scan.valid ? std::string{} : "the body is not JSON (" + scan.error + ")";
    };
  }
  if (stored && !stored->validator.empty()) plan.request.headers.set(http::field::if_none_match, stored->validator);
  plan.corr = c.corr;
  plan.key = key;
  plan.who = c.who;
  plan.authorization = std::string(c.authorization);
  plan.path = std::string(c.path);
  plan.route = *c.route;
  plan.store_allowed = store_allowed;
  plan.stored = std::move(stored);
  plan.stale_if_error = seconds(c.settings->cache.stale_if_error_s);
  plan.single_flight_wait = std::chrono::milliseconds(c.settings->cache.single_flight_wait_ms);
  return plan;
}

awaitable<pipeline::outcome> pipeline::fetch_collapsed(const fetch_plan& plan) {
  auto ticket = flights_.join(plan.key);
  if (ticket.leader) {
    flights::leader_guard guard(flights_, plan.key, ticket.shared);
    auto result = co_await fetch(plan);
    guard.finish(result);
    co_return outcome{result, true};
  }
  auto result = co_await flights_.wait(ticket.shared, std::chrono::steady_clock::now() + plan.single_flight_wait);
  // Within a tenant the leader holds another token: only its successes are shared.
  const bool shareable = result && (!plan.who.tenant || (result->response && result->response->status < 300));
  if (shareable) co_return outcome{result, false};
  auto own = co_await fetch(plan);
  co_return outcome{own, true};
}

awaitable<std::shared_ptr<const fetched>> pipeline::fetch(const fetch_plan& plan) {
  auto r = co_await upstream_->send(plan.request, plan.corr, true);
  auto out = std::make_shared<fetched>();
  out->sent = r.sent;
  out->error = r.error;
  out->detail = std::move(r.detail);
  out->retry_after = r.retry_after;
  out->attempts = r.attempts;
  for (const auto& a : r.attempts) metrics_.attempt(a);
  if (!r.answer) co_return out;

  auto& answer = *r.answer;
  note_verdict(plan.who, plan.authorization, answer.status);
  const auto now = clock_->now();
  std::string validator;
  if (answer.status == 200) {
    const auto etag = answer.headers[http::field::etag];
    validator = plan.body_etag ? cache::validator_of(etag, *plan.body_etag, answer.body)
                               : cache::validator_of(etag, answer.body);
  }
  std::optional<seconds> ttl;  // set when the answer may be stored, to its lifetime
  if (answer.status == 200 && plan.store_allowed && vary_is_covered(answer.headers)) {
    const auto cc = cache::parse_cache_control(answer.headers[http::field::cache_control]);
    if (plan.route.policy == config::cache_policy::http)
      ttl = cache::http_lifetime(cc, true);
    else if (!cc.no_store)
      ttl = seconds(plan.route.ttl_s);
  }

  // Revalidation: a 304, or a storable 200 with the same validator, renews the stored
  // entry's freshness and keeps its bytes.
  if (plan.stored && plan.stored->status == 200 &&
      (answer.status == 304 || (ttl && validator == plan.stored->validator))) {
    out->response = refreshed(*plan.stored, now, ttl);
    out->stored = store_->insert(plan.key, out->response);
    out->revalidated = true;
    co_return out;
  }

  http::fields kept;
  upstream::copy_end_to_end(answer.headers, kept, per_exchange_response_field);
  auto e = std::make_shared<cache::entry>();
  e->status = answer.status;
  if (ttl && kept.find(http::field::etag) == kept.end()) kept.set(http::field::etag, validator);
  e->header_block = std::make_shared<const std::string>(serialise_fields(kept));
  e->body = rewrite_links(std::move(answer.body));
  e->stored_at = now;
  e->rules = {ttl.value_or(seconds(0)), seconds(plan.route.stale_while_revalidate_s),
              plan.stale_if_error, plan.route.month_boundary};
  e->validator = ttl ? validator : std::string{};
  e->scope = plan.who.scope;
  e->path = plan.path;
  e->route = plan.route.path;
  out->response = e;
  if (ttl) {
    out->stored = store_->insert(plan.key, e);
    if (!out->stored) log()->debug("response for {} not stored: larger than cache.max_bytes", plan.path);
  }
  co_return out;
}

std::shared_ptr<const cache::entry> pipeline::refreshed(const cache::entry& stale, core::sys_time now,
                                                        std::optional<seconds> ttl) const {
  auto e = std::make_shared<cache::entry>(stale);  // shares the header block and body
  e->stored_at = now;
  if (ttl) e->rules.ttl = *ttl;
  return e;
}

void pipeline::refresh_in_background(fetch_plan plan, net::any_io_executor executor) {
  if (flights_.in_flight(plan.key)) return;  // a refresh (or a miss) is already asking upstream
  auto self = shared_from_this();
  const auto path = plan.path;
  net::co_spawn(
      executor,
      [self, plan = std::move(plan)]() -> awaitable<void> { co_await self->fetch_collapsed(plan); },
      [path](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          log()->error("background refresh of {} failed: {}", path, ex.what());
        }
      });
}

void pipeline::note_verdict(const identity& who, std::string_view authorization, unsigned status) {
  if (!who.tenant) return;
  if (status >= 200 && status < 300) verdicts_.accept(authorization, who.expires);
  if (status == 401 || status == 403) verdicts_.reject(authorization);
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
  const bool idempotent = method == http::verb::get || method == http::verb::head || method == http::verb::put ||
                          method == http::verb::delete_ || method == http::verb::options;
  auto result = co_await upstream_->send(out, c.corr, idempotent);
  for (const auto& a : result.attempts) metrics_.attempt(a);
  c.attempts = result.attempts;
  c.corr = result.sent;
  const bool readable = method == http::verb::get || method == http::verb::head;
  if (!result.answer) {
    auto res = failure_response(result);
    stamp(c, res, cache_result::bypass, 0, "pcproxy; fwd=bypass; detail=upstream-failed");
    add_attempts_header(res, result.attempts.size());
    co_return res;
  }
  auto& answer = *result.answer;
  note_verdict(c.who, c.authorization, answer.status);
  // RFC 9111 §4.4: a successful unsafe request invalidates what is stored for its path.
  if (!readable && answer.status >= 200 && answer.status < 400) {
    const std::string path(c.path);
    const auto erased = store_->erase_if(
        [&](const cache::entry& e) { return e.scope == c.who.scope && e.path == path; });
    if (erased > 0) log()->debug("{} {} invalidated {} cached entries", c.req.method_string(), path, erased);
  }

  http::fields kept;
  upstream::copy_end_to_end(answer.headers, kept, per_exchange_response_field);
  cache::entry relayed;
  relayed.status = answer.status;
  relayed.header_block = std::make_shared<const std::string>(serialise_fields(kept));
  relayed.body = rewrite_links(std::move(answer.body));
  auto res = respond(c, relayed, cache_result::bypass,
                     std::string(readable ? "pcproxy; fwd=bypass" : "pcproxy; fwd=method") +
                         "; fwd-status=" + std::to_string(answer.status));
  if (method == http::verb::head) res.head_content_length = content_length_of(answer.headers);
  add_attempts_header(res, result.attempts.size());
  co_return res;
}

server::response pipeline::respond(call& c, const cache::entry& e, cache_result label,
                                   std::string_view cache_status) const {
  server::response res;
  res.status = e.status;
  res.header_block = e.header_block;
  const auto inm = c.headers.if_none_match;
  if (e.status == 200 && !inm.empty() && cache::if_none_match_matches(inm, e.validator))
    res.status = 304;  // the client holds this version: headers only
  else
    res.body = e.body;
  const bool from_store = label != cache_result::miss && label != cache_result::bypass;
  stamp(c, res, label, from_store ? cache::age(e, clock_->now()).count() : 0, cache_status);
  return res;
}

std::vector<pipeline::route_stats> pipeline::stats() const {
  const auto live = live_.load();
  std::vector<route_stats> out;
  for (std::size_t i = 0; i < live->routes.size(); ++i) {
    const auto& r = live->routes.at(i);
    const auto t = metrics_.totals(*live->rows[i]);
    out.push_back({r.path, r.policy, t.hits, t.misses, t.stale, t.revalidated, t.bypassed});
  }
  return out;
}

std::shared_ptr<const std::string> pipeline::rewrite_links(std::string body) const {
  // Links are relative in practice; an absolute one to the upstream origin would take a
  // client around the proxy, so it is pointed at public_base_url. No other byte changes.
  if (!settings_.public_base_url.empty() && !upstream_base_url_.empty()) {
    const auto json_escaped = [](const std::string& url) {
      std::string out;  // the spelling JSON allows for '/': "https:\/\/host"
      for (char ch : url) {
        if (ch == '/') out += '\\';
        out += ch;
      }
      return out;
    };
    for (const auto& [from, to] : {std::pair{upstream_base_url_, settings_.public_base_url},
                                   std::pair{json_escaped(upstream_base_url_), json_escaped(settings_.public_base_url)}}) {
      for (auto at = body.find(from); at != std::string::npos; at = body.find(from, at + to.size()))
        body.replace(at, from.size(), to);
    }
  }
  return std::make_shared<const std::string>(std::move(body));
}

}  // namespace pcproxy::proxy
