#pragma once
// Which header fields cross the proxy (DESIGN.md §7): hop-by-hop fields (RFC 9110
// §7.6.1), fields named in Connection, and the framing fields pcproxy recomputes never
// do. Thread-safety: free functions.
#include <boost/beast/http/fields.hpp>

#include <string_view>

namespace pcproxy::upstream {

/// True for fields that describe one connection or one message's framing.
bool is_hop_by_hop(std::string_view name);

/// Copies the end-to-end fields of `from` into `to`: skips hop-by-hop fields, every
/// field that `from`'s Connection header names, and any field for which
/// `skip(name)` is true.
template <typename Skip>
void copy_end_to_end(const boost::beast::http::fields& from, boost::beast::http::fields& to,
                     Skip skip);

bool named_in_connection(const boost::beast::http::fields& fields, std::string_view name);

template <typename Skip>
void copy_end_to_end(const boost::beast::http::fields& from, boost::beast::http::fields& to,
                     Skip skip) {
  for (const auto& f : from) {
    const auto name = f.name_string();
    if (is_hop_by_hop(name) || skip(name) || named_in_connection(from, name)) continue;
    to.insert(f.name(), name, f.value());
  }
}

}  // namespace pcproxy::upstream
