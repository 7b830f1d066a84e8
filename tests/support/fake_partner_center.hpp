#pragma once
// A fake Partner Center for tests and the demo (partner-center.md describes the real
// one): deterministic usage records that depend on the caller's token (so a leak
// between callers shows), paging by MS-ContinuationToken with relative links.next,
// 401 without Authorization, for a token starting "Bearer expired" and for a JWT whose
// signature is not the fake's (see make_test_jwt), an optional BOM, HTTP or HTTPS, and a record of every
// request it received. It runs on its own thread; tests inspect it directly.
// It is also the identity endpoint (Azure AD's v1 token endpoint as the Secure
// Application Model uses it): POST /<tenant>/oauth2/token with grant_type=refresh_token
// redeems a refresh token for an access token (a JWT of that tenant, see make_test_jwt)
// and a new refresh token; a used or revoked refresh token gets invalid_grant.
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

/// One scripted answer (fault injection). A script is a list of these, used in order
/// by the requests whose path starts with its prefix; when it runs out, answers are
/// normal again.
struct fault {
  enum class kind {
    answer,           // a normal answer, or `status` with a Partner Center error body
    reset,            // close the connection (RST) without answering
    reset_mid_body,   // send the headers and half the body, then reset
    truncated_body,   // announce the full length, send half, close cleanly
    malformed_json,   // 200 with a body that is not JSON
    stall,            // read the request, never answer
    trickle,          // send the answer a few bytes at a time, `delay` between pieces
  };
  kind what = kind::answer;
  unsigned status = 0;                    // 0: the normal status
  std::chrono::milliseconds delay{0};     // before answering (between pieces for trickle)
  std::string retry_after;                // Retry-After value, "" for none
};

struct fault_script {
  std::vector<fault> steps;
  bool repeat = false;  // start over when the steps run out
};

/// Parses a script: comma-separated steps such as "500,500,200" or
/// "429:retry-after=2,200"; a trailing '*' repeats the script forever ("503,200*").
/// A step is a status code or one of reset, reset-mid-body, truncate, malformed,
/// stall, trickle; options follow, each after a ':': retry-after=N (seconds),
/// retry-after-date=+N (an HTTP date N seconds ahead), delay=MS. Throws
/// std::invalid_argument naming the step it cannot read.
fault_script parse_script(std::string_view text);

/// The demo's flaky usage records: now and then a 503, a 500 or a 429.
inline constexpr std::string_view flaky_script = "503,200,200,500,200,200,429:retry-after=1,200,200,200*";

struct fake_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;            // 0: any free port
  std::size_t customers = 25;        // usage records per caller
  std::size_t page_size = 10;        // default page size (the `size` query parameter overrides)
  bool bom = false;                  // start JSON bodies with a UTF-8 byte-order mark
  bool absolute_links = false;       // links.next as an absolute URL to the fake itself
  std::chrono::milliseconds idle_timeout{30000};  // closes keep-alive connections idle this long
  bool etag_header = false;          // send ETag (a hash of the body) and answer If-None-Match with 304
  bool body_etag = false;            // put attributes.etag in usage-record pages
  std::size_t late_field_from = static_cast<std::size_t>(-1);  // records from this index gain fields (later pages)
  bool control = false;              // serve the control API (see control_port)
  std::uint16_t control_port = 0;    // its port (0: any free port)
  std::string tls_cert_pem;          // with tls_key_pem: serve HTTPS
  std::string tls_key_pem;
  // The identity endpoint.
  std::string client_id = "fake-client-id";          // the app it knows
  std::string client_secret = "fake-client-secret";
  std::string refresh_token = "fake-refresh-token-0"; // the one valid refresh token at start
  std::chrono::seconds token_lifetime{3600};          // of the access tokens it issues
  std::chrono::milliseconds slow_delay{10000};        // how long identity_mode::slow waits
  bool require_issued_tokens = false;  // Partner Center routes accept only unexpired tokens it issued
};

/// Control switches of the identity endpoint.
enum class identity_mode {
  normal,
  invalid_grant,   // every refresh token is refused (expired or revoked)
  invalid_client,  // the app's secret is refused (expired)
  slow,            // answers 503 after fake_options::slow_delay, redeeming nothing
  down,            // resets the connection without answering
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

  /// Scripts the answers for paths starting with `path_prefix` (replacing any script
  /// for that prefix); an empty script removes it.
  void script(std::string path_prefix, std::vector<fault> steps, bool repeat = false);
  void script(std::string path_prefix, const fault_script& s) { script(std::move(path_prefix), s.steps, s.repeat); }

  /// The control API, when fake_options::control is set: a separate listener, so it is
  /// never reachable through the proxy.
  ///   PUT    /script?path=P        body: a script (see parse_script); DELETE removes it
  ///   PUT    /delay?path=P&ms=N    a fixed delay for paths starting with P
  ///   PUT    /data-version?v=N     change the data
  ///   GET    /requests             what arrived, as JSON (Authorization redacted)
  ///   DELETE /requests             forget it
  ///   PUT    /identity?mode=M      normal, invalid_grant, invalid_client, slow, down
  ///   DELETE /identity/access-tokens, /identity/refresh-tokens   revoke them
  std::uint16_t control_port() const;

  /// Changes the data every caller sees (as Partner Center's refresh would).
  void set_data_version(unsigned version);

  /// The identity endpoint's behaviour from now on.
  void set_identity_mode(identity_mode mode);
  /// Revokes every access token issued so far (with require_issued_tokens, upstream
  /// answers them 401), or every refresh token (the next redemption gets invalid_grant).
  void revoke_access_tokens();
  void revoke_refresh_tokens();
  /// The consent flow done again: a new valid refresh token.
  std::string consent();
  /// The refresh token most recently issued (the starting one until the first redemption).
  std::string latest_refresh_token() const;
  /// Every access token issued so far, revoked ones too ("Bearer <JWT>").
  std::vector<std::string> issued_access_tokens() const;

  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// ---- the data, as pure functions (tests compute expectations with them) ----

/// A stable short id of whose data a credential sees: its tenant for a JWT with a tid
/// claim (tokens of one tenant see the same data, as in Partner Center), the whole
/// value otherwise.
std::string caller_id(std::string_view authorization);

/// A bearer JWT the fake accepts (or, with a bad signature, rejects with 401):
/// "Bearer <header>.<payload with tid, exp, nonce>.<signature>".
std::string make_test_jwt(std::string_view tenant_id, std::chrono::system_clock::time_point expires,
                          bool valid_signature = true, std::string_view nonce = "1");

struct usage_page {
  std::string body;              // exactly what the fake sends
  std::string next_token;        // "" on the last page
};

struct page_style {
  bool bom = false;             // leading UTF-8 byte-order mark
  std::string_view link_base;   // prefix of links.next ("" keeps it relative, as Partner Center does)
  bool body_etag = false;       // attributes.etag in the envelope
  unsigned version = 0;         // data version (0: the original data)
  std::size_t late_field_from = static_cast<std::size_t>(-1);  // records from this index carry "tags" and "review"
};

/// One usage record, exactly as the fake sends it.
std::string usage_record(std::string_view caller, std::size_t index, const page_style& style = {});

/// Page of usage records starting at `offset` for the caller.
usage_page render_usage_page(std::string_view caller, std::size_t offset, std::size_t size,
                             std::size_t total, const page_style& style = {});

/// The continuation token for `offset` (opaque on the wire: contains / _ , =).
std::string continuation_token(std::string_view caller, std::size_t offset);

}  // namespace pcproxy::testing
