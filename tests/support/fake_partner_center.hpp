#pragma once
// A fake Partner Center for tests and the demo (partner-center.md describes the real
// one): deterministic usage records that depend on the caller's token (so a leak
// between callers shows), paging by MS-ContinuationToken with relative links.next,
// 401 without Authorization or with a token starting "Bearer expired", an optional BOM, HTTP or HTTPS, and a record of every
// request it received. It runs on its own thread; tests inspect it directly.
// Thread-safety: every public member is safe from any thread.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pcproxy::testing {

struct recorded_request {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::steady_clock::time_point received_at;
  std::uint64_t connection = 0;  // which connection it came on (1, 2, ...)

  /// The value of a header (case-insensitive name), "" when absent.
  std::string header(std::string_view name) const;
  bool has_header(std::string_view name) const;
  std::string path() const { return target.substr(0, target.find('?')); }
};

struct fake_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;            // 0: any free port
  std::size_t customers = 25;        // usage records per caller
  std::size_t page_size = 10;        // default page size (the `size` query parameter overrides)
  bool bom = false;                  // start JSON bodies with a UTF-8 byte-order mark
  bool absolute_links = false;       // links.next as an absolute URL to the fake itself
  std::chrono::milliseconds idle_timeout{30000};  // closes keep-alive connections idle this long
  std::string tls_cert_pem;          // with tls_key_pem: serve HTTPS
  std::string tls_key_pem;
};

class fake_partner_center {
public:
  explicit fake_partner_center(fake_options options = {});
  ~fake_partner_center();
  fake_partner_center(const fake_partner_center&) = delete;
  fake_partner_center& operator=(const fake_partner_center&) = delete;

  std::uint16_t port() const;
  /// The origin to configure as upstream.url ("http://127.0.0.1:PORT" or https).
  std::string url() const;

  std::vector<recorded_request> requests() const;
  /// How many requests arrived whose path starts with `path_prefix`.
  std::size_t count(std::string_view path_prefix = "") const;
  void clear();
  /// Blocks until at least `n` requests have arrived (true) or `timeout` passes (false).
  bool wait_for_requests(std::size_t n, std::chrono::milliseconds timeout) const;
  /// Blocks until the fake has closed at least `n` connections (or `timeout` passes).
  bool wait_for_closed_connections(std::size_t n, std::chrono::milliseconds timeout) const;

  /// Requests whose path starts with `path_prefix` wait `delay` before the answer.
  void set_delay(std::string path_prefix, std::chrono::milliseconds delay);

  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// ---- the data, as pure functions (tests compute expectations with them) ----

/// A stable short id of a caller's credential (the fake's stand-in for its tenant).
std::string caller_id(std::string_view authorization);

struct usage_page {
  std::string body;              // exactly what the fake sends
  std::string next_token;        // "" on the last page
};

/// Page of usage records starting at `offset` for the caller. `link_base` prefixes
/// links.next ("" keeps it relative, as Partner Center does).
usage_page render_usage_page(std::string_view caller, std::size_t offset, std::size_t size,
                             std::size_t total, bool bom, std::string_view link_base = {});

/// The continuation token for `offset` (opaque on the wire: contains / _ , =).
std::string continuation_token(std::string_view caller, std::size_t offset);

}  // namespace pcproxy::testing
