#pragma once
// Cache keys (DESIGN.md §3): scope + method + path + normalised query +
// MS-ContinuationToken + Accept + X-Locale, hashed with SHA-256 so that neither a
// credential nor a continuation token is ever held in the index.
// Thread-safety: free functions over values.
#include "cache/entry.hpp"
#include "core/sha256.hpp"

#include <cstring>
#include <functional>
#include <string>
#include <string_view>

namespace pcproxy::cache {

struct cache_key {
  core::sha256_digest digest{};
  friend bool operator==(const cache_key&, const cache_key&) = default;
};

struct cache_key_hash {
  std::size_t operator()(const cache_key& k) const noexcept {
    std::size_t h;  // the digest is uniformly distributed: any 8 bytes will do
    std::memcpy(&h, k.digest.data(), sizeof h);
    return h;
  }
};

/// What identifies one stored page. `scope` is a scope id (see credential_scope),
/// never a raw credential.
struct key_inputs {
  std::string_view scope;
  std::string_view method;  // GET (HEAD looks up the GET entry)
  std::string_view path;
  std::string_view query;   // raw, without '?'
  std::string_view continuation_token;
  std::string_view accept;
  std::string_view locale;
};

cache_key derive_key(const key_inputs& in);

/// The key of one variant of a response that varies (RFC 9111 §4.1): the primary key
/// and the values of the request headers its Vary names. The primary key holds the
/// variant stored last, which says what its Vary names.
cache_key variant_key(const cache_key& primary, const header_list& selecting);

/// The query with parameters percent-decoded ('+' as space), sorted by name then value,
/// and re-encoded canonically, so `b=2&a=1` and `a=%31&b=2` give the same key.
std::string normalise_query(std::string_view raw);

/// Percent-decoding as the key uses it: %XX decoded, '+' as space, a stray '%' kept.
std::string percent_decode(std::string_view s);

/// The scope id of a credential: "c-" + hex of the first 16 bytes of SHA-256(value).
/// Shown in admin output and usable to purge; the credential cannot be recovered.
std::string credential_scope(std::string_view authorization);

/// The scope id of the access tokens pcproxy redeems itself (upstream.auth.mode
/// refresh_token): "a-" + hex of SHA-256 of the tenant and the app's client id. It stays
/// the same as the hourly tokens rotate, and no Authorization a client sends maps to it.
std::string app_scope(std::string_view tenant, std::string_view client_id);

}  // namespace pcproxy::cache
