#include "cache/policy.hpp"

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

cache_control response_directives(const header_list& headers) {
  const auto* value = find_header(headers, "Cache-Control");
  return value ? parse_cache_control(*value) : cache_control{};
}

// Partner Center pages: every 200 for the route's TTL, unless upstream or the client
// says no-store, or the answer varies on what the key does not hold.
class cache_route final : public route_policy {
public:
  bool uses_cache() const noexcept override { return true; }
  bool requires_json() const noexcept override { return true; }
  std::optional<seconds> lifetime(const answer_facts& answer, const request_facts& request,
                                  const config::route_config& route) const override {
    if (answer.status != 200 || request.directives.no_store || !vary_is_covered(answer.headers)) return std::nullopt;
    if (response_directives(answer.headers).no_store) return std::nullopt;
    return seconds(route.ttl_s);
  }
};

class pass_route final : public route_policy {
public:
  bool uses_cache() const noexcept override { return false; }
  bool requires_json() const noexcept override { return false; }
  std::optional<seconds> lifetime(const answer_facts&, const request_facts&,
                                  const config::route_config&) const override {
    return std::nullopt;
  }
};

// RFC 9111 shared-cache storability from the response's Cache-Control. Requests always
// carry Authorization upstream (the caller's or an injected token), so §3.5 applies.
class http_route final : public route_policy {
public:
  bool uses_cache() const noexcept override { return true; }
  bool requires_json() const noexcept override { return false; }
  std::optional<seconds> lifetime(const answer_facts& answer, const request_facts& request,
                                  const config::route_config&) const override {
    if (answer.status != 200 || request.directives.no_store || !vary_is_covered(answer.headers)) return std::nullopt;
    return http_lifetime(response_directives(answer.headers), true);
  }
};

}  // namespace

freshness route_policy::reuse(const entry& e, const request_facts& request, core::sys_time now) const {
  auto state = classify(e, now);
  const bool usable_now = state == freshness::fresh || state == freshness::stale_while_revalidate;
  const auto& asked = request.directives;
  const bool too_old = asked.max_age && age(e, now) > *asked.max_age;
  if (usable_now && (asked.no_cache || too_old)) state = freshness::stale;
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

freshness_rules rules_for(const config::route_config& route, seconds lifetime, seconds stale_if_error) noexcept {
  return {lifetime, seconds(route.stale_while_revalidate_s), stale_if_error, route.month_boundary};
}

}  // namespace pcproxy::cache
