#include "config/config.hpp"

#include "core/text.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace pcproxy::config {

const char* to_string(cache_policy p) {
  switch (p) {
    case cache_policy::cache: return "cache";
    case cache_policy::pass: return "pass";
    case cache_policy::http: return "http";
  }
  return "pass";
}

const char* to_string(cache_scope s) { return s == cache_scope::tenant ? "tenant" : "credential"; }

const char* to_string(log_format f) { return f == log_format::text ? "text" : "json"; }

const char* to_string(log_level l) {
  switch (l) {
    case log_level::trace: return "trace";
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warn: return "warn";
    case log_level::error: return "error";
    case log_level::critical: return "critical";
    case log_level::off: return "off";
  }
  return "info";
}

const char* to_string(auth_mode m) {
  switch (m) {
    case auth_mode::none: return "none";
    case auth_mode::token_file: return "token_file";
    case auth_mode::refresh_token: return "refresh_token";
  }
  return "none";
}

auth_mode effective_auth_mode(const upstream_config& u) {
  return u.auth.mode == auth_mode::none && !u.token_file.empty() ? auth_mode::token_file : u.auth.mode;
}

std::string to_string(const host_port& a) {
  const bool v6 = a.host.find(':') != std::string::npos;
  return (v6 ? "[" + a.host + "]" : a.host) + ":" + std::to_string(a.port);
}

bool reloads_live(std::string_view path) {
  return std::any_of(live_keys.begin(), live_keys.end(), [&](std::string_view key) {
    return key.ends_with('.') ? path.starts_with(key) : path == key;
  });
}

namespace {

using core::quoted;

bool valid_port(std::string_view s, std::uint16_t& port) {
  const auto v = core::parse_number<std::uint16_t>(s);
  if (v) port = *v;
  return v.has_value();
}

bool valid_hostname(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  return std::all_of(host.begin(), host.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '.';
  });
}

}  // namespace

std::optional<host_port> parse_host_port(std::string_view text) {
  host_port out;
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (host.empty() || host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos)
      return std::nullopt;
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (!valid_hostname(host)) return std::nullopt;
  }
  if (!valid_port(port, out.port)) return std::nullopt;
  out.host = host;
  return out;
}

std::optional<origin> parse_origin(std::string_view url, std::string& why) {
  origin out;
  std::string_view rest;
  if (url.starts_with("https://")) {
    out.tls = true;
    out.port = 443;
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    out.tls = false;
    out.port = 80;
    rest = url.substr(7);
  } else {
    why = quoted(url) + " must start with https:// or http://";
    return std::nullopt;
  }
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos && rest.substr(slash) != "/") {
    why = quoted(url) + " must be an origin (scheme://host[:port]) without a path";
    return std::nullopt;
  }
  if (authority.find('@') != std::string_view::npos) {
    why = quoted(url) + " must not carry credentials; use upstream.token_file";
    return std::nullopt;
  }
  if (authority.find_first_of("?#") != std::string_view::npos) {
    why = quoted(url) + " must not carry a query or fragment";
    return std::nullopt;
  }
  const bool bracketed = authority.starts_with('[');
  const auto colon = authority.rfind(':');
  const bool has_port = colon != std::string_view::npos && (!bracketed || colon > authority.find(']'));
  std::string_view host = has_port ? authority.substr(0, colon) : authority;
  if (has_port && !valid_port(authority.substr(colon + 1), out.port)) {
    why = quoted(url) + " has an invalid port";
    return std::nullopt;
  }
  if (bracketed) {
    if (!host.ends_with(']')) {
      why = quoted(url) + " has an unterminated IPv6 address";
      return std::nullopt;
    }
    out.host = host.substr(1, host.size() - 2);
  } else {
    if (!valid_hostname(host)) {
      why = quoted(url) + " has an invalid host name";
      return std::nullopt;
    }
    out.host = host;
  }
  const bool default_port = out.port == (out.tls ? 443 : 80);
  out.authority = std::string(host) + (default_port ? "" : ":" + std::to_string(out.port));
  out.base_url = (out.tls ? "https://" : "http://") + out.authority;
  return out;
}

std::optional<redis_url> parse_redis_url(std::string_view url, std::string& why) {
  redis_url out;
  std::string_view rest;
  if (url.starts_with("rediss://")) {
    out.tls = true;
    rest = url.substr(9);
  } else if (url.starts_with("redis://")) {
    rest = url.substr(8);
  } else {
    why = quoted(url) + " must start with redis:// or rediss://";
    return std::nullopt;
  }
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    const auto userinfo = rest.substr(0, at);
    const auto colon = userinfo.find(':');
    out.user = userinfo.substr(0, colon);
    if (colon != std::string_view::npos) out.password = userinfo.substr(colon + 1);
    rest.remove_prefix(at + 1);
  }
  const auto slash = rest.find('/');
  const auto authority = rest.substr(0, slash);
  if (slash != std::string_view::npos && slash + 1 < rest.size()) {
    const auto db = core::parse_number<unsigned>(rest.substr(slash + 1));
    if (!db || *db > 15) {
      why = quoted(url) + " names database " + quoted(rest.substr(slash + 1)) + "; use a number from 0 to 15";
      return std::nullopt;
    }
    out.db = *db;
  }
  const bool bracketed = authority.starts_with('[');
  const auto colon = authority.rfind(':');
  const bool has_port = colon != std::string_view::npos && (!bracketed || colon > authority.find(']'));
  auto host = has_port ? authority.substr(0, colon) : authority;
  if (has_port && !valid_port(authority.substr(colon + 1), out.port)) {
    why = quoted(url) + " has an invalid port";
    return std::nullopt;
  }
  if (bracketed && host.size() > 2 && host.ends_with(']')) host = host.substr(1, host.size() - 2);
  if (!bracketed && !valid_hostname(host)) {
    why = quoted(url) + " has an invalid host name";
    return std::nullopt;
  }
  out.host = host;
  return out;
}

std::string to_string(const redis_url& u) {
  std::string out = u.tls ? "rediss://" : "redis://";
  if (!u.user.empty() || !u.password.empty()) out += u.user + (u.password.empty() ? "" : ":***") + "@";
  out += u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
  return out + ":" + std::to_string(u.port) + "/" + std::to_string(u.db);
}

origin origin_of(std::string_view url) {
  std::string why;
  auto parsed = parse_origin(url, why);
  if (!parsed) throw std::invalid_argument(why);
  return std::move(*parsed);
}

}  // namespace pcproxy::config
