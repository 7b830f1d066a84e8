#include "upstream/headers.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/rfc7230.hpp>

#include <array>

namespace pcproxy::upstream {

bool is_hop_by_hop(std::string_view name) {
  static constexpr std::array<std::string_view, 11> hop = {
      "connection", "keep-alive",        "proxy-connection", "proxy-authenticate",
      "proxy-authorization", "te",       "trailer",          "transfer-encoding",
      "upgrade",    "content-length",    "expect"};
  for (auto h : hop)
    if (boost::beast::iequals(name, h)) return true;
  return false;
}

bool named_in_connection(const boost::beast::http::fields& fields, std::string_view name) {
  const auto it = fields.find(boost::beast::http::field::connection);
  if (it == fields.end()) return false;
  for (const auto token : boost::beast::http::token_list{it->value()})
    if (boost::beast::iequals(token, name)) return true;
  return false;
}

}  // namespace pcproxy::upstream
