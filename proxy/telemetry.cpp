#include "proxy/telemetry.hpp"

#include "core/json_text.hpp"

#include <array>
#include <charconv>

namespace pcproxy::proxy {

namespace {

constexpr std::array<std::string_view, 8> methods = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"};
constexpr std::array<std::string_view, 5> classes = {"1xx", "2xx", "3xx", "4xx", "5xx"};
constexpr std::array<cache_result, 5> results = {cache_result::hit, cache_result::miss, cache_result::stale,
                                                 cache_result::revalidated, cache_result::bypass};
constexpr std::array<std::string_view, 12> outcomes = {"1xx", "2xx", "3xx", "4xx", "5xx", "connect", "tls",
                                                        "timeout", "deadline", "connection_lost", "bad_response",
                                                        "too_large"};

std::size_t method_index(std::string_view m) {
  for (std::size_t i = 0; i + 1 < methods.size(); ++i)
    if (methods[i] == m) return i;
  return methods.size() - 1;
}
std::size_t class_index(unsigned status) { return status >= 100 && status < 600 ? status / 100 - 1 : 4; }
std::size_t result_index(cache_result r) { return static_cast<std::size_t>(r); }
std::size_t request_cell(std::size_t m, std::size_t c, std::size_t r) {
  return (m * classes.size() + c) * results.size() + r;
}
std::size_t outcome_index(const upstream::attempt_record& a) {
  if (a.status != 0) return class_index(a.status);
  switch (a.error) {
    case upstream::failure::connect: return 5;
    case upstream::failure::tls: return 6;
    case upstream::failure::timeout: return 7;
    case upstream::failure::deadline: return 8;
    case upstream::failure::connection_lost: return 9;
    case upstream::failure::bad_response: return 10;
    default: return 11;
  }
}

double seconds(std::chrono::microseconds us) { return static_cast<double>(us.count()) / 1e6; }

// Milliseconds with three decimals, from whole microseconds (no floating point).
void append_millis(std::string& out, std::chrono::microseconds us) {
  const auto v = us.count() < 0 ? 0 : us.count();
  char buf[32];
  auto end = std::to_chars(buf, buf + sizeof buf, v / 1000).ptr;
  *end++ = '.';
  const auto frac = v % 1000;
  *end++ = static_cast<char>('0' + frac / 100);
  *end++ = static_cast<char>('0' + frac / 10 % 10);
  *end++ = static_cast<char>('0' + frac % 10);
  out.append(buf, end);
}

std::string millis(std::chrono::microseconds us) {
  std::string out;
  append_millis(out, us);
  return out;
}

std::chrono::microseconds upstream_time(const request_record& r) {
  std::chrono::microseconds sum{0};
  for (const auto& a : r.attempts) sum += a.duration;
  return sum;
}

}  // namespace

traffic_metrics::route_row::route_row(std::string p)
    : path(std::move(p)),
      requests(methods.size() * classes.size() * results.size()),
      duration(1, core::histogram_array::latency_bounds()) {}

traffic_metrics::traffic_metrics()
    : attempts_(outcomes.size()), upstream_latency_(1, core::histogram_array::latency_bounds()) {}

traffic_metrics::route_row& traffic_metrics::row(const std::string& route_path) {
  std::lock_guard lock(mutex_);
  auto& slot = rows_[route_path];
  if (!slot) slot = std::make_unique<route_row>(route_path);
  return *slot;
}

void traffic_metrics::record(route_row& row, const request_record& r) noexcept {
  row.requests.add(request_cell(method_index(r.method), class_index(r.status), result_index(r.result)));
  row.duration.observe(0, seconds(r.total));
}

void traffic_metrics::attempt(const upstream::attempt_record& a) noexcept {
  attempts_.add(outcome_index(a));
  upstream_latency_.observe(0, seconds(a.duration));
}

traffic_metrics::route_totals traffic_metrics::totals(const route_row& row) const {
  route_totals t;
  for (std::size_t m = 0; m < methods.size(); ++m)
    for (std::size_t c = 0; c < classes.size(); ++c) {
      t.hits += row.requests.value(request_cell(m, c, result_index(cache_result::hit)));
      t.misses += row.requests.value(request_cell(m, c, result_index(cache_result::miss)));
      t.stale += row.requests.value(request_cell(m, c, result_index(cache_result::stale)));
      t.revalidated += row.requests.value(request_cell(m, c, result_index(cache_result::revalidated)));
      t.bypassed += row.requests.value(request_cell(m, c, result_index(cache_result::bypass)));
    }
  return t;
}

std::vector<const traffic_metrics::route_row*> traffic_metrics::rows() const {
  std::lock_guard lock(mutex_);
  std::vector<const route_row*> out;
  for (const auto& [path, row] : rows_) out.push_back(row.get());
  return out;
}

void traffic_metrics::render(core::exposition_writer& w) const {
  const auto all = rows();
  w.family("pcproxy_requests_total", "counter",
           "Requests answered, by route, method, status class and cache result (X-Cache).");
  for (const auto* row : all)
    for (std::size_t m = 0; m < methods.size(); ++m)
      for (std::size_t c = 0; c < classes.size(); ++c)
        for (std::size_t r = 0; r < results.size(); ++r)
          if (const auto n = row->requests.value(request_cell(m, c, r)); n > 0)
            w.sample("pcproxy_requests_total",
                     {{"route", row->path}, {"method", methods[m]}, {"status_class", classes[c]},
                      {"cache", to_string(results[r])}},
                     n);
  w.family("pcproxy_request_duration_seconds", "histogram",
           "Time from a request's arrival to its response being ready, by route.");
  for (const auto* row : all)
    w.histogram("pcproxy_request_duration_seconds", {{"route", row->path}}, row->duration.bounds(), row->duration.read(0));
  w.family("pcproxy_upstream_attempts_total", "counter",
           "Upstream attempts by outcome: the status class of the answer, or why there was none.");
  for (std::size_t o = 0; o < outcomes.size(); ++o)
    w.sample("pcproxy_upstream_attempts_total", {{"outcome", outcomes[o]}}, attempts_.value(o));
  w.family("pcproxy_upstream_duration_seconds", "histogram", "Duration of upstream attempts.");
  w.histogram("pcproxy_upstream_duration_seconds", {}, upstream_latency_.bounds(), upstream_latency_.read(0));
}

void append_server_timing(std::string& out, const request_record& r) {
  out += "cache;desc=\"";
  out += to_string(r.result);
  out += '"';
  if (!r.attempts.empty()) {
    out += ", upstream;dur=";
    append_millis(out, upstream_time(r));
    out += ";desc=\"";
    out += std::to_string(r.attempts.size());
    out += r.attempts.size() == 1 ? " attempt\"" : " attempts\"";
  }
  out += ", total;dur=";
  append_millis(out, r.total);
}

std::string access_line(const request_record& r, bool json) {
  const auto upstream_status = r.attempts.empty() ? 0u : r.attempts.back().status;
  if (!json) {
    return std::string(r.method) + " " + std::string(r.path) + " " + std::to_string(r.status) + " " +
           to_string(r.result) + " " + millis(r.total) + "ms upstream=" + (upstream_status ? std::to_string(upstream_status) : "-") +
           " attempts=" + std::to_string(r.attempts.size()) + " upstream_ms=" + millis(upstream_time(r)) +
           " bytes=" + std::to_string(r.bytes) + " client=" + r.peer + " MS-CorrelationId=" + r.ids.correlation_id +
           " MS-RequestId=" + r.ids.request_id + " MS-CV=" + r.ids.vector;
  }
  std::string out;
  auto member = [&](const char* name, std::string_view value) {
    if (!out.empty()) out += ',';
    out += '"';
    out += name;
    out += "\":";
    core::append_json_string(out, value);
  };
  auto number = [&](const char* name, const std::string& value) {
    out += ",\"";
    out += name;
    out += "\":";
    out += value;
  };
  member("method", r.method);
  member("path", r.path);
  number("status", std::to_string(r.status));
  member("cache", to_string(r.result));
  member("route", r.route);
  if (upstream_status) number("upstream_status", std::to_string(upstream_status));
  number("attempts", std::to_string(r.attempts.size()));
  number("bytes", std::to_string(r.bytes));
  number("duration_ms", millis(r.total));
  number("upstream_ms", millis(upstream_time(r)));
  member("correlation_id", r.ids.correlation_id);
  member("request_id", r.ids.request_id);
  member("cv", r.ids.vector);
  member("client", r.peer);
  return out;
}

void add_debug_headers(server::response& res, const request_record& r) {
  res.fields.set("Pcproxy-Debug-Route", r.route + "; policy=" + config::to_string(r.policy));
  res.fields.set("Pcproxy-Debug-Scope", r.scope);
  if (!r.key.empty()) res.fields.set("Pcproxy-Debug-Key", r.key);
  std::string attempts;
  for (std::size_t i = 0; i < r.attempts.size(); ++i) {
    const auto& a = r.attempts[i];
    if (!attempts.empty()) attempts += ", ";
    attempts += "#" + std::to_string(i + 1) + " " +
                (a.status ? std::to_string(a.status) : std::string(upstream::to_string(a.error))) + " " +
                millis(std::chrono::duration_cast<std::chrono::microseconds>(a.duration)) + "ms cv=" + a.vector +
                " request-id=" + a.request_id;
  }
  res.fields.set("Pcproxy-Debug-Attempts", attempts.empty() ? std::string("none (answered without upstream)") : attempts);
}

}  // namespace pcproxy::proxy
