#include "tests/support/fake_partner_center.hpp"

#include "cache/scope.hpp"
#include "cache/key.hpp"
#include "core/http_date.hpp"
#include "core/json_text.hpp"
#include "core/net.hpp"
#include "core/sha256.hpp"

#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <array>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace pcproxy::testing {

namespace http = beast::http;

std::string recorded_request::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (beast::iequals(k, name)) return v;
  return {};
}

bool recorded_request::has_header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (beast::iequals(k, name)) return true;
  return false;
}

namespace {

std::string base64url(std::string_view bytes) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char ch : bytes) {
    buffer = (buffer << 8) | static_cast<unsigned char>(ch);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(alphabet[(buffer >> bits) & 0x3F]);
    }
  }
  if (bits > 0) out.push_back(alphabet[(buffer << (6 - bits)) & 0x3F]);
  return out;
}

std::string jwt_signature(std::string_view signed_part) {
  return core::to_hex(core::sha256("fake-partner-center-signing-key:" + std::string(signed_part)), 16);
}

// The JWT parts of "Bearer a.b.c", or nullopt for any other credential.
std::optional<std::array<std::string_view, 3>> jwt_parts(std::string_view authorization) {
  if (!authorization.starts_with("Bearer ")) return std::nullopt;
  const auto token = authorization.substr(7);
  const auto a = token.find('.');
  if (a == std::string_view::npos) return std::nullopt;
  const auto b = token.find('.', a + 1);
  if (b == std::string_view::npos || token.find('.', b + 1) != std::string_view::npos) return std::nullopt;
  return std::array{token.substr(0, a), token.substr(a + 1, b - a - 1), token.substr(b + 1)};
}

}  // namespace

std::string make_test_jwt(std::string_view tenant_id, std::chrono::system_clock::time_point expires,
                          bool valid_signature, std::string_view nonce) {
  const auto exp = std::chrono::duration_cast<std::chrono::seconds>(expires.time_since_epoch()).count();
  const auto header = base64url(R"({"typ":"JWT","alg":"RS256"})");
  const auto payload = base64url("{\"aud\":\"https://api.partnercenter.microsoft.com\",\"tid\":\"" +
                                 std::string(tenant_id) + "\",\"exp\":" + std::to_string(exp) +
                                 ",\"nonce\":\"" + std::string(nonce) + "\"}");
  const auto signed_part = header + "." + payload;
  return "Bearer " + signed_part + "." + (valid_signature ? jwt_signature(signed_part) : std::string(32, 'f'));
}

std::string caller_id(std::string_view authorization) {
  if (const auto claims = cache::read_jwt_claims(authorization))
    return core::to_hex(core::sha256("tid:" + claims->tenant_id), 4);
  return core::to_hex(core::sha256(authorization), 4);
}

std::string continuation_token(std::string_view caller, std::size_t offset) {
  const auto check = core::to_hex(core::sha256(std::string(caller) + "/" + std::to_string(offset)), 3);
  return "cT0/" + std::string(caller) + "_" + std::to_string(offset) + "," + check + "==";
}

fault_script parse_script(std::string_view text) {
  fault_script script;
  if (text.ends_with('*')) {
    script.repeat = true;
    text.remove_suffix(1);
  }
  auto& steps = script.steps;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const auto step = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    auto bad = [&] { return std::invalid_argument("cannot read script step \"" + std::string(step) + "\""); };
    std::string_view rest = step;
    const auto colon = rest.find(':');
    const auto head = rest.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
    fault f;
    if (head == "reset") f.what = fault::kind::reset;
    else if (head == "reset-mid-body") f.what = fault::kind::reset_mid_body;
    else if (head == "truncate") f.what = fault::kind::truncated_body;
    else if (head == "malformed") f.what = fault::kind::malformed_json;
    else if (head == "stall") f.what = fault::kind::stall;
    else if (head == "trickle") f.what = fault::kind::trickle;
    else {
      const auto [end, ec] = std::from_chars(head.data(), head.data() + head.size(), f.status);
      if (ec != std::errc{} || end != head.data() + head.size() || f.status < 100 || f.status > 599) throw bad();
    }
    while (!rest.empty()) {
      const auto next = rest.find(':');
      const auto option = rest.substr(0, next);
      rest = next == std::string_view::npos ? std::string_view{} : rest.substr(next + 1);
      const auto eq = option.find('=');
      if (eq == std::string_view::npos) throw bad();
      const auto name = option.substr(0, eq);
      auto value = option.substr(eq + 1);
      long long n = 0;
      if (value.starts_with('+')) value.remove_prefix(1);
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc{} || end != value.data() + value.size() || n < 0) throw bad();
      if (name == "retry-after") f.retry_after = std::to_string(n);
      else if (name == "retry-after-date")
        f.retry_after = core::format_http_date(std::chrono::system_clock::now() + std::chrono::seconds(n));
      else if (name == "delay") f.delay = std::chrono::milliseconds(n);
      else throw bad();
    }
    steps.push_back(std::move(f));
  }
  return script;
}

namespace {

// The offset a token stands for, when it is a valid token of this caller.
std::optional<std::size_t> offset_of(std::string_view caller, std::string_view token) {
  const std::string prefix = "cT0/" + std::string(caller) + "_";
  if (!token.starts_with(prefix)) return std::nullopt;
  const auto rest = token.substr(prefix.size());
  const auto comma = rest.find(',');
  if (comma == std::string_view::npos) return std::nullopt;
  std::size_t offset = 0;
  const auto digits = rest.substr(0, comma);
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), offset);
  if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  if (continuation_token(caller, offset) != token) return std::nullopt;
  return offset;
}

// Decimal digits from a digest, for money values longer than a double holds.
std::string digits_from(const core::sha256_digest& d, std::size_t from, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) out.push_back(static_cast<char>('0' + d[(from + i) % d.size()] % 10));
  return out;
}

std::string customer_id(const core::sha256_digest& d) {
  const auto hex = core::to_hex(d, 16);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-4" + hex.substr(13, 3) + "-a" + hex.substr(17, 3) + "-" +
         hex.substr(20, 12);
}

}  // namespace

std::string usage_record(std::string_view caller, std::size_t index, const page_style& style) {
  const auto version = style.version;
  const auto seed = std::string(caller) + "#" + std::to_string(index) + (version ? "@" + std::to_string(version) : "");
  const auto d = core::sha256(seed);
  const auto id = customer_id(core::sha256(std::string(caller) + "#" + std::to_string(index)));
  const auto cost = std::to_string(d[0] * 7 + d[1]) + "." + digits_from(d, 2, 19);
  const auto usd = std::to_string(d[3] * 5 + d[4]) + "." + digits_from(d, 5, 19);
  const bool euro = d[6] % 2 == 0;
  const auto name = "Contoso " + std::string(caller) + " Customer " + std::to_string(index);
  std::string r = "{\"totalCost\":" + cost + ",\"totalCostUSD\":" + usd;
  r += std::string(",\"currencyLocale\":\"") + (euro ? "de-DE" : "en-US") + "\"";
  r += std::string(",\"currencyCode\":\"") + (euro ? "EUR" : "USD") + "\"";
  r += std::string(",\"currencySymbol\":\"") + (euro ? "\xE2\x82\xAC" : "$") + "\"";
  r += std::string(",\"isUpgraded\":") + (d[7] % 3 == 0 ? "true" : "false");
  r += ",\"lastModifiedDate\":\"2026-11-" + std::to_string(10 + d[8] % 18) + "T0" + std::to_string(d[9] % 10) +
       ":15:30." + digits_from(d, 10, 7) + "+00:00\"";
  // Null fields are omitted, as Partner Center does: only some customers have a budget.
  if (d[11] % 2 == 0) {
    const auto amount = std::to_string(100 * (1 + d[12] % 50));
    r += ",\"percentUsed\":" + std::to_string(d[13] % 100) + "." + digits_from(d, 14, 2);
    r += ",\"budget\":" + amount;
    r += ",\"customerSpendingBudget\":{\"amount\":" + amount + ",\"attributes\":{\"objectType\":\"SpendingBudget\"}}";
  }
  r += ",\"id\":\"" + id + "\",\"name\":\"" + name + "\",\"resourceId\":\"" + id + "\",\"resourceName\":\"" + name + "\"";
  // Fields a later page brings that the first page never had (a CSV's "extra" column).
  if (index >= style.late_field_from)
    r += ",\"tags\":[\"late\",\"a, \\\"quoted\\\" tag\"],\"review\":{\"state\":\"open\",\"since\":2026}";
  r += ",\"attributes\":{\"objectType\":\"CustomerMonthlyUsageRecord\"}}";
  return r;
}

namespace {

std::string pc_error(unsigned code, std::string_view description) {
  return "{\"code\":" + std::to_string(code) + ",\"description\":\"" + std::string(description) +
         "\",\"data\":[],\"source\":\"PartnerFD\"}";
}

std::size_t size_param(std::string_view target, std::size_t fallback) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return fallback;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto piece = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (piece.starts_with("size=")) {
      std::size_t n = 0;
      const auto v = piece.substr(5);
      const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec == std::errc{} && end == v.data() + v.size() && n > 0 && n <= 1000) return n;
    }
  }
  return fallback;
}

// Any credential is accepted, except a JWT the fake did not sign.
bool signature_ok(std::string_view authorization) {
  const auto parts = jwt_parts(authorization);
  if (!parts) return true;
  const auto signed_part = std::string((*parts)[0]) + "." + std::string((*parts)[1]);
  return (*parts)[2] == jwt_signature(signed_part);
}

bool etag_matches(std::string_view if_none_match, std::string_view etag) {
  return if_none_match == "*" || if_none_match.find(etag) != std::string_view::npos;
}

// The tenant of a token endpoint path "/<tenant>/oauth2/token", or "" for other paths.
std::string_view token_endpoint_tenant(std::string_view path) {
  constexpr std::string_view suffix = "/oauth2/token";
  if (!path.starts_with('/') || !path.ends_with(suffix)) return {};
  const auto tenant = path.substr(1, path.size() - 1 - suffix.size());
  return tenant.find('/') == std::string_view::npos ? tenant : std::string_view{};
}

// One parameter of an application/x-www-form-urlencoded body, decoded.
std::string form_value(std::string_view body, std::string_view name) {
  while (!body.empty()) {
    const auto amp = body.find('&');
    const auto piece = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
    if (piece.size() > name.size() && piece.starts_with(name) && piece[name.size()] == '=')
      return cache::percent_decode(piece.substr(name.size() + 1));
  }
  return {};
}

std::string aad_error(std::string_view error, std::string_view description) {
  return "{\"error\":\"" + std::string(error) + "\",\"error_description\":\"" + std::string(description) +
         "\",\"error_codes\":[70000],\"timestamp\":\"2026-11-30 12:00:00Z\"}";
}

}  // namespace

usage_page render_usage_page(std::string_view caller, std::size_t offset, std::size_t size, std::size_t total,
                             const page_style& style) {
  usage_page page;
  const auto end = std::min(total, offset + size);
  std::string items;
  for (auto i = offset; i < end; ++i) {
    if (!items.empty()) items += ',';
    items += usage_record(caller, i, style);
  }
  if (end < total) page.next_token = continuation_token(caller, end);
  std::string& b = page.body;
  if (style.bom) b += "\xEF\xBB\xBF";
  b += "{\"totalCount\":" + std::to_string(end > offset ? end - offset : 0) + ",\"items\":[" + items + "]";
  if (!page.next_token.empty()) b += ",\"continuationToken\":\"" + page.next_token + "\"";
  b += ",\"links\":{\"self\":{\"uri\":\"/customers/usagerecords\",\"method\":\"GET\",\"headers\":[]}";
  if (!page.next_token.empty())
    b += ",\"next\":{\"uri\":\"" + std::string(style.link_base) + "/v1/customers/usagerecords?size=" +
         std::to_string(size) +
         "&seekOperation=Next\",\"method\":\"GET\",\"headers\":[{\"key\":\"MS-ContinuationToken\","
         "\"value\":\"" +
         page.next_token + "\"}]}";
  b += "},\"attributes\":{";
  if (style.body_etag) b += "\"etag\":\"" + core::to_hex(core::sha256(items), 8) + "\",";
  b += "\"objectType\":\"Collection\"}}";
  return page;
}

struct fake_partner_center::impl {
  explicit impl(fake_options o) : options(std::move(o)), acceptor(ioc) {
    if (!options.tls_cert_pem.empty()) {
      tls.emplace(net::ssl::context::tls_server);
      tls->use_certificate_chain(net::buffer(options.tls_cert_pem));
      tls->use_private_key(net::buffer(options.tls_key_pem), net::ssl::context::pem);
    }
    const tcp::endpoint endpoint(net::ip::make_address(options.host), options.port);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(net::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen();
    bound_port = acceptor.local_endpoint().port();
    net::co_spawn(ioc, accept_loop(), net::detached);
    if (options.control) {
      control.emplace(ioc, tcp::endpoint(net::ip::make_address(options.host), options.control_port));
      control_bound = control->local_endpoint().port();
      net::co_spawn(ioc, control_loop(), net::detached);
    }
    thread = std::thread([this] { ioc.run(); });
  }

  ~impl() { stop(); }

  void stop() {
    if (!thread.joinable()) return;
    net::post(ioc, [this] {
      error_code ignored;
      acceptor.close(ignored);
      if (control) control->close(ignored);
      ioc.stop();
    });
    thread.join();
  }

  std::string origin() const {
    return std::string(tls ? "https://" : "http://") + options.host + ":" + std::to_string(bound_port);
  }

  awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(use_nothrow);
      if (ec) co_return;
      const auto id = ++connections_opened;
      if (tls) {
        net::co_spawn(ioc, serve_tls(std::move(socket), id), net::detached);
      } else {
        net::co_spawn(ioc, serve(beast::tcp_stream(std::move(socket)), id), net::detached);
      }
    }
  }

  awaitable<void> serve_tls(tcp::socket socket, std::uint64_t id) {
    beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *tls);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
    auto [ec] = co_await stream.async_handshake(net::ssl::stream_base::server, use_nothrow);
    if (ec) co_return;  // e.g. the client rejected our certificate
    co_await serve(std::move(stream), id);
  }

  template <typename Stream>
  awaitable<void> serve(Stream stream, std::uint64_t id) {
    beast::flat_buffer buffer;
    auto& socket = beast::get_lowest_layer(stream).socket();
    for (;;) {
      beast::get_lowest_layer(stream).expires_after(options.idle_timeout);
      http::request_parser<http::string_body> parser;
      parser.body_limit(64 * 1024 * 1024);  // tests send bodies larger than Beast's 1 MB default
      auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_nothrow);
      if (ec) break;
      auto req = parser.release();
      record(req, id);
      auto step = next_step(req.target());
      if (step.what == fault::kind::answer && step.status == 0 && step.delay.count() == 0)
        step = identity_step(req.target());
      if (const auto delay = delay_for(req.target()) + (step.what == fault::kind::trickle ? std::chrono::milliseconds(0) : step.delay);
          delay.count() > 0) {
        net::steady_timer timer(co_await net::this_coro::executor);
        timer.expires_after(delay);
        co_await timer.async_wait(use_nothrow);
      }
      if (step.what == fault::kind::reset) {
        reset(socket);
        break;
      }
      if (step.what == fault::kind::stall) {
        beast::get_lowest_layer(stream).expires_never();
        char byte;  // until the client gives up (or the fake stops)
        co_await beast::get_lowest_layer(stream).async_read_some(net::buffer(&byte, 1), use_nothrow);
        break;
      }
      auto res = answer(req, step);
      const bool keep_alive = req.keep_alive();
      res.keep_alive(keep_alive);
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(30));
      if (step.what == fault::kind::answer || step.what == fault::kind::malformed_json) {
        auto [wec, wn] = co_await http::async_write(stream, res, use_nothrow);
        if (wec || !keep_alive) break;
        continue;
      }
      // Faults on the wire: write the serialised response by hand, in pieces.
      std::ostringstream wire;
      wire << res;
      const auto bytes = wire.str();
      const auto head = bytes.find("\r\n\r\n") + 4;
      const auto half = head + (bytes.size() - head) / 2;
      if (step.what == fault::kind::trickle) {
        for (std::size_t at = 0; at < bytes.size(); at += 64) {
          auto [wec, wn] = co_await net::async_write(stream, net::buffer(bytes.data() + at, std::min<std::size_t>(64, bytes.size() - at)), use_nothrow);
          if (wec) break;
          net::steady_timer timer(co_await net::this_coro::executor);
          timer.expires_after(step.delay);
          co_await timer.async_wait(use_nothrow);
        }
        continue;
      }
      co_await net::async_write(stream, net::buffer(bytes.data(), half), use_nothrow);
      if (step.what == fault::kind::reset_mid_body) reset(socket);
      break;  // truncated_body: a clean close after half the body
    }
    error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
    {
      std::lock_guard lock(mutex);
      ++connections_closed;
    }
    arrived.notify_all();
  }

  awaitable<void> control_loop() {
    for (;;) {
      auto [ec, socket] = co_await control->async_accept(use_nothrow);
      if (ec) co_return;
      net::co_spawn(ioc, control_session(beast::tcp_stream(std::move(socket))), net::detached);
    }
  }

  awaitable<void> control_session(beast::tcp_stream stream) {
    beast::flat_buffer buffer;
    for (;;) {
      stream.expires_after(std::chrono::seconds(30));
      http::request<http::string_body> req;
      auto [ec, n] = co_await http::async_read(stream, buffer, req, use_nothrow);
      if (ec) co_return;
      auto res = control_answer(req);
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      auto [wec, wn] = co_await http::async_write(stream, res, use_nothrow);
      if (wec || !req.keep_alive()) co_return;
    }
  }

  http::response<http::string_body> control_answer(const http::request<http::string_body>& req) {
    const std::string_view target = req.target();
    const auto path = target.substr(0, target.find('?'));
    const auto query = target.find('?') == std::string_view::npos ? std::string_view{} : target.substr(target.find('?') + 1);
    auto param = [&](std::string_view name) -> std::string {
      std::string_view q = query;
      while (!q.empty()) {
        const auto amp = q.find('&');
        const auto piece = q.substr(0, amp);
        q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
        if (piece.starts_with(name) && piece.size() > name.size() && piece[name.size()] == '=')
          return cache::percent_decode(piece.substr(name.size() + 1));
      }
      return {};
    };
    http::response<http::string_body> res{http::status::no_content, 11};
    auto fail = [&](std::string why) {
      res.result(http::status::bad_request);
      res.set(http::field::content_type, "text/plain");
      res.body() = std::move(why) + "\n";
      return res;
    };
    const auto method = req.method();
    if (path == "/script" && method == http::verb::put) {
      if (param("path").empty()) return fail("PUT /script needs ?path=/v1/...");
      try {
        const auto parsed = parse_script(req.body());
        std::lock_guard lock(mutex);
        scripts[param("path")] = {std::deque<fault>(parsed.steps.begin(), parsed.steps.end()), parsed.repeat};
      } catch (const std::invalid_argument& e) {
        return fail(e.what());
      }
    } else if (path == "/script" && method == http::verb::delete_) {
      std::lock_guard lock(mutex);
      if (param("path").empty())
        scripts.clear();
      else
        scripts.erase(param("path"));
    } else if (path == "/delay" && method == http::verb::put) {
      unsigned ms = 0;
      const auto v = param("ms");
      if (std::from_chars(v.data(), v.data() + v.size(), ms).ec != std::errc{} || param("path").empty())
        return fail("PUT /delay needs ?path=/v1/...&ms=N");
      std::lock_guard lock(mutex);
      delays[param("path")] = std::chrono::milliseconds(ms);
    } else if (path == "/data-version" && method == http::verb::put) {
      unsigned v = 0;
      const auto text = param("v");
      if (std::from_chars(text.data(), text.data() + text.size(), v).ec != std::errc{})
        return fail("PUT /data-version needs ?v=N");
      std::lock_guard lock(mutex);
      data_version = v;
    } else if (path == "/requests" && method == http::verb::get) {
      res.result(http::status::ok);
      res.set(http::field::content_type, "application/json");
      std::string out = "[";
      std::lock_guard lock(mutex);
      for (const auto& r : log) {
        if (out.size() > 1) out += ',';
        out += "{\"method\":";
        core::append_json_string(out, r.method);
        out += ",\"target\":";
        core::append_json_string(out, r.target);
        out += ",\"connection\":" + std::to_string(r.connection) + ",\"headers\":{";
        bool first = true;
        for (const auto& [k, v] : r.headers) {
          if (!first) out += ',';
          first = false;
          core::append_json_string(out, k);
          out += ':';
          core::append_json_string(out, beast::iequals(k, "authorization") ? std::string("<redacted>") : v);
        }
        out += "}}";
      }
      out += "]";
      res.body() = std::move(out);
    } else if (path == "/requests" && method == http::verb::delete_) {
      std::lock_guard lock(mutex);
      log.clear();
    } else if (path == "/identity" && method == http::verb::put) {
      const auto mode = param("mode");
      std::optional<identity_mode> m;
      if (mode == "normal") m = identity_mode::normal;
      if (mode == "invalid_grant") m = identity_mode::invalid_grant;
      if (mode == "invalid_client") m = identity_mode::invalid_client;
      if (mode == "slow") m = identity_mode::slow;
      if (mode == "down") m = identity_mode::down;
      if (!m) return fail("PUT /identity needs ?mode=normal|invalid_grant|invalid_client|slow|down");
      std::lock_guard lock(mutex);
      identity = *m;
    } else if (path == "/identity/access-tokens" && method == http::verb::delete_) {
      std::lock_guard lock(mutex);
      valid_access.clear();
    } else if (path == "/identity/refresh-tokens" && method == http::verb::delete_) {
      std::lock_guard lock(mutex);
      refresh_tokens.clear();
    } else {
      res.result(http::status::not_found);
      res.set(http::field::content_type, "text/plain");
      res.body() = "control API: PUT|DELETE /script?path=, PUT /delay?path=&ms=, PUT /data-version?v=, GET|DELETE "
                   "/requests, PUT /identity?mode=, DELETE /identity/access-tokens, DELETE /identity/refresh-tokens\n";
    }
    return res;
  }

  // The identity switches as a fault, decided when the request arrives: slow waits and
  // then answers 503 without redeeming anything (the caller has given up by then),
  // down resets the connection.
  fault identity_step(std::string_view target) {
    fault f;
    const std::string_view path = target.substr(0, target.find('?'));
    if (token_endpoint_tenant(path).empty()) return f;
    std::lock_guard lock(mutex);
    if (identity == identity_mode::slow) {
      f.delay = options.slow_delay;
      f.status = 503;
    }
    if (identity == identity_mode::down) f.what = fault::kind::reset;
    return f;
  }

  // POST /<tenant>/oauth2/token, as Azure AD's v1 endpoint answers a refresh_token grant.
  void redeem(const std::string& tenant, std::string_view body, http::response<http::string_body>& res) {
    const auto grant = form_value(body, "grant_type");
    const auto refresh = form_value(body, "refresh_token");
    const auto client = form_value(body, "client_id");
    const auto secret = form_value(body, "client_secret");
    const auto resource = form_value(body, "resource");
    std::lock_guard lock(mutex);
    if (grant != "refresh_token") {
      res.result(http::status::bad_request);
      res.body() = aad_error("unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.");
    } else if (identity == identity_mode::invalid_client || client != options.client_id ||
               secret != options.client_secret) {
      res.result(http::status::unauthorized);
      res.body() = aad_error("invalid_client", "AADSTS7000215: Invalid client secret provided.");
    } else if (identity == identity_mode::invalid_grant || !refresh_tokens.contains(refresh)) {
      res.result(http::status::bad_request);
      res.body() = aad_error("invalid_grant", "AADSTS70008: The provided refresh token has expired or was revoked.");
    } else {
      refresh_tokens.erase(refresh);  // rotated: a used refresh token is refused from now on
      latest_refresh = "fake-refresh-token-" + std::to_string(++refresh_serial);
      refresh_tokens.insert(latest_refresh);
      const auto now = std::chrono::system_clock::now();
      const auto access = make_test_jwt(tenant, now + options.token_lifetime, true, "issued-" + std::to_string(refresh_serial));
      issued_access.push_back(access);
      valid_access.insert(access);
      const auto lifetime = std::to_string(options.token_lifetime.count());
      const auto epoch = [](auto t) {
        return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
      };
      res.body() = "{\"token_type\":\"Bearer\",\"scope\":\"user_impersonation\",\"expires_in\":\"" + lifetime +
                   "\",\"ext_expires_in\":\"" + lifetime + "\",\"expires_on\":\"" +
                   epoch(now + options.token_lifetime) + "\",\"not_before\":\"" + epoch(now) +
                   "\",\"resource\":\"" + resource + "\",\"access_token\":\"" + access.substr(7) +
                   "\",\"refresh_token\":\"" + latest_refresh + "\"}";
    }
    res.set(http::field::cache_control, "no-store, no-cache");
  }

  // With require_issued_tokens: an unexpired access token the identity endpoint issued.
  bool issued_if_required(std::string_view authorization) {
    if (!options.require_issued_tokens) return true;
    const auto claims = cache::read_jwt_claims(authorization);
    if (!claims || !claims->expires || *claims->expires <= std::chrono::system_clock::now()) return false;
    std::lock_guard lock(mutex);
    return valid_access.contains(std::string(authorization));
  }

  static void reset(tcp::socket& socket) {
    error_code ignored;
    socket.set_option(net::socket_base::linger(true, 0), ignored);  // close with RST
    socket.close(ignored);
  }

  void record(const http::request<http::string_body>& req, std::uint64_t connection) {
    recorded_request r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    for (const auto& f : req) r.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    r.body = req.body();
    r.received_at = std::chrono::steady_clock::now();
    r.connection = connection;
    {
      std::lock_guard lock(mutex);
      log.push_back(std::move(r));
    }
    arrived.notify_all();
  }

  std::chrono::milliseconds delay_for(std::string_view target) {
    std::lock_guard lock(mutex);
    std::chrono::milliseconds delay{0};
    for (const auto& [prefix, d] : delays)
      if (target.starts_with(prefix)) delay = d;
    return delay;
  }

  fault next_step(std::string_view target) {
    std::lock_guard lock(mutex);
    for (auto& [prefix, script] : scripts)
      if (target.starts_with(prefix) && !script.steps.empty()) {
        auto f = script.steps.front();
        script.steps.pop_front();
        if (script.repeat) script.steps.push_back(f);
        return f;
      }
    return {};
  }

  http::response<http::string_body> answer(const http::request<http::string_body>& req, const fault& step) {
    http::response<http::string_body> res{http::status::ok, 11};
    res.set(http::field::content_type, "application/json; charset=utf-8");
    res.set(http::field::date, core::format_http_date(std::chrono::system_clock::now()));
    res.set("MS-ServerId", "fake-partner-center-1");
    res.set("Request-Context", "appId=cid-v1:00000000-0000-0000-0000-00000000fake");
    // Partner Center echoes the ids it was given and makes up its own vector.
    if (auto v = req["MS-CorrelationId"]; !v.empty()) res.set("MS-CorrelationId", v);
    if (auto v = req["MS-RequestId"]; !v.empty()) res.set("MS-RequestId", v);
    res.set("MS-CV", "FakePartnerCtr00.0");

    const std::string_view target = req.target();
    const auto path = target.substr(0, target.find('?'));
    const auto authorization = req[http::field::authorization];
    unsigned version = 0;
    {
      std::lock_guard lock(mutex);
      version = data_version;
    }
    if (step.status != 0 && step.status != 200) {
      res.result(step.status);
      if (step.status == 429)
        res.body() = "{\"statusCode\":429,\"message\":\"Rate limit is exceeded. Try again in " +
                     (step.retry_after.empty() ? std::string("60") : step.retry_after) + " seconds.\"}";
      else
        res.body() = pc_error(step.status * 10, "Scripted failure.");
      if (!step.retry_after.empty()) res.set(http::field::retry_after, step.retry_after);
    } else if (step.what == fault::kind::malformed_json) {
      res.body() = "{\"totalCount\":1,\"items\":[{\"id\":";
    } else if (const auto tenant = token_endpoint_tenant(path); !tenant.empty() && req.method() == http::verb::post) {
      redeem(std::string(tenant), req.body(), res);
    } else if (authorization.empty() || authorization.starts_with("Bearer expired") || !signature_ok(authorization) ||
               !issued_if_required(authorization)) {
      res.result(http::status::unauthorized);
      res.body() = pc_error(900401, "Authorization header is missing or invalid.");
    } else if (path == "/v1/customers/usagerecords" && (req.method() == http::verb::get || req.method() == http::verb::head)) {
      const auto caller = caller_id(authorization);
      const auto size = size_param(target, options.page_size);
      const auto token = req["MS-ContinuationToken"];
      const auto offset = token.empty() ? std::optional<std::size_t>(0) : offset_of(caller, token);
      if (!offset) {
        res.result(http::status::bad_request);
        res.body() = pc_error(2000, "The continuation token is not valid for this caller.");
      } else {
        const auto link_base = options.absolute_links ? origin() : std::string{};
        res.body() = render_usage_page(caller, *offset, size, options.customers,
                                       {options.bom, link_base, options.body_etag, version, options.late_field_from})
                         .body;
      }
    } else if (req.method() == http::verb::get || req.method() == http::verb::head) {
      res.body() = std::string(options.bom ? "\xEF\xBB\xBF" : "") + "{\"path\":\"" + std::string(path) +
                   "\",\"caller\":\"" + caller_id(authorization) + "\",\"attributes\":{\"objectType\":\"Echo\"}}";
    } else {
      res.result(req.method() == http::verb::post ? http::status::created : http::status::ok);
      res.body() = "{\"method\":\"" + std::string(req.method_string()) + "\",\"path\":\"" + std::string(path) +
                   "\",\"bodyBytes\":" + std::to_string(req.body().size()) + "}";
    }
    if (options.etag_header && res.result() == http::status::ok) {
      const auto etag = "\"" + core::to_hex(core::sha256(res.body()), 8) + "\"";
      res.set(http::field::etag, etag);
      if (const auto inm = req[http::field::if_none_match]; !inm.empty() && etag_matches(inm, etag)) {
        res.result(http::status::not_modified);
        res.body().clear();
      }
    }
    res.prepare_payload();
    if (req.method() == http::verb::head) {
      const auto length = res.body().size();
      res.body().clear();
      res.content_length(length);
    }
    return res;
  }

  fake_options options;
  net::io_context ioc;
  tcp::acceptor acceptor;
  std::optional<net::ssl::context> tls;
  std::uint16_t bound_port = 0;
  std::thread thread;

  mutable std::mutex mutex;
  mutable std::condition_variable arrived;
  std::vector<recorded_request> log;
  std::size_t connections_closed = 0;
  std::uint64_t connections_opened = 0;  // only on the fake's thread
  std::map<std::string, std::chrono::milliseconds> delays;
  struct running_script {
    std::deque<fault> steps;
    bool repeat = false;
  };
  std::map<std::string, running_script> scripts;
  std::optional<tcp::acceptor> control;
  std::uint16_t control_bound = 0;
  unsigned data_version = 0;
  identity_mode identity = identity_mode::normal;
  std::set<std::string> refresh_tokens{options.refresh_token};
  std::string latest_refresh = options.refresh_token;
  unsigned refresh_serial = 0;
  std::vector<std::string> issued_access;  // every one, for tests
  std::set<std::string> valid_access;      // not revoked
};

fake_partner_center::fake_partner_center(fake_options options) : impl_(std::make_unique<impl>(std::move(options))) {}

fake_partner_center::~fake_partner_center() = default;

std::uint16_t fake_partner_center::port() const { return impl_->bound_port; }

std::string fake_partner_center::url() const { return impl_->origin(); }

std::vector<recorded_request> fake_partner_center::requests() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->log;
}

std::size_t fake_partner_center::count(std::string_view path_prefix) const {
  std::lock_guard lock(impl_->mutex);
  std::size_t n = 0;
  for (const auto& r : impl_->log)
    if (std::string_view(r.target).starts_with(path_prefix)) ++n;
  return n;
}

void fake_partner_center::clear() {
  std::lock_guard lock(impl_->mutex);
  impl_->log.clear();
}

bool fake_partner_center::wait_for_requests(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mutex);
  return impl_->arrived.wait_for(lock, timeout, [&] { return impl_->log.size() >= n; });
}

bool fake_partner_center::wait_for_closed_connections(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mutex);
  return impl_->arrived.wait_for(lock, timeout, [&] { return impl_->connections_closed >= n; });
}

void fake_partner_center::set_delay(std::string path_prefix, std::chrono::milliseconds delay) {
  std::lock_guard lock(impl_->mutex);
  impl_->delays[std::move(path_prefix)] = delay;
}

void fake_partner_center::script(std::string path_prefix, std::vector<fault> steps, bool repeat) {
  std::lock_guard lock(impl_->mutex);
  if (steps.empty())
    impl_->scripts.erase(path_prefix);
  else
    impl_->scripts[std::move(path_prefix)] = {std::deque<fault>(steps.begin(), steps.end()), repeat};
}

std::uint16_t fake_partner_center::control_port() const { return impl_->control_bound; }

void fake_partner_center::set_data_version(unsigned version) {
  std::lock_guard lock(impl_->mutex);
  impl_->data_version = version;
}

void fake_partner_center::set_identity_mode(identity_mode mode) {
  std::lock_guard lock(impl_->mutex);
  impl_->identity = mode;
}

void fake_partner_center::revoke_access_tokens() {
  std::lock_guard lock(impl_->mutex);
  impl_->valid_access.clear();
}

std::string fake_partner_center::consent() {
  std::lock_guard lock(impl_->mutex);
  impl_->latest_refresh = "fake-refresh-token-" + std::to_string(++impl_->refresh_serial);
  impl_->refresh_tokens.insert(impl_->latest_refresh);
  return impl_->latest_refresh;
}

void fake_partner_center::revoke_refresh_tokens() {
  std::lock_guard lock(impl_->mutex);
  impl_->refresh_tokens.clear();
}

std::string fake_partner_center::latest_refresh_token() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->latest_refresh;
}

std::vector<std::string> fake_partner_center::issued_access_tokens() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->issued_access;
}

void fake_partner_center::stop() { impl_->stop(); }

}  // namespace pcproxy::testing
