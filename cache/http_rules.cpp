#include "cache/http_rules.hpp"

#include "core/http_date.hpp"
#include "core/text.hpp"

#include <algorithm>
#include <cctype>

namespace pcproxy::cache {

using std::chrono::seconds;

namespace {

// The heuristic share of the time since Last-Modified (§4.2.2), and its cap.
constexpr int heuristic_percent = 10;
constexpr seconds heuristic_cap{86400};

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The value of a field that must appear once: nullopt when absent, "" marks lines that
// disagree (two Expires with different values are as good as an invalid one).
std::optional<std::string> single_field(const header_list& headers, std::string_view name) {
  std::optional<std::string> out;
  for (const auto& h : headers) {
    if (!core::iequals(h.name, name)) continue;
    const auto value = std::string(core::trim(h.value));
    if (out && *out != value) return std::string{};
    out = value;
  }
  return out;
}

}  // namespace

std::string combined_field(const header_list& headers, std::string_view name) {
  std::string out;
  for (const auto& h : headers) {
    if (!core::iequals(h.name, name)) continue;
    if (!out.empty()) out += ", ";
    out += h.value;
  }
  return out;
}

cache_control response_cache_control(const header_list& headers) {
  return parse_cache_control(combined_field(headers, "Cache-Control"));
}

bool heuristically_cacheable(unsigned status) noexcept {
  switch (status) {
    case 200: case 203: case 204: case 206: case 300: case 301: case 308: case 404: case 405: case 410: case 414:
    case 501:
      return true;
    default:
      return false;
  }
}

namespace {

// The Date field's instant, or `otherwise` when it is missing or not a date (§4.2.1
// then counts from when the response arrived).
core::sys_time date_or(const header_list& headers, core::sys_time otherwise) {
  if (const auto text = single_field(headers, "Date"))
    if (const auto date = core::parse_http_date(*text)) return *date;
  return otherwise;
}

}  // namespace

seconds freshness_lifetime(const header_list& headers, unsigned status, core::sys_time response_time) {
  const auto cc = response_cache_control(headers);
  if (cc.invalid_lifetime) return seconds{0};
  if (cc.s_maxage) return *cc.s_maxage;
  if (cc.max_age) return *cc.max_age;
  const auto base = date_or(headers, response_time);
  if (const auto expires_text = single_field(headers, "Expires")) {
    const auto expires = core::parse_http_date(*expires_text);
    if (!expires) return seconds{0};  // "0", a bad date: already expired
    return *expires > base ? std::chrono::floor<seconds>(*expires - base) : seconds{0};
  }
  if (!heuristically_cacheable(status)) return seconds{0};
  const auto modified_text = single_field(headers, "Last-Modified");
  if (!modified_text) return seconds{0};
  const auto modified = core::parse_http_date(*modified_text);
  if (!modified || *modified >= base) return seconds{0};
  const auto since = std::chrono::floor<seconds>(base - *modified);
  return std::min(heuristic_cap, since * heuristic_percent / 100);
}

seconds corrected_initial_age(const header_list& headers, core::sys_time request_time, core::sys_time response_time) {
  seconds apparent{0};
  if (const auto date_text = single_field(headers, "Date"))
    if (const auto date = core::parse_http_date(*date_text); date && response_time > *date)
      apparent = std::chrono::floor<seconds>(response_time - *date);
  seconds age_value{0};
  if (const auto age_text = single_field(headers, "Age"))
    if (const auto n = core::parse_number<long long>(*age_text); n && *n >= 0)
      age_value = seconds{std::min<long long>(*n, 2147483648LL)};
  const auto delay = response_time > request_time ? std::chrono::ceil<seconds>(response_time - request_time) : seconds{0};
  return std::max(apparent, age_value + delay);
}

std::optional<std::vector<std::string>> vary_names(const header_list& headers) {
  std::vector<std::string> names;
  const auto value = combined_field(headers, "Vary");
  std::string_view rest = value;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const auto token = core::trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    if (token.empty()) continue;
    if (token == "*") return std::nullopt;
    auto name = lowercase(token);
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(std::move(name));
  }
  return names;
}

header_list selecting_headers(const std::vector<std::string>& names, const header_list& request) {
  header_list out;
  for (const auto& name : names) {
    std::string folded;
    for (char c : combined_field(request, name)) {
      const bool space = c == ' ' || c == '\t';
      if (space && (folded.empty() || folded.back() == ' ')) continue;
      folded.push_back(space ? ' ' : c);
    }
    while (!folded.empty() && folded.back() == ' ') folded.pop_back();
    out.push_back({name, std::move(folded)});
  }
  return out;
}

std::vector<std::string> field_names(const header_list& headers) {
  std::vector<std::string> out;
  for (const auto& h : headers) out.push_back(h.name);
  return out;
}

header_list merge_updated_headers(const header_list& stored, const header_list& update) {
  const auto updates = [&](std::string_view name) {
    if (core::iequals(name, "Content-Length")) return false;
    return std::any_of(update.begin(), update.end(), [&](const header& h) { return core::iequals(h.name, name); });
  };
  header_list out;
  for (const auto& h : stored)
    if (!updates(h.name)) out.push_back(h);
  for (const auto& h : update)
    if (updates(h.name)) out.push_back(h);
  return out;
}

std::optional<http_storage> http_store(const http_exchange& x) {
  // §3: a final status this cache understands (partial content and 304 are not stored
  // as such; a 304 updates what is stored instead).
  if (x.status < 200 || x.status == 206 || x.status == 304 || x.status > 599) return std::nullopt;
  const auto cc = response_cache_control(x.response);
  if (x.request.no_store || cc.no_store || cc.private_) return std::nullopt;
  auto vary = vary_names(x.response);
  if (!vary) return std::nullopt;  // Vary: * matches no later request
  // §3.5: a request with Authorization is stored only when the answer says it may be shared.
  if (x.authorization_restricts && !cc.public_ && !cc.s_maxage && !cc.must_revalidate) return std::nullopt;

  http_storage out;
  out.lifetime = freshness_lifetime(x.response, x.status, x.response_time);
  out.initial_age = corrected_initial_age(x.response, x.request_time, x.response_time);
  out.must_revalidate = cc.must_revalidate || cc.proxy_revalidate || cc.s_maxage.has_value();
  out.no_cache = cc.no_cache;
  out.vary = std::move(*vary);
  // §3: something must allow storing: explicit freshness, public, or a status that is
  // cacheable by default. And it must be reusable: fresh for a while, or revalidatable.
  const bool explicit_freshness = cc.max_age || cc.s_maxage || cc.invalid_lifetime ||
                                  single_field(x.response, "Expires").has_value();
  if (!explicit_freshness && !cc.public_ && !heuristically_cacheable(x.status)) return std::nullopt;
  const bool validator = single_field(x.response, "ETag") || single_field(x.response, "Last-Modified");
  if (out.lifetime <= out.initial_age && !validator) return std::nullopt;
  return out;
}

}  // namespace pcproxy::cache
