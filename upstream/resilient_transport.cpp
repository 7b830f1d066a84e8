#include "upstream/resilient_transport.hpp"

#include "core/log.hpp"
#include "upstream/retry_policy.hpp"

#include <random>

namespace pcproxy::upstream {

namespace http = beast::http;
using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;

namespace {

const std::shared_ptr<spdlog::logger>& log() {
  static const auto l = core::logger("upstream");
  return l;
}

// Whether an attempt's outcome says something about upstream's health.
bool healthy(const result& r) {
  if (r.answer) return r.answer->status < 500;  // 4xx (429 included) is upstream working
  return r.error == failure::too_large;         // a size limit of ours, not upstream's fault
}

std::string outcome_of(const result& r) {
  return r.answer ? std::to_string(r.answer->status) : std::string(to_string(r.error)) + " (" + r.detail + ")";
}

}  // namespace

std::function<double()> system_uniform01() {
  return [] {
    thread_local std::mt19937_64 generator{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(generator);
  };
}

resilient_transport::resilient_transport(std::shared_ptr<transport> inner, const config::config& settings,
                                         std::shared_ptr<const core::clock> clock,
                                         std::function<double()> uniform01, random_source random)
    : inner_(std::move(inner)),
      retry_(std::make_shared<const config::retry_config>(settings.retry)),
      deadline_(settings.upstream.deadline_ms),
      clock_(clock),
      uniform01_(std::move(uniform01)),
      random_(std::move(random)),
      budget_(settings.retry.budget_ratio, clock),
      breaker_(settings.circuit.failure_threshold, milliseconds(settings.circuit.open_ms), clock),
      throttle_(clock) {
  breaker_.reconfigure(settings.circuit.enabled, settings.circuit.failure_threshold,
                       milliseconds(settings.circuit.open_ms));
}

void resilient_transport::apply(const config::config& settings) {
  retry_.store(std::make_shared<const config::retry_config>(settings.retry));
  budget_.set_ratio(settings.retry.budget_ratio);
  breaker_.reconfigure(settings.circuit.enabled, settings.circuit.failure_threshold,
                       milliseconds(settings.circuit.open_ms));
}

awaitable<result> resilient_transport::send(const request& req, correlation corr, bool idempotent) {
  const auto retry_settings = retry_.load();  // one request keeps one set of settings
  const auto& retry = *retry_settings;
  const std::string_view target = req.target;
  const auto path = target.substr(0, target.find('?'));

  if (const auto wait = throttle_.remaining(req.scope)) {
    ++throttle_rejections_;
    result held;
    held.error = failure::throttled;
    held.retry_after = *wait;
    held.detail = "Partner Center throttled this caller; its Retry-After has " + std::to_string(wait->count()) +
                  " ms to run";
    held.sent = std::move(corr);
    co_return held;
  }
  const auto permit = breaker_.allow();
  if (!permit.allowed) {
    ++circuit_rejections_;
    result refused;
    refused.error = failure::circuit_open;
    refused.retry_after = permit.retry_after;
    refused.detail = "the circuit to upstream is open after " + std::to_string(breaker_.consecutive_failures()) +
                     " consecutive failures; the next probe goes in " + std::to_string(permit.retry_after.count()) +
                     " ms";
    refused.sent = std::move(corr);
    co_return refused;
  }

  ++requests_;
  budget_.record_request();
  request attempt_req = req;
  attempt_req.deadline = req.deadline.value_or(steady::now() + deadline_);
  const auto deadline = *attempt_req.deadline;
  const bool retryable = method_is_retryable(req.method, retry);
  std::vector<attempt_record> records;
  result last;
  for (int attempt = 1;; ++attempt) {
    ++attempts_;
    last = co_await inner_->send(attempt_req, corr, idempotent);
    corr = last.sent;  // the ids this attempt carried: the vector goes on from here
    if (req.check && last.answer && last.answer->status == 200) {
      if (auto problem = req.check(*last.answer); !problem.empty()) {
        last.answer.reset();
        last.error = failure::bad_response;
        last.detail = std::move(problem);
        if (!last.attempts.empty()) {
          last.attempts.back().status = 0;
          last.attempts.back().error = failure::bad_response;
        }
      }
    }
    records.insert(records.end(), last.attempts.begin(), last.attempts.end());

    const unsigned status = last.answer ? last.answer->status : 0;
    std::optional<milliseconds> retry_after;
    if (last.answer)
      if (const auto it = last.answer->headers.find(http::field::retry_after); it != last.answer->headers.end())
        retry_after = parse_retry_after(it->value(), clock_->now());
    if (status == 429 && retry_after) {
      const auto wait = std::min(*retry_after, milliseconds(retry.max_retry_after_ms));
      throttle_.hold(req.scope, wait);
      if (hold_listener_) hold_listener_(req.scope, wait);
    }

    const auto step = after_attempt(status, last.error, retryable, retry);
    const auto prefix = fmt::format("{} {} attempt {}/{}: {}", http::to_string(req.method), path, attempt,
                                    retry.max_attempts, outcome_of(last));
    const auto ids = fmt::format("MS-CorrelationId={} MS-RequestId={} MS-CV={}", corr.correlation_id,
                                 corr.request_id, corr.vector);
    if (step == next_step::done) {
      if (attempt > 1 || !healthy(last)) log()->warn("{}; final. {}", prefix, ids);
      break;
    }
    if (attempt >= retry.max_attempts) {
      log()->warn("{}; retry.max_attempts reached. {}", prefix, ids);
      break;
    }
    const auto wait = retry_wait(attempt, retry_after, uniform01_(), retry);
    if (steady::now() + wait >= deadline) {
      log()->warn("{}; not retried: waiting {} ms would pass upstream.deadline_ms. {}", prefix, wait.count(), ids);
      break;
    }
    if (!budget_.try_spend()) {
      log()->warn("{}; not retried: the retry budget (retry.budget_ratio) is spent. {}", prefix, ids);
      break;
    }
    const bool new_id = step == next_step::retry_new_id;
    log()->warn("{}; retrying in {} ms with {} MS-RequestId. {}", prefix, wait.count(), new_id ? "a new" : "the same",
                ids);
    ++retries_;
    if (wait.count() > 0) {
      net::steady_timer timer(co_await net::this_coro::executor);
      timer.expires_after(wait);
      co_await timer.async_wait(use_nothrow);
    }
    if (new_id) corr.request_id = new_uuid(random_);
  }
  breaker_.record(healthy(last), permit.probe);
  last.attempts = std::move(records);
  co_return last;
}

bool resilient_transport::ready_for(const std::string& scope) const {
  return !throttle_.remaining(scope) && breaker_.current() != circuit_breaker::state::open && !budget_.spent();
}

void resilient_transport::hold(const std::string& scope, milliseconds wait) {
  throttle_.hold(scope, std::min(wait, milliseconds(retry_.load()->max_retry_after_ms)));
}

void resilient_transport::on_hold(std::function<void(const std::string&, milliseconds)> listener) {
  hold_listener_ = std::move(listener);
}

resilient_transport::statistics resilient_transport::stats() const {
  statistics s;
  s.requests = requests_.load();
  s.attempts = attempts_.load();
  s.retries = retries_.load();
  s.budget_rejections = budget_.stats().rejections;
  s.circuit_rejections = circuit_rejections_.load();
  s.throttle_rejections = throttle_rejections_.load();
  s.circuit = breaker_.current();
  s.throttled_scopes = throttle_.held();
  return s;
}

}  // namespace pcproxy::upstream
