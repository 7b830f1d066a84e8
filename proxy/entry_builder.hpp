#pragma once
// The one place an upstream answer becomes a cache::entry, stored or only relayed: the
// end-to-end headers are kept (hop-by-hop, Connection-listed and per-exchange fields
// dropped), an absolute link to the upstream origin in the body is pointed at
// public_base_url (no other byte changes), and a stored entry's validator is sent as
// its ETag.
// Thread-safety: immutable after construction; build() from any thread.
#include "cache/entry.hpp"
#include "config/config.hpp"
#include "upstream/client.hpp"

#include <memory>
#include <string>

namespace pcproxy::proxy {

/// The end-to-end fields of an upstream answer, as an entry stores them.
cache::header_list end_to_end_headers(const beast::http::fields& fields);

class entry_builder {
public:
  explicit entry_builder(const config::config& settings);

  /// What the answer does not say itself.
  struct context {
    core::sys_time now{};
    std::string validator;  // "" for an answer that is not stored
    cache::freshness_rules rules;
    std::string scope;
    std::string path;
    std::string route;
    std::chrono::seconds initial_age{0};  // RFC 9111 §4.2.3
  };
  /// `headers`: end_to_end_headers() of the answer.
  std::shared_ptr<cache::entry> build(unsigned status, cache::header_list headers, std::string body,
                                      context ctx) const;

private:
  std::shared_ptr<const std::string> rewrite_links(std::string body) const;

  const std::string upstream_base_url_;
  const std::string public_base_url_;
};

}  // namespace pcproxy::proxy
