#pragma once
// Cache scopes (DESIGN.md §2): whose entries a request may read and write. Credential
// scope hashes the whole Authorization value; tenant scope groups the bearer tokens of
// one Azure AD tenant (the JWT's tid claim). Claims are read, never trusted: the proxy
// lets a token read tenant entries only after upstream accepted it (proxy/token_verdicts).
// Thread-safety: free functions over values.
#include "core/clock.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace pcproxy::cache {

struct jwt_claims {
  std::string tenant_id;               // tid
  std::optional<core::sys_time> expires;  // exp
};

/// The claims of "Bearer <JWT>", or nullopt when the value is not a bearer JWT with a
/// tid claim. The signature is not checked.
std::optional<jwt_claims> read_jwt_claims(std::string_view authorization);

/// The scope id of a tenant: "t-" + hex of the first 16 bytes of SHA-256("tid:" + tid).
std::string tenant_scope(std::string_view tenant_id);

}  // namespace pcproxy::cache
