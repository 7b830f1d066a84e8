#pragma once
// Route policies (DESIGN.md §1, §4): per policy, whether requests go through the
// cache, which answers are stored and for how long, and how a stored entry may serve
// a request. One object per policy behind one interface, so adding a policy is one
// class here; the pipeline asks and never decides.
//   cache  Partner Center pages: 200 JSON pages stored for the route's ttl_s.
//   pass   never stored, never served from the cache.
//   http   RFC 9111 shared-cache rules (cache/http_rules.hpp).
// Thread-safety: the policies are immutable singletons; free functions over values.
#include "cache/entry.hpp"
#include "cache/freshness.hpp"
#include "config/config.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pcproxy::cache {

/// What a policy looks at in an upstream answer.
struct answer_facts {
  unsigned status = 0;
  const header_list& headers;
  core::sys_time request_time{};   // when the request went upstream
  core::sys_time response_time{};  // when the answer arrived
};

/// What a policy looks at in the request.
struct request_facts {
  const cache_control& directives;     // the client's Cache-Control (or Pragma: no-cache)
  bool authorization_restricts = false;  // RFC 9111 §3.5 applies (tenant scope)
};

/// How an answer is stored: what becomes the entry's freshness rules and Vary.
struct storage {
  std::chrono::seconds lifetime{0};
  std::chrono::seconds initial_age{0};
  bool must_revalidate = false;
  bool no_cache = false;
  std::vector<std::string> vary;  // lowercase names of the request headers that select it
};

class route_policy {
public:
  virtual ~route_policy() = default;
  /// GET and HEAD requests of the route are looked up in and stored to the cache.
  virtual bool uses_cache() const noexcept = 0;
  /// A 200 must be a JSON page before it is accepted: one that is not is a bad answer
  /// (retried like one) and never stored.
  virtual bool requires_json() const noexcept = 0;
  /// How `answer` is stored for this route, or nullopt: not at all.
  virtual std::optional<storage> store(const answer_facts& answer, const request_facts& request,
                                       const config::route_config& route) const = 0;
  /// RFC 9111's validation rules in full: a 304 updates the stored headers (§4.3.4),
  /// Last-Modified is a validator (If-Modified-Since), and a client's own conditions go
  /// upstream when nothing is stored (§4.3.2).
  virtual bool follows_rfc9111() const noexcept = 0;
  /// How a stored entry may serve `request` at `now`: the entry's own freshness, made
  /// stale by the client's no-cache, a max-age it is older than or a min-fresh it does
  /// not have left, and usable stale within a max-stale (never for must-revalidate).
  virtual freshness reuse(const entry& e, const request_facts& request, core::sys_time now) const;
};

/// The policy object for a configured policy.
const route_policy& policy_for(config::cache_policy kind) noexcept;

/// The freshness rules an entry of `route` is stored with.
freshness_rules rules_for(const config::route_config& route, const storage& how,
                          std::chrono::seconds stale_if_error) noexcept;

}  // namespace pcproxy::cache
