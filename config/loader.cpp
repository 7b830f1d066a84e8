#include "config/loader.hpp"

#include "core/text.hpp"

#include <boost/program_options.hpp>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <fstream>
#include <map>
#include <span>
#include <sstream>
#include <thread>
#include <type_traits>
#include <unistd.h>

#ifndef PCPROXY_VERSION
#define PCPROXY_VERSION "0.0.0"
#endif

namespace pcproxy::config {

config_error::config_error(std::vector<std::string> problems)
    : std::runtime_error(problems.empty() ? "invalid configuration" : problems.front()),
      problems_(std::move(problems)) {}

namespace {

using json_writer = rapidjson::PrettyWriter<rapidjson::StringBuffer>;

using core::quoted;

std::string describe(const rapidjson::Value& v) {
  if (v.IsString()) return quoted(v.GetString());
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return buf.GetString();
}

// ---- typed value readers: JSON value or text (env, flags) -> field ----

bool read_json(const rapidjson::Value& v, std::string& out, std::string& why) {
  if (!v.IsString()) return why = "expected a string, got " + describe(v), false;
  out.assign(v.GetString(), v.GetStringLength());
  return true;
}
bool read_text(std::string_view s, std::string& out, std::string&) {
  out = s;
  return true;
}

bool read_json(const rapidjson::Value& v, bool& out, std::string& why) {
  if (!v.IsBool()) return why = "expected true or false, got " + describe(v), false;
  out = v.GetBool();
  return true;
}
bool read_text(std::string_view s, bool& out, std::string& why) {
  if (s == "true" || s == "1") return out = true, true;
  if (s == "false" || s == "0") return out = false, true;
  return why = quoted(s) + " is not true or false", false;
}

bool read_json(const rapidjson::Value& v, std::int64_t& out, std::string& why) {
  if (!v.IsInt64()) return why = "expected an integer, got " + describe(v), false;
  out = v.GetInt64();
  return true;
}
bool read_text(std::string_view s, std::int64_t& out, std::string& why) {
  const auto n = core::parse_number<std::int64_t>(s);
  if (!n) return why = quoted(s) + " is not an integer", false;
  out = *n;
  return true;
}

bool read_json(const rapidjson::Value& v, double& out, std::string& why) {
  if (!v.IsNumber()) return why = "expected a number, got " + describe(v), false;
  out = v.GetDouble();
  return true;
}
bool read_text(std::string_view s, double& out, std::string& why) {
  const auto n = core::parse_number<double>(s);
  if (!n) return why = quoted(s) + " is not a number", false;
  out = *n;
  return true;
}

bool read_text(std::string_view s, cache_scope& out, std::string& why) {
  if (s == "credential") return out = cache_scope::credential, true;
  if (s == "tenant") return out = cache_scope::tenant, true;
  return why = quoted(s) + " is not \"credential\" or \"tenant\"", false;
}
bool read_json(const rapidjson::Value& v, cache_scope& out, std::string& why) {
  std::string s;
  return read_json(v, s, why) && read_text(s, out, why);
}

bool read_text(std::string_view s, host_port& out, std::string& why) {
  auto parsed = parse_host_port(s);
  if (!parsed) return why = quoted(s) + " is not HOST:PORT", false;
  out = std::move(*parsed);
  return true;
}

bool read_text(std::string_view s, origin& out, std::string& why) {
  auto parsed = parse_origin(s, why);
  if (!parsed) return false;
  out = std::move(*parsed);
  return true;
}

// "" switches the shared tier off.
bool read_text(std::string_view s, std::optional<redis_url>& out, std::string& why) {
  if (s.empty()) return out.reset(), true;
  auto parsed = parse_redis_url(s, why);
  if (!parsed) return false;
  out = std::move(*parsed);
  return true;
}

bool read_text(std::string_view s, auth_mode& out, std::string& why) {
  for (auto m : {auth_mode::none, auth_mode::token_file, auth_mode::refresh_token})
    if (s == to_string(m)) return out = m, true;
  return why = quoted(s) + " is not one of none, token_file, refresh_token", false;
}

bool read_text(std::string_view s, log_format& out, std::string& why) {
  if (s == "json") return out = log_format::json, true;
  if (s == "text") return out = log_format::text, true;
  return why = quoted(s) + " is not \"json\" or \"text\"", false;
}

bool read_text(std::string_view s, log_level& out, std::string& why) {
  for (auto level : {log_level::trace, log_level::debug, log_level::info, log_level::warn, log_level::error,
                     log_level::critical, log_level::off})
    if (s == to_string(level)) return out = level, true;
  return why = quoted(s) + " is not one of trace, debug, info, warn, error, critical, off", false;
}

// Values written as text in JSON too: a JSON string, read as the text form.
template <typename Value>
  requires std::is_same_v<Value, host_port> || std::is_same_v<Value, origin> || std::is_same_v<Value, log_format> ||
           std::is_same_v<Value, log_level> || std::is_same_v<Value, std::optional<redis_url>> ||
           std::is_same_v<Value, auth_mode>
bool read_json(const rapidjson::Value& v, Value& out, std::string& why) {
  std::string s;
  return read_json(v, s, why) && read_text(s, out, why);
}

// Arrays are parsed whole into a temporary: a half-read array never replaces a value.
bool read_json(const rapidjson::Value& v, std::vector<int>& out, std::string& why) {
  if (!v.IsArray()) return why = "expected an array of status codes, got " + describe(v), false;
  std::vector<int> parsed;
  for (const auto& item : v.GetArray()) {
    if (!item.IsInt()) return why = "expected status codes, got " + describe(item), false;
    parsed.push_back(item.GetInt());
  }
  out = std::move(parsed);
  return true;
}
// Text form: "408,429,500" (or the JSON array form).
bool read_text(std::string_view s, std::vector<int>& out, std::string& why) {
  std::vector<int> parsed;
  std::string text(s);
  std::erase_if(text, [](char c) { return c == '[' || c == ']' || c == ' '; });
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    std::int64_t n = 0;
    if (!read_text(item, n, why)) return why = quoted(s) + " is not a list of status codes", false;
    parsed.push_back(static_cast<int>(n));
  }
  out = std::move(parsed);
  return true;
}

bool read_json(const rapidjson::Value& v, std::vector<std::string>& out, std::string& why) {
  if (!v.IsArray()) return why = "expected an array of strings, got " + describe(v), false;
  std::vector<std::string> parsed;
  for (const auto& item : v.GetArray()) {
    if (!item.IsString()) return why = "expected strings, got " + describe(item), false;
    parsed.emplace_back(item.GetString(), item.GetStringLength());
  }
  out = std::move(parsed);
  return true;
}
// Text form: "GET,HEAD" (or the JSON array form).
bool read_text(std::string_view s, std::vector<std::string>& out, std::string&) {
  std::vector<std::string> parsed;
  std::string text(s);
  std::erase_if(text, [](char c) { return c == '[' || c == ']' || c == ' ' || c == '"'; });
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) parsed.push_back(item);
  out = std::move(parsed);
  return true;
}

bool read_policy(std::string_view s, cache_policy& out, std::string& why) {
  if (s == "cache") return out = cache_policy::cache, true;
  if (s == "pass") return out = cache_policy::pass, true;
  if (s == "http") return out = cache_policy::http, true;
  return why = quoted(s) + " is not one of cache, pass, http", false;
}

bool read_json(const rapidjson::Value& v, std::vector<route_config>& out, std::string& why) {
  if (!v.IsArray()) return why = "expected an array of routes, got " + describe(v), false;
  std::vector<route_config> parsed;
  for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
    const auto& r = v[i];
    const std::string at = "[" + std::to_string(i) + "]";
    if (!r.IsObject()) return why = at + ": expected an object, got " + describe(r), false;
    route_config route;  // keys left out keep route_config's defaults (ttl_s 3600)
    bool has_path = false;
    for (const auto& m : r.GetObject()) {
      const std::string_view key(m.name.GetString(), m.name.GetStringLength());
      std::string inner;
      bool ok = true;
      if (key == "path") {
        ok = read_json(m.value, route.path, inner);
        has_path = ok;
      } else if (key == "policy") {
        std::string p;
        ok = read_json(m.value, p, inner) && read_policy(p, route.policy, inner);
      } else if (key == "ttl_s") {
        ok = read_json(m.value, route.ttl_s, inner);
      } else if (key == "stale_while_revalidate_s") {
        ok = read_json(m.value, route.stale_while_revalidate_s, inner);
      } else if (key == "month_boundary") {
        ok = read_json(m.value, route.month_boundary, inner);
      } else if (key == "prefetch_next") {
        ok = read_json(m.value, route.prefetch_next, inner);
      } else {
        return why = at + "." + std::string(key) +
                     ": unknown key (known: path, policy, ttl_s, stale_while_revalidate_s, "
                     "month_boundary, prefetch_next)",
               false;
      }
      if (!ok) return why = at + "." + std::string(key) + ": " + inner, false;
    }
    if (!has_path) return why = at + ": every route needs a \"path\"", false;
    parsed.push_back(std::move(route));
  }
  out = std::move(parsed);
  return true;
}
// Text form (PCPROXY_ROUTES): the same JSON array.
bool read_text(std::string_view s, std::vector<route_config>& out, std::string& why) {
  rapidjson::Document doc;
  doc.Parse(s.data(), s.size());
  if (doc.HasParseError())
    return why = std::string("is not a JSON array of routes: ") +
                 rapidjson::GetParseError_En(doc.GetParseError()),
           false;
  return read_json(doc, out, why);
}

// ---- writers for --check-config ----

void write_value(json_writer& w, const std::string& v) { w.String(v.c_str()); }
void write_value(json_writer& w, bool v) { w.Bool(v); }
void write_value(json_writer& w, std::int64_t v) { w.Int64(v); }
void write_value(json_writer& w, double v) { w.Double(v); }
void write_value(json_writer& w, cache_scope v) { w.String(to_string(v)); }
void write_value(json_writer& w, log_format v) { w.String(to_string(v)); }
void write_value(json_writer& w, log_level v) { w.String(to_string(v)); }
void write_value(json_writer& w, auth_mode v) { w.String(to_string(v)); }
void write_value(json_writer& w, const host_port& v) { w.String(to_string(v).c_str()); }
void write_value(json_writer& w, const origin& v) { w.String(v.base_url.c_str()); }
void write_value(json_writer& w, const std::optional<redis_url>& v) { w.String(v ? to_string(*v).c_str() : ""); }
void write_value(json_writer& w, const std::vector<int>& v) {
  w.StartArray();
  for (int s : v) w.Int(s);
  w.EndArray();
}
void write_value(json_writer& w, const std::vector<std::string>& v) {
  w.StartArray();
  for (const auto& s : v) w.String(s.c_str());
  w.EndArray();
}
void write_value(json_writer& w, const std::vector<route_config>& routes) {
  w.StartArray();
  for (const auto& r : routes) {
    w.StartObject();
    w.Key("path");
    w.String(r.path.c_str());
    w.Key("policy");
    w.String(to_string(r.policy));
    w.Key("ttl_s");
    w.Int64(r.ttl_s);
    w.Key("stale_while_revalidate_s");
    w.Int64(r.stale_while_revalidate_s);
    w.Key("month_boundary");
    w.Bool(r.month_boundary);
    w.Key("prefetch_next");
    w.Bool(r.prefetch_next);
    w.EndObject();
  }
  w.EndArray();
}

// ---- the field table: one entry per configuration key ----

struct field {
  std::string_view path;
  std::function<bool(config&, const rapidjson::Value&, std::string&)> from_json;
  std::function<bool(config&, std::string_view, std::string&)> from_text;
  std::function<void(const config&, json_writer&)> write;
};

template <typename Access>
field make_field(std::string_view path, Access access) {
  return field{
      path,
      [access](config& c, const rapidjson::Value& v, std::string& why) {
        return read_json(v, access(c), why);
      },
      [access](config& c, std::string_view s, std::string& why) {
        return read_text(s, access(c), why);
      },
      [access](const config& c, json_writer& w) { write_value(w, access(c)); },
  };
}

// The key path is the member path, spelled once.
#define PCPROXY_FIELD(member) make_field(#member, [](auto& c) -> auto& { return c.member; })

const std::vector<field>& fields() {
  static const std::vector<field> all = {
      PCPROXY_FIELD(listen),
      PCPROXY_FIELD(admin_listen),
      PCPROXY_FIELD(public_base_url),
      PCPROXY_FIELD(threads),
      PCPROXY_FIELD(upstream.url),
      PCPROXY_FIELD(upstream.ca_file),
      PCPROXY_FIELD(upstream.tls_verify),
      PCPROXY_FIELD(upstream.token_file),
      PCPROXY_FIELD(upstream.connect_timeout_ms),
      PCPROXY_FIELD(upstream.try_timeout_ms),
      PCPROXY_FIELD(upstream.deadline_ms),
      PCPROXY_FIELD(upstream.max_connections),
      PCPROXY_FIELD(upstream.max_body_bytes),
      PCPROXY_FIELD(upstream.auth.mode),
      PCPROXY_FIELD(upstream.auth.tenant),
      PCPROXY_FIELD(upstream.auth.client_id),
      PCPROXY_FIELD(upstream.auth.client_secret_file),
      PCPROXY_FIELD(upstream.auth.refresh_token_file),
      PCPROXY_FIELD(upstream.auth.authority),
      PCPROXY_FIELD(upstream.auth.resource),
      PCPROXY_FIELD(retry.max_attempts),
      PCPROXY_FIELD(retry.base_delay_ms),
      PCPROXY_FIELD(retry.max_delay_ms),
      PCPROXY_FIELD(retry.max_retry_after_ms),
      PCPROXY_FIELD(retry.budget_ratio),
      PCPROXY_FIELD(retry.statuses),
      PCPROXY_FIELD(retry.methods),
      PCPROXY_FIELD(circuit.enabled),
      PCPROXY_FIELD(circuit.failure_threshold),
      PCPROXY_FIELD(circuit.open_ms),
      PCPROXY_FIELD(cache.max_bytes),
      PCPROXY_FIELD(cache.scope),
      PCPROXY_FIELD(cache.stale_if_error_s),
      PCPROXY_FIELD(cache.single_flight_wait_ms),
      PCPROXY_FIELD(cache.disk.path),
      PCPROXY_FIELD(cache.disk.max_bytes),
      PCPROXY_FIELD(cache.disk.encryption_key_file),
      PCPROXY_FIELD(cache.shared.url),
      PCPROXY_FIELD(cache.shared.password_file),
      PCPROXY_FIELD(cache.shared.ca_file),
      PCPROXY_FIELD(cache.shared.timeout_ms),
      PCPROXY_FIELD(cache.shared.key_prefix),
      PCPROXY_FIELD(cache.shared.lock_ms),
      PCPROXY_FIELD(routes),
      PCPROXY_FIELD(limits.max_header_bytes),
      PCPROXY_FIELD(limits.max_body_bytes),
      PCPROXY_FIELD(limits.max_connections),
      PCPROXY_FIELD(limits.header_timeout_ms),
      PCPROXY_FIELD(limits.idle_timeout_ms),
      PCPROXY_FIELD(limits.shutdown_grace_ms),
      PCPROXY_FIELD(limits.max_collection_items),
      PCPROXY_FIELD(limits.max_prefetches),
      PCPROXY_FIELD(admin.token_file),
      PCPROXY_FIELD(admin.not_ready_while_circuit_open),
      PCPROXY_FIELD(log.level),
      PCPROXY_FIELD(log.format),
      PCPROXY_FIELD(log.access),
  };
  return all;
}
#undef PCPROXY_FIELD

const field* find_field(std::string_view path) {
  for (const auto& f : fields())
    if (f.path == path) return &f;
  return nullptr;
}

bool is_section(std::string_view path) {
  const std::string prefix = std::string(path) + ".";
  return std::any_of(fields().begin(), fields().end(),
                     [&](const field& f) { return f.path.starts_with(prefix); });
}

std::string env_name(std::string_view path) {
  std::string name = "PCPROXY_";
  for (char c : path) name.push_back(c == '.' ? '_' : static_cast<char>(std::toupper(c)));
  return name;
}

// Where each key got its value, so a validation error can point at the right place.
using sources = std::map<std::string, std::string, std::less<>>;

void apply_json_object(config& c, const rapidjson::Value& obj, const std::string& prefix,
                       const std::string& file, sources& src, std::vector<std::string>& errors) {
  for (const auto& m : obj.GetObject()) {
    const std::string path = prefix + std::string(m.name.GetString(), m.name.GetStringLength());
    if (const auto* f = find_field(path)) {
      std::string why;
      if (f->from_json(c, m.value, why))
        src[path] = file;
      else
        errors.push_back(path + ": " + why + " (in " + file + ")");
    } else if (is_section(path)) {
      if (m.value.IsObject())
        apply_json_object(c, m.value, path + ".", file, src, errors);
      else
        errors.push_back(path + ": expected an object, got " + describe(m.value) + " (in " +
                         file + ")");
    } else {
      errors.push_back(path + ": unknown key (in " + file + "); see the configuration reference in README.md");
    }
  }
}

void apply_json_text(config& c, std::string_view text, const std::string& file, sources& src,
                     std::vector<std::string>& errors) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseCommentsFlag | rapidjson::kParseTrailingCommasFlag>(text.data(), text.size());
  if (doc.HasParseError()) {
    const auto offset = std::min(doc.GetErrorOffset(), text.size());
    const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(offset), '\n');
    errors.push_back("config: " + file + " line " + std::to_string(line) +
                     " is not valid JSON: " + rapidjson::GetParseError_En(doc.GetParseError()));
    return;
  }
  if (!doc.IsObject()) {
    errors.push_back("config: " + file + " must hold a JSON object");
    return;
  }
  apply_json_object(c, doc, "", file, src, errors);
}

void apply_file(config& c, const std::string& file, sources& src, std::vector<std::string>& errors) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    errors.push_back("config: cannot read " + quoted(file) + " (does it exist and is it readable?)");
    return;
  }
  std::stringstream buf;
  buf << in.rdbuf();
  apply_json_text(c, buf.str(), file, src, errors);
}

void apply_text(config& c, std::string_view path, std::string_view text, const std::string& origin,
                sources& src, std::vector<std::string>& errors) {
  const auto* f = find_field(path);
  std::string why;
  if (f->from_text(c, text, why))
    src[std::string(path)] = origin;
  else
    errors.push_back(std::string(path) + ": " + why + " (from " + origin + ")");
}

// Appends where a value came from to every message about it.
void attribute(std::vector<std::string>& problems, const sources& src) {
  for (auto& p : problems) {
    const auto colon = p.find(':');
    std::string_view path(p.data(), colon == std::string::npos ? 0 : colon);
    const auto bracket = path.find('[');
    if (bracket != std::string_view::npos) path = path.substr(0, bracket);
    if (auto it = src.find(path); it != src.end()) p += " (from " + it->second + ")";
  }
}

}  // namespace

std::vector<std::string> validate(const config& c) {
  std::vector<std::string> problems;
  auto check = [&](bool ok, std::string message) {
    if (!ok) problems.push_back(std::move(message));
  };
  auto positive = [&](std::string_view path, std::int64_t v) {
    check(v > 0, std::string(path) + ": " + std::to_string(v) + " must be greater than 0");
  };
  auto readable = [&](std::string_view path, const std::string& file) {
    if (!file.empty())
      check(::access(file.c_str(), R_OK) == 0,
            std::string(path) + ": cannot read " + quoted(file) + " (does it exist and is it readable?)");
  };

  check(c.listen != c.admin_listen || c.listen.port == 0,
        "admin_listen: must differ from listen (" + to_string(c.listen) + ")");
  if (!c.public_base_url.empty()) {
    const auto scheme_ok = c.public_base_url.starts_with("http://") || c.public_base_url.starts_with("https://");
    check(scheme_ok, "public_base_url: " + quoted(c.public_base_url) + " must start with https:// or http://");
  }
  check(c.threads >= 0 && c.threads <= 256,
        "threads: " + std::to_string(c.threads) + " must be between 0 (one per core) and 256");

  readable("upstream.ca_file", c.upstream.ca_file);
  readable("upstream.token_file", c.upstream.token_file);
  positive("upstream.connect_timeout_ms", c.upstream.connect_timeout_ms);
  positive("upstream.try_timeout_ms", c.upstream.try_timeout_ms);
  positive("upstream.deadline_ms", c.upstream.deadline_ms);
  positive("upstream.max_connections", c.upstream.max_connections);
  positive("upstream.max_body_bytes", c.upstream.max_body_bytes);
  const auto& auth = c.upstream.auth;
  if (auth.mode == auth_mode::token_file)
    check(!c.upstream.token_file.empty(), "upstream.auth.mode: token_file needs upstream.token_file");
  if (auth.mode == auth_mode::refresh_token) {
    check(!auth.tenant.empty(), "upstream.auth.tenant: refresh_token mode needs the partner's tenant (id or domain)");
    check(!auth.client_id.empty(), "upstream.auth.client_id: refresh_token mode needs the app's client id");
    check(!auth.client_secret_file.empty(), "upstream.auth.client_secret_file: refresh_token mode needs the app's secret in a file");
    check(!auth.refresh_token_file.empty(), "upstream.auth.refresh_token_file: refresh_token mode needs the refresh token in a file");
    check(auth.tenant.find_first_of("/?#% ") == std::string::npos,
          "upstream.auth.tenant: " + quoted(auth.tenant) + " is not a tenant id or domain");
    check(c.upstream.token_file.empty(),
          "upstream.token_file: set it or upstream.auth.mode refresh_token, not both");
  }
  readable("upstream.auth.client_secret_file", auth.client_secret_file);
  readable("upstream.auth.refresh_token_file", auth.refresh_token_file);

  check(c.retry.max_attempts >= 1 && c.retry.max_attempts <= 10,
        "retry.max_attempts: " + std::to_string(c.retry.max_attempts) +
            " must be between 1 (no retries) and 10");
  check(c.retry.base_delay_ms >= 0, "retry.base_delay_ms: must not be negative");
  check(c.retry.max_delay_ms >= c.retry.base_delay_ms,
        "retry.max_delay_ms: " + std::to_string(c.retry.max_delay_ms) +
            " must be at least retry.base_delay_ms (" + std::to_string(c.retry.base_delay_ms) + ")");
  check(c.retry.max_retry_after_ms >= 0, "retry.max_retry_after_ms: must not be negative");
  check(c.retry.budget_ratio >= 0.0 && c.retry.budget_ratio <= 1.0,
        "retry.budget_ratio: " + std::to_string(c.retry.budget_ratio) + " must be between 0 and 1");
  static constexpr std::array never_retried = {400, 401, 403, 404, 409, 412, 501, 505};
  for (int s : c.retry.statuses) {
    if (s < 400 || s > 599) {
      problems.push_back("retry.statuses: " + std::to_string(s) + " is not a 4xx or 5xx status");
    } else if (std::find(never_retried.begin(), never_retried.end(), s) != never_retried.end()) {
      problems.push_back("retry.statuses: " + std::to_string(s) +
                         " is never retried (the request would fail the same way again)");
    }
  }

  static constexpr std::array retryable_methods = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"};
  for (const auto& m : c.retry.methods)
    check(std::find(retryable_methods.begin(), retryable_methods.end(), m) != retryable_methods.end(),
          "retry.methods: " + quoted(m) + " is not an idempotent method (GET, HEAD, PUT, DELETE, OPTIONS)");

  positive("circuit.failure_threshold", c.circuit.failure_threshold);
  positive("circuit.open_ms", c.circuit.open_ms);

  check(c.cache.max_bytes >= 0, "cache.max_bytes: must not be negative (0 disables storing)");
  check(c.cache.stale_if_error_s >= 0, "cache.stale_if_error_s: must not be negative");
  check(c.cache.single_flight_wait_ms >= 0, "cache.single_flight_wait_ms: must not be negative");
  if (!c.cache.disk.path.empty())
    positive("cache.disk.max_bytes", c.cache.disk.max_bytes);
  readable("cache.disk.encryption_key_file", c.cache.disk.encryption_key_file);
  readable("cache.shared.password_file", c.cache.shared.password_file);
  readable("cache.shared.ca_file", c.cache.shared.ca_file);
  positive("cache.shared.timeout_ms", c.cache.shared.timeout_ms);
  positive("cache.shared.lock_ms", c.cache.shared.lock_ms);
  check(!c.cache.shared.key_prefix.empty() && c.cache.shared.key_prefix.size() <= 64,
        "cache.shared.key_prefix: must be 1 to 64 characters (keys from several fleets must not mix)");

  for (std::size_t i = 0; i < c.routes.size(); ++i) {
    const auto& r = c.routes[i];
    const std::string at = "routes[" + std::to_string(i) + "]";
    const auto star = r.path.find('*');
    check(r.path.starts_with('/'), at + ".path: " + quoted(r.path) + " must start with /");
    check(star == std::string::npos || star == r.path.size() - 1,
          at + ".path: " + quoted(r.path) + " may contain * only at the end (prefix match)");
    check(r.ttl_s >= 0, at + ".ttl_s: must not be negative");
    check(r.stale_while_revalidate_s >= 0, at + ".stale_while_revalidate_s: must not be negative");
  }

  positive("limits.max_header_bytes", c.limits.max_header_bytes);
  check(c.limits.max_header_bytes <= 1048576,
        "limits.max_header_bytes: " + std::to_string(c.limits.max_header_bytes) +
            " is above the 1 MiB ceiling");
  check(c.limits.max_body_bytes >= 0, "limits.max_body_bytes: must not be negative");
  positive("limits.max_connections", c.limits.max_connections);
  positive("limits.header_timeout_ms", c.limits.header_timeout_ms);
  positive("limits.idle_timeout_ms", c.limits.idle_timeout_ms);
  check(c.limits.shutdown_grace_ms >= 0, "limits.shutdown_grace_ms: must not be negative");
  positive("limits.max_collection_items", c.limits.max_collection_items);
  check(c.limits.max_prefetches >= 0, "limits.max_prefetches: must not be negative (0 turns prefetching off)");

  readable("admin.token_file", c.admin.token_file);

  return problems;
}

std::string to_json(const config& c) {
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  w.SetIndent(' ', 2);
  w.StartObject();
  // Fields come grouped by section ("cache.disk.path" after "cache.max_bytes"): keep a
  // stack of the open sections and close or open objects as the path changes.
  std::vector<std::string_view> open;
  for (const auto& f : fields()) {
    std::vector<std::string_view> parts;
    for (std::string_view rest = f.path;;) {
      const auto dot = rest.find('.');
      parts.push_back(rest.substr(0, dot));
      if (dot == std::string_view::npos) break;
      rest.remove_prefix(dot + 1);
    }
    const std::span sections(parts.data(), parts.size() - 1);
    std::size_t shared = 0;
    while (shared < open.size() && shared < sections.size() && open[shared] == sections[shared]) ++shared;
    for (; open.size() > shared; open.pop_back()) w.EndObject();
    for (; open.size() < sections.size(); open.push_back(sections[open.size()])) {
      w.Key(sections[open.size()].data(), static_cast<rapidjson::SizeType>(sections[open.size()].size()));
      w.StartObject();
    }
    w.Key(parts.back().data(), static_cast<rapidjson::SizeType>(parts.back().size()));
    f.write(c, w);
  }
  for (; !open.empty(); open.pop_back()) w.EndObject();
  w.EndObject();
  return buf.GetString();
}

unsigned io_threads(const config& c) {
  return c.threads > 0 ? static_cast<unsigned>(c.threads) : std::max(1u, std::thread::hardware_concurrency());
}

std::vector<std::string> changed_keys(const config& a, const config& b) {
  std::vector<std::string> changed;
  for (const auto& f : fields()) {
    rapidjson::StringBuffer left_buf, right_buf;
    json_writer left(left_buf), right(right_buf);
    f.write(a, left);
    f.write(b, right);
    if (std::string_view(left_buf.GetString()) != std::string_view(right_buf.GetString()))
      changed.emplace_back(f.path);
  }
  return changed;
}

env_lookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    if (const char* v = std::getenv(name.c_str())) return std::string(v);
    return std::nullopt;
  };
}

command_line load(int argc, const char* const* argv, const env_lookup& env) {
  namespace po = boost::program_options;
  po::options_description flags("Options");
  // clang-format off
  flags.add_options()
    ("config", po::value<std::string>(), "JSON configuration file (env PCPROXY_CONFIG)")
    ("listen", po::value<std::string>(), "HOST:PORT for clients (listen)")
    ("admin-listen", po::value<std::string>(), "HOST:PORT for /healthz, /readyz, /metrics, /admin (admin_listen)")
    ("upstream", po::value<std::string>(), "upstream origin, e.g. https://api.partnercenter.microsoft.com (upstream.url)")
    ("upstream-ca-file", po::value<std::string>(), "extra CA certificates (PEM) to trust for the upstream (upstream.ca_file)")
    ("log-level", po::value<std::string>(), "trace, debug, info, warn, error, critical or off (log.level)")
    ("cache-disk-path", po::value<std::string>(), "directory of the persistent cache tier; \"\" = off (cache.disk.path)")
    ("check-config", "validate, print the effective configuration, exit")
    ("probe", po::value<std::string>(), "GET an http:// URL (e.g. http://127.0.0.1:9090/healthz) and exit 0 on a 2xx: for container health checks")
    ("help,h", "show this help and exit")
    ("version", "print the version and exit");
  // clang-format on

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(flags).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw config_error({std::string("command line: ") + e.what() + " (see --help)"});
  }

  command_line out;
  if (vm.count("help")) {
    std::ostringstream text;
    text << "pcproxy " PCPROXY_VERSION
            " - caching reverse proxy for the Microsoft Partner Center API\n\n"
            "Usage: pcproxy [--config FILE] [options]\n"
            "       pcproxy export PATH --output FILE [--format json|ndjson|csv] [...]   (pcproxy export --help)\n\n"
         << flags
         << "\nEvery configuration key can also be set as PCPROXY_<KEY PATH> in the environment\n"
            "(e.g. PCPROXY_UPSTREAM_URL, PCPROXY_CACHE_MAX_BYTES). Precedence: flags > environment >\n"
            "file > defaults. See README.md for the configuration reference.\n";
    out.what = action::help;
    out.help_text = text.str();
    return out;
  }
  if (vm.count("version")) {
    out.what = action::version;
    return out;
  }
  if (vm.count("probe")) {
    out.what = action::probe;
    out.probe_url = vm["probe"].as<std::string>();
    return out;
  }

  std::vector<std::string> errors;
  sources src;
  config& c = out.settings;

  std::string file;
  if (vm.count("config"))
    file = vm["config"].as<std::string>();
  else if (auto v = env("PCPROXY_CONFIG"))
    file = *v;
  if (!file.empty()) apply_file(c, file, src, errors);

  for (const auto& f : fields()) {
    const std::string name = env_name(f.path);
    if (auto v = env(name)) apply_text(c, f.path, *v, name, src, errors);
  }

  static constexpr std::array<std::pair<const char*, std::string_view>, 6> cli = {{
      {"listen", "listen"},
      {"admin-listen", "admin_listen"},
      {"upstream", "upstream.url"},
      {"upstream-ca-file", "upstream.ca_file"},
      {"log-level", "log.level"},
      {"cache-disk-path", "cache.disk.path"},
  }};
  for (const auto& [flag, path] : cli)
    if (vm.count(flag))
      apply_text(c, path, vm[flag].as<std::string>(), std::string("--") + flag, src, errors);

  // Values that failed to parse kept their defaults, so validating the rest still
  // finds real problems: the operator sees everything in one run.
  auto problems = validate(c);
  attribute(problems, src);
  errors.insert(errors.end(), problems.begin(), problems.end());
  if (!errors.empty()) throw config_error(std::move(errors));
  if (vm.count("check-config")) out.what = action::check_config;
  return out;
}

config from_json(std::string_view text) {
  std::vector<std::string> errors;
  sources src;
  config c;
  apply_json_text(c, text, "the JSON document", src, errors);
  auto problems = validate(c);
  attribute(problems, src);
  errors.insert(errors.end(), problems.begin(), problems.end());
  if (!errors.empty()) throw config_error(std::move(errors));
  return c;
}

}  // namespace pcproxy::config
