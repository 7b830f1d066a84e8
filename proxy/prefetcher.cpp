#include "proxy/prefetcher.hpp"

#include "core/log.hpp"
#include "proxy/collection.hpp"
#include "proxy/collection_format.hpp"

namespace pcproxy::proxy {

namespace http = beast::http;

namespace {

const std::shared_ptr<spdlog::logger>& log() {
  static const auto l = core::logger("proxy");
  return l;
}

}  // namespace

prefetcher::prefetcher(std::shared_ptr<fetcher> fetch, std::shared_ptr<upstream::transport> upstream,
                       std::shared_ptr<cache::tiered> store, upstream::random_source random)
    : fetch_(std::move(fetch)), upstream_(std::move(upstream)), store_(std::move(store)), random_(std::move(random)) {}

void prefetcher::after(const call& c, const cache::entry& page, net::any_io_executor executor) {
  const auto limit = static_cast<std::size_t>(c.settings->limits.max_prefetches);
  if (!c.route->prefetch_next || limit == 0 || page.status != 200 || !page.body || !c.who.may_read) return;
  std::string why;
  const auto parsed = read_collection_page(*page.body, why);
  if (!parsed || !parsed->next) return;
  auto next = next_page_request(c.req, *parsed->next);
  if (!next) return;
  const std::string_view target = next->target();
  const auto question = target.find('?');
  const auto path = target.substr(0, question);
  if (path != c.path) return;  // another route's page: not this route's to prefetch
  const auto query = question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);
  const auto key = cache::derive_key({c.who.scope, "GET", path, query, (*next)["MS-ContinuationToken"],
                                      (*next)[http::field::accept], (*next)["X-Locale"]});
  if (store_->memory().find(key)) return;  // the client's next request is a hit already
  if (!upstream_->ready_for(c.who.scope)) return;
  {
    std::lock_guard lock(mutex_);
    if (running_.load() >= limit || !scopes_.insert(c.who.scope).second) return;
    ++running_;
  }
  net::co_spawn(executor,
                run(std::move(*next), c.who, std::string(c.authorization), *c.route, c.settings, c.live_hold, key),
                [self = shared_from_this(), scope = c.who.scope](std::exception_ptr e) {
                  if (e) log()->error("a next-page prefetch ended with an exception");
                  self->done(scope);
                });
}

awaitable<void> prefetcher::run(server::request next, identity who, std::string authorization,
                                config::route_config route, const config::config* settings,
                                std::shared_ptr<const void> hold, cache::cache_key key) {
  auto self = shared_from_this();
  call c(next);
  c.live_hold = std::move(hold);
  c.settings = settings;
  const std::string_view target = next.target();
  const auto question = target.find('?');
  c.path = target.substr(0, question);
  c.query = question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);
  // The walk's correlation id; a request id of its own.
  c.corr = upstream::correlation_for_request(c.headers.correlation_id, {}, c.headers.cv, random_);
  c.authorization = authorization;
  c.route = &route;
  c.policy = &cache::policy_for(route.policy);
  c.who = std::move(who);
  const auto plan = fetch_->plan(c, key, nullptr, cache::cache_control{});
  const auto got = co_await fetch_->fetch_collapsed(plan);
  if (got.result && got.result->stored && !got.result->revalidated) {
    std::lock_guard lock(mutex_);
    if (unserved_.size() >= 10000) {  // pages prefetched and never asked for: forget them
      unserved_.clear();
      unserved_count_ = 0;
    }
    if (unserved_.insert(key).second) ++unserved_count_;
  }
}

void prefetcher::done(const std::string& scope) {
  std::lock_guard lock(mutex_);
  scopes_.erase(scope);
  --running_;
}

bool prefetcher::take(const cache::cache_key& key) {
  if (unserved_count_.load(std::memory_order_relaxed) == 0) return false;
  std::lock_guard lock(mutex_);
  if (unserved_.erase(key) == 0) return false;
  --unserved_count_;
  return true;
}

}  // namespace pcproxy::proxy
