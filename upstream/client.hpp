#pragma once
// The upstream HTTP(S) client: one origin, a bounded keep-alive connection pool,
// certificate and host name verification, connect / per-try / overall deadlines and a
// response size cap. Failures are values (upstream::failure), never exceptions.
// Thread-safety: send() may be called concurrently from any executor.
#include "config/config.hpp"
#include "config/loader.hpp"
#include "core/net.hpp"
#include "upstream/correlation.hpp"

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pcproxy::upstream {

namespace http = beast::http;

/// Why an attempt produced no usable response.
enum class failure {
  none,
  connect,          // name resolution, refused, unreachable, connect timeout
  tls,              // handshake failed: untrusted certificate, wrong host name, protocol
  timeout,          // no complete response within upstream.try_timeout_ms
  deadline,         // upstream.deadline_ms passed (waiting for a connection included)
  connection_lost,  // the connection closed or reset mid-exchange
  bad_response,     // not a parseable HTTP response, or one the request's check refused
  too_large,        // body larger than upstream.max_body_bytes
  circuit_open,     // not sent: the circuit breaker is open
  throttled,        // not sent: upstream throttled this scope and its Retry-After runs
};
const char* to_string(failure f);

struct response;

struct request {
  http::verb method = http::verb::get;
  std::string target;   // origin-form: path and query
  http::fields headers; // end-to-end fields; Host, framing and correlation are set here
  std::string body;
  std::string scope;    // whose request (a cache scope id): upstream throttling is per scope
  /// Looks at a 200 before it is accepted: a non-empty result says why the answer is
  /// unusable, and the attempt counts as a bad response (retried like one).
  std::function<std::string(const response&)> check;
  /// The overall deadline; unset: upstream.deadline_ms from the first attempt.
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

struct response {
  unsigned status = 0;
  http::fields headers;
  std::string body;
};

/// One try at the upstream, for logs and debugging headers.
struct attempt_record {
  unsigned status = 0;  // 0 when no response arrived
  failure error = failure::none;
  std::chrono::microseconds duration{};
  std::string request_id;
  std::string vector;
};

struct result {
  std::optional<response> answer;  // set when upstream answered (any status)
  failure error = failure::none;   // set when it did not
  std::string detail;              // what went wrong, in words an operator can act on
  std::optional<std::chrono::milliseconds> retry_after;  // circuit_open, throttled: when to come back
  correlation sent;                // the ids the final attempt carried
  std::vector<attempt_record> attempts;
  std::chrono::microseconds upstream_time{};
};

/// Where the proxy sends requests: the real client below, or a scripted one in tests.
class transport {
public:
  virtual ~transport() = default;
  /// Sends `req` with the correlation ids of `corr` (its vector is incremented before
  /// every attempt). `idempotent` permits resending.
  virtual awaitable<result> send(const request& req, correlation corr, bool idempotent) = 0;
  /// Whether a request of `scope` that nobody waits for (a prefetch) may go now: not
  /// while upstream throttles the scope, the circuit is open or retries are rationed.
  virtual bool ready_for(const std::string& scope) const {
    (void)scope;
    return true;
  }
};

class client final : public transport {
public:
  /// Start-up: throws std::runtime_error when the TLS settings cannot be applied
  /// (e.g. an unreadable upstream.ca_file).
  /// `io_threads`: how many threads run `ioc` (1: no strands needed).
  client(net::io_context& ioc, const config::upstream_config& settings, unsigned io_threads);
  ~client() override;
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// Sends `req` with the correlation ids of `corr` (its vector is incremented first).
  /// `idempotent` allows a transparent resend when a reused keep-alive connection turns
  /// out to have been closed by upstream before it answered.
  awaitable<result> send(const request& req, correlation corr, bool idempotent) override;

  const config::origin& origin() const noexcept;

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace pcproxy::upstream
