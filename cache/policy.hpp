#pragma once
// Route policies (DESIGN.md §1, §4): per policy, whether requests go through the
// cache, which answers are stored and for how long, and how a stored entry may serve
// a request. One object per policy behind one interface, so adding a policy is one
// class here; the pipeline asks and never decides.
//   cache  Partner Center pages: 200 JSON pages stored for the route's ttl_s.
//   pass   never stored, never served from the cache.
//   http   RFC 9111 shared-cache rules from the response's own Cache-Control.
// Thread-safety: the policies are immutable singletons; free functions over values.
#include "cache/entry.hpp"
#include "cache/freshness.hpp"
#include "config/config.hpp"

#include <chrono>
#include <optional>
#include <string_view>

namespace pcproxy::cache {

/// What a policy looks at in an upstream answer.
struct answer_facts {
  unsigned status = 0;
  const header_list& headers;
};

/// What a policy looks at in the request.
struct request_facts {
  const cache_control& directives;  // the client's Cache-Control (or Pragma: no-cache)
};

class route_policy {
public:
  virtual ~route_policy() = default;
  /// GET and HEAD requests of the route are looked up in and stored to the cache.
  virtual bool uses_cache() const noexcept = 0;
  /// A 200 must be a JSON page before it is accepted: one that is not is a bad answer
  /// (retried like one) and never stored.
  virtual bool requires_json() const noexcept = 0;
  /// How long `answer` may be stored for this route, or nullopt: not at all.
  virtual std::optional<std::chrono::seconds> lifetime(const answer_facts& answer, const request_facts& request,
                                                       const config::route_config& route) const = 0;
  /// How a stored entry may serve `request` at `now`: the entry's own freshness,
  /// made stale by the client's no-cache or a max-age it is older than.
  virtual freshness reuse(const entry& e, const request_facts& request, core::sys_time now) const;
};

/// The policy object for a configured policy.
const route_policy& policy_for(config::cache_policy kind) noexcept;

/// The freshness rules an entry of `route` is stored with.
freshness_rules rules_for(const config::route_config& route, std::chrono::seconds lifetime,
                          std::chrono::seconds stale_if_error) noexcept;

}  // namespace pcproxy::cache
