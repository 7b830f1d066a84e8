#include "cache/key.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>
#include <vector>

namespace pcproxy::cache {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void percent_encode(std::string& out, std::string_view s) {
  static constexpr char digits[] = "0123456789ABCDEF";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(digits[c >> 4]);
      out.push_back(digits[c & 0x0f]);
    }
  }
}

// Length-prefixed, so no choice of field contents can make two keys collide.
void append_field(std::string& out, std::string_view field) {
  out += std::to_string(field.size());
  out.push_back(':');
  out += field;
}

}  // namespace

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
               hex_value(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);  // a stray '%' stays literal
    }
  }
  return out;
}

std::string normalise_query(std::string_view raw) {
  std::vector<std::pair<std::string, std::string>> params;
  while (!raw.empty()) {
    const auto amp = raw.find('&');
    const std::string_view piece = raw.substr(0, amp);
    raw = amp == std::string_view::npos ? std::string_view{} : raw.substr(amp + 1);
    if (piece.empty()) continue;
    const auto eq = piece.find('=');
    params.emplace_back(percent_decode(piece.substr(0, eq)),
                        eq == std::string_view::npos ? std::string{} : percent_decode(piece.substr(eq + 1)));
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out.push_back('&');
    percent_encode(out, name);
    out.push_back('=');
    percent_encode(out, value);
  }
  return out;
}

cache_key derive_key(const key_inputs& in) {
  std::string canonical;
  canonical.reserve(64 + in.scope.size() + in.path.size() + in.query.size() +
                    in.continuation_token.size() + in.accept.size() + in.locale.size());
  append_field(canonical, in.scope);
  append_field(canonical, in.method);
  append_field(canonical, in.path);
  append_field(canonical, in.query.empty() ? std::string{} : normalise_query(in.query));
  append_field(canonical, in.continuation_token);
  append_field(canonical, in.accept);
  append_field(canonical, in.locale);
  return cache_key{core::sha256(canonical)};
}

cache_key variant_key(const cache_key& primary, const header_list& selecting) {
  std::string canonical(reinterpret_cast<const char*>(primary.digest.data()), primary.digest.size());
  append_field(canonical, "vary");
  for (const auto& h : selecting) {
    append_field(canonical, h.name);
    append_field(canonical, h.value);
  }
  return cache_key{core::sha256(canonical)};
}

std::string app_scope(std::string_view tenant, std::string_view client_id) {
  return "a-" + core::to_hex(core::sha256("app:" + std::string(tenant) + "\n" + std::string(client_id)), 16);
}

std::string credential_scope(std::string_view authorization) {
  // Callers send the same token for an hour: remember recent ones per thread (the whole
  // value is compared, so two credentials never share a slot's scope).
  struct slot {
    std::string authorization;
    std::string scope;
  };
  thread_local std::array<slot, 64> recent;
  auto& s = recent[std::hash<std::string_view>{}(authorization) % recent.size()];
  if (s.scope.empty() || s.authorization != authorization) {
    s.authorization.assign(authorization);
    s.scope = "c-" + core::to_hex(core::sha256(authorization), 16);
  }
  return s.scope;
}

}  // namespace pcproxy::cache
