#include "cache/scope.hpp"

#include "core/sha256.hpp"

#include <rapidjson/document.h>

#include <array>
#include <cmath>

namespace pcproxy::cache {
namespace {

// base64url without padding (RFC 7515 §2); nullopt on any invalid character.
std::optional<std::string> base64url_decode(std::string_view in) {
  static const std::array<int, 256> table = [] {
    std::array<int, 256> t{};
    t.fill(-1);
    const std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (std::size_t i = 0; i < alphabet.size(); ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<int>(i);
    return t;
  }();
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  std::string out;
  out.reserve(in.size() * 3 / 4);
  unsigned buffer = 0;
  int bits = 0;
  for (char c : in) {
    const int v = table[static_cast<unsigned char>(c)];
    if (v < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return out;
}

}  // namespace

std::optional<jwt_claims> read_jwt_claims(std::string_view authorization) {
  constexpr std::string_view scheme = "Bearer ";
  if (authorization.size() <= scheme.size() ||
      !(authorization.starts_with(scheme) || authorization.starts_with("bearer ")))
    return std::nullopt;
  const auto token = authorization.substr(scheme.size());
  const auto first_dot = token.find('.');
  const auto second_dot = first_dot == std::string_view::npos ? first_dot : token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos || token.find('.', second_dot + 1) != std::string_view::npos)
    return std::nullopt;
  const auto payload = base64url_decode(token.substr(first_dot + 1, second_dot - first_dot - 1));
  if (!payload) return std::nullopt;
  rapidjson::Document doc;
  doc.Parse(payload->data(), payload->size());
  if (doc.HasParseError() || !doc.IsObject()) return std::nullopt;
  const auto tid = doc.FindMember("tid");
  if (tid == doc.MemberEnd() || !tid->value.IsString() || tid->value.GetStringLength() == 0) return std::nullopt;
  jwt_claims claims;
  claims.tenant_id.assign(tid->value.GetString(), tid->value.GetStringLength());
  if (const auto exp = doc.FindMember("exp"); exp != doc.MemberEnd() && exp->value.IsNumber()) {
    const double seconds = exp->value.GetDouble();
    if (std::isfinite(seconds) && seconds > 0 && seconds < 1e11)
      claims.expires = core::sys_time{std::chrono::seconds(static_cast<long long>(seconds))};
  }
  return claims;
}

std::string tenant_scope(std::string_view tenant_id) {
  return "t-" + core::to_hex(core::sha256("tid:" + std::string(tenant_id)), 16);
}

}  // namespace pcproxy::cache
