#include "proxy/fetcher.hpp"

#include "cache/http_rules.hpp"
#include "cache/validator.hpp"
#include "core/log.hpp"
#include "upstream/headers.hpp"

#include <boost/beast/core/string.hpp>

namespace pcproxy::proxy {

namespace http = beast::http;
using std::chrono::seconds;

namespace {

const std::shared_ptr<spdlog::logger>& log() {
  static const auto l = core::logger("proxy");
  return l;
}

// On cached routes pcproxy fetches whole, unencoded representations and evaluates the
// client's conditions and cache directives itself; the ids and Authorization are its own.
bool cache_owned_request_field(std::string_view name) {
  for (std::string_view n : {"host", "authorization", "ms-correlationid", "ms-requestid", "ms-cv", "pcproxy-debug",
                             "pcproxy-debug-token", "if-none-match", "if-modified-since", "if-match",
                             "if-unmodified-since", "if-range", "range", "accept-encoding", "cache-control", "pragma"})
    if (beast::iequals(name, n)) return true;
  return false;
}

// A copy of `stale` confirmed by upstream at `now`: the confirming answer's rules when
// it gave any, its merged headers when it carried some (RFC 9111 §4.3.4). It shares the
// stored body.
std::shared_ptr<const cache::entry> renewed(const cache::entry& stale, core::sys_time now,
                                            const std::optional<cache::storage>& how, const fetch_plan& plan,
                                            const cache::header_list* merged) {
  auto e = std::make_shared<cache::entry>(stale);
  e->revalidated_at = now;
  if (merged) {
    auto kept = *merged;
    cache::drop_field(kept, "Age");  // pcproxy sends its own
    e->header_block = cache::header_block(kept);
  }
  if (how) {
    e->rules = cache::rules_for(plan.route, *how, plan.stale_if_error);
    e->initial_age = how->initial_age;
  } else {
    e->initial_age = seconds{0};
  }
  return e;
}

bool client_conditional_field(std::string_view name) {
  return beast::iequals(name, "if-none-match") || beast::iequals(name, "if-modified-since");
}

}  // namespace

fetcher::fetcher(std::shared_ptr<upstream::transport> upstream, std::shared_ptr<cache::tiered> store,
                 std::shared_ptr<const core::clock> clock, std::shared_ptr<const entry_builder> builder,
                 std::shared_ptr<traffic_metrics> metrics, std::shared_ptr<token_verdicts> verdicts,
                 std::shared_ptr<cache::fleet> fleet)
    : upstream_(std::move(upstream)),
      store_(std::move(store)),
      clock_(std::move(clock)),
      builder_(std::move(builder)),
      metrics_(std::move(metrics)),
      verdicts_(std::move(verdicts)),
      fleet_(std::move(fleet)) {}

fetch_plan fetcher::plan(const call& c, const cache::cache_key& key, std::shared_ptr<const cache::entry> stored,
                         const cache::cache_control& directives) const {
  fetch_plan plan;
  plan.request.method = http::verb::get;
  plan.request.target = std::string(c.req.target());
  upstream::copy_end_to_end(c.req.base(), plan.request.headers, cache_owned_request_field);
  plan.request.headers.set(http::field::authorization, c.authorization);
  plan.request.scope = c.who.scope;
  if (c.policy->requires_json()) {
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
  if (c.policy->follows_rfc9111()) {
    if (stored) {
      const auto stored_headers = cache::headers(*stored);
      if (const auto* modified = cache::find_header(stored_headers, "Last-Modified"))
        plan.request.headers.set(http::field::if_modified_since, *modified);
    } else {
      for (const auto& f : c.req.base())
        if (client_conditional_field(f.name_string())) {
          plan.request.headers.insert(f.name_string(), f.value());
          plan.client_conditional = true;
        }
    }
  }
  if (c.policy->follows_rfc9111())  // only RFC 9111 routes store responses that vary
    for (const auto& f : c.req.base()) plan.client_headers.push_back({std::string(f.name_string()), std::string(f.value())});
  plan.authorization_restricts = c.who.tenant;
  plan.corr = c.corr;
  plan.key = key;
  plan.who = c.who;
  plan.authorization = std::string(c.authorization);
  plan.path = std::string(c.path);
  plan.route = *c.route;
  plan.policy = c.policy;
  plan.directives = directives;
  plan.stored = std::move(stored);
  plan.stale_if_error = seconds(c.settings->cache.stale_if_error_s);
  plan.single_flight_wait = std::chrono::milliseconds(c.settings->cache.single_flight_wait_ms);
  return plan;
}

awaitable<fetcher::outcome> fetcher::fetch_collapsed(const fetch_plan& plan) {
  auto ticket = flights_.join(plan.key);
  if (ticket.leader) {
    flights::leader_guard guard(flights_, plan.key, ticket.shared);
    std::shared_ptr<const fetched> result;
    if (fleet_)
      result = co_await fetch_for_fleet(plan);
    else
      result = co_await fetch(plan);
    guard.finish(result);
    co_return outcome{result, true};
  }
  auto result = co_await flights_.wait(ticket.shared, std::chrono::steady_clock::now() + plan.single_flight_wait);
  const bool same_variant =
      !result || !result->response || result->response->vary.empty() ||
      cache::selecting_headers(cache::field_names(result->response->vary), plan.client_headers) ==
          result->response->vary;
  const bool shareable =
      result && same_variant && (!plan.who.tenant || (result->response && result->response->status < 300));
  if (shareable) co_return outcome{result, false};
  auto own = co_await fetch(plan);
  co_return outcome{own, true};
}

awaitable<std::shared_ptr<const fetched>> fetcher::fetch_for_fleet(const fetch_plan& plan) {
  const auto until = std::chrono::steady_clock::now() + plan.single_flight_wait;
  for (;;) {
    const auto lease = co_await fleet_->acquire(plan.key);
    std::shared_ptr<const cache::entry> page;
    if (lease == cache::fleet::lease::mine) {
      // Another instance's fetch may have ended between this miss and the lease: its page
      // is there (newer than the one this request would revalidate, if any).
      page = co_await fleet_->stored(plan.key);
      if (page && plan.stored && page->revalidated_at <= plan.stored->revalidated_at) page.reset();
      if (page) fleet_->release(plan.key);
    }
    if (!page && lease != cache::fleet::lease::taken) {  // ours, or Redis is out: fetch
      auto result = co_await fetch(plan);
      if (lease == cache::fleet::lease::mine) fleet_->release(plan.key);  // after the page was sent to Redis
      co_return result;
    }
    if (!page) page = co_await fleet_->wait_for(plan.key, until);
    if (page) {
      co_await store_->insert(plan.key, page, false);  // into this instance's own tiers
      auto out = std::make_shared<fetched>();
      out->response = std::move(page);
      out->stored = true;
      out->shared = true;
      out->sent = plan.corr;
      co_return out;
    }
    // Waited long enough, or the holder gave up without a page: fetch (or lead anew).
    if (std::chrono::steady_clock::now() >= until) {
      auto own = co_await fetch(plan);
      co_return own;
    }
  }
}

awaitable<std::shared_ptr<const fetched>> fetcher::fetch(const fetch_plan& plan) {
  const auto request_time = clock_->now();
  auto r = co_await upstream_->send(plan.request, plan.corr, true);
  auto out = std::make_shared<fetched>();
  out->sent = r.sent;
  out->error = r.error;
  out->detail = std::move(r.detail);
  out->retry_after = r.retry_after;
  out->attempts = r.attempts;
  for (const auto& a : r.attempts) metrics_->attempt(a);
  if (!r.answer) co_return out;

  auto& answer = *r.answer;
  if (plan.who.tenant) verdicts_->record(plan.authorization, answer.status, plan.who.expires);
  const auto now = clock_->now();
  auto headers = end_to_end_headers(answer.headers);
  const cache::request_facts asked{plan.directives, plan.authorization_restricts};
  auto how = plan.policy->store({answer.status, headers, request_time, now}, asked, plan.route);
  std::string validator;
  if (how) {
    const auto etag = answer.headers[http::field::etag];
    validator = plan.body_etag ? cache::validator_of(etag, *plan.body_etag, answer.body)
                               : cache::validator_of(etag, answer.body);
  }

  // Revalidation: a 304, or a storable 200 with the same validator, renews the stored
  // entry and keeps its bytes. On RFC 9111 routes the 304's headers update the stored
  // ones, and the freshness comes from the result.
  const bool confirmed = plan.stored && (answer.status == 304 || (how && answer.status == plan.stored->status &&
                                                                    validator == plan.stored->validator));
  if (confirmed) {
    std::optional<cache::header_list> merged;
    if (answer.status == 304 && plan.policy->follows_rfc9111()) {
      merged = cache::merge_updated_headers(cache::headers(*plan.stored), headers);
      how = plan.policy->store({plan.stored->status, *merged, request_time, now}, asked, plan.route);
    } else if (answer.status == 304) {
      how = plan.policy->store({plan.stored->status, cache::headers(*plan.stored), request_time, now}, asked,
                               plan.route);
    }
    out->response = renewed(*plan.stored, now, how, plan, merged ? &*merged : nullptr);
    if (how) out->stored = co_await store_->insert(plan.key, out->response);
    out->revalidated = true;
    co_return out;
  }

  const auto rules = how ? cache::rules_for(plan.route, *how, plan.stale_if_error) : cache::freshness_rules{};
  auto built = builder_->build(answer.status, std::move(headers), std::move(answer.body),
                               {now, std::move(validator), rules, plan.who.scope, plan.path, plan.route.path,
                                how ? how->initial_age : seconds{0}});
  if (how && !how->vary.empty()) built->vary = cache::selecting_headers(how->vary, plan.client_headers);
  out->response = built;
  if (how) {
    out->stored = co_await store_->insert(plan.key, out->response);
    // A response that varies is found by its variant's key too: the primary key holds
    // whichever variant came last.
    if (out->stored && !built->vary.empty())
      co_await store_->insert(cache::variant_key(plan.key, built->vary), out->response);
    if (!out->stored) log()->debug("response for {} not stored: larger than every tier's max_bytes", plan.path);
  }
  co_return out;
}

void fetcher::refresh_in_background(fetch_plan plan, net::any_io_executor executor) {
  if (flights_.in_flight(plan.key)) return;  // a refresh (or a miss) is already asking upstream
  const auto path = plan.path;
  net::co_spawn(
      executor,
      [self = shared_from_this(), plan = std::move(plan)]() -> awaitable<void> { co_await self->fetch_collapsed(plan); },
      [path](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          log()->error("background refresh of {} failed: {}", path, ex.what());
        }
      });
}

}  // namespace pcproxy::proxy
