#include "cache/policy.hpp"

#include "cache/http_rules.hpp"
#include "core/text.hpp"

namespace pcproxy::cache {
namespace {

using std::chrono::seconds;

// A Vary that names only what the key already holds keeps a response storable.
bool vary_is_covered(const header_list& headers) {
  const auto* vary = find_header(headers, "Vary");
  if (!vary) return true;
  std::string_view rest = *vary;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const auto token = core::trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    if (token.empty()) continue;
    if (!core::iequals(token, "accept") && !core::iequals(token, "x-locale") && !core::iequals(token, "accept-encoding"))
      return false;
  }
  return true;
}

// Partner Center pages: every 200 for the route's TTL, unless upstream or the client
// says no-store, or the answer varies on what the key does not hold.
class cache_route final : public route_policy {
public:
  bool uses_cache() const noexcept override { return true; }
  bool requires_json() const noexcept override { return true; }
  bool follows_rfc9111() const noexcept override { return false; }  // pages: the 200's headers, ETag only
  std::optional<storage> store(const answer_facts& answer, const request_facts& request,
                               const config::route_config& route) const override {
    if (answer.status != 200 || request.directives.no_store || !vary_is_covered(answer.headers)) return std::nullopt;
    if (response_cache_control(answer.headers).no_store) return std::nullopt;
    storage how;
    how.lifetime = seconds(route.ttl_s);
    return how;
  }
};

class pass_route final : public route_policy {
public:
  bool uses_cache() const noexcept override { return false; }
  bool requires_json() const noexcept override { return false; }
  bool follows_rfc9111() const noexcept override { return false; }
  std::optional<storage> store(const answer_facts&, const request_facts&,
                               const config::route_config&) const override {
    return std::nullopt;
  }
};

// RFC 9111 as a shared cache (cache/http_rules.hpp). In credential scope a partition
// serves one credential only, so Authorization does not block storing (§3.5 is about
// sharing between users); in tenant scope §3.5 applies as written.
class http_route final : public route_policy {
public:
  bool uses_cache() const noexcept override { return true; }
  bool requires_json() const noexcept override { return false; }
  bool follows_rfc9111() const noexcept override { return true; }
  std::optional<storage> store(const answer_facts& answer, const request_facts& request,
                               const config::route_config&) const override {
    auto decided = http_store({answer.status, answer.headers, request.directives, request.authorization_restricts,
                               answer.request_time, answer.response_time});
    if (!decided) return std::nullopt;
    return storage{decided->lifetime, decided->initial_age, decided->must_revalidate, decided->no_cache,
                   std::move(decided->vary)};
  }
};

}  // namespace

freshness route_policy::reuse(const entry& e, const request_facts& request, core::sys_time now) const {
  auto state = classify(e, now);
  const auto& asked = request.directives;
  const auto current_age = age(e, now);
  // §5.2.1.2 max-stale: a stale answer within it is acceptable, unless the entry must
  // be revalidated (or the month it belongs to has ended).
  if (state != freshness::fresh && asked.max_stale && !e.rules.must_revalidate && !e.rules.no_cache &&
      !(e.rules.month_boundary && crosses_month_boundary(e.revalidated_at, now)) &&
      current_age <= e.rules.ttl + *asked.max_stale && state != freshness::unusable)
    state = freshness::fresh;
  const bool usable_now = state == freshness::fresh || state == freshness::stale_while_revalidate;
  const bool too_old = asked.max_age && current_age > *asked.max_age;
  const bool too_close = asked.min_fresh && time_to_live(e, now) < *asked.min_fresh;
  if (usable_now && (asked.no_cache || too_old || too_close)) state = freshness::stale;
  return state;
}

const route_policy& policy_for(config::cache_policy kind) noexcept {
  static const cache_route cache;
  static const pass_route pass;
  static const http_route http;
  switch (kind) {
    case config::cache_policy::cache: return cache;
    case config::cache_policy::http: return http;
    case config::cache_policy::pass: break;
  }
  return pass;
}

freshness_rules rules_for(const config::route_config& route, const storage& how, seconds stale_if_error) noexcept {
  return {how.lifetime, seconds(route.stale_while_revalidate_s), stale_if_error, route.month_boundary,
          how.must_revalidate, how.no_cache};
}

}  // namespace pcproxy::cache
