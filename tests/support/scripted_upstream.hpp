#pragma once
// An upstream::transport that answers from a script, for deterministic pipeline tests
// without sockets: it counts calls, records requests, and can hold answers back.
#include "upstream/client.hpp"

#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <functional>
#include <mutex>
#include <vector>

namespace pcproxy::testing {

class scripted_upstream final : public upstream::transport {
public:
  /// What the next call answers; when the queue is empty, `fallback` answers.
  std::deque<upstream::result> queue;
  std::function<upstream::result(const upstream::request&)> fallback = [](const upstream::request&) {
    return ok("{\"items\":[1]}");
  };
  /// How long every answer takes (lets concurrent requests pile up behind one).
  std::chrono::milliseconds latency{0};

  static upstream::result ok(std::string body, unsigned status = 200,
                             std::vector<std::pair<std::string, std::string>> headers = {}) {
    upstream::result r;
    upstream::response a;
    a.status = status;
    a.headers.set("Content-Type", "application/json; charset=utf-8");
    for (auto& [k, v] : headers) a.headers.set(k, v);
    a.body = std::move(body);
    r.answer = std::move(a);
    return r;
  }
  static upstream::result failed(upstream::failure f, std::string detail = "scripted failure") {
    upstream::result r;
    r.error = f;
    r.detail = std::move(detail);
    return r;
  }

  awaitable<upstream::result> send(const upstream::request& req, upstream::correlation corr, bool) override {
    upstream::result r;
    corr.vector = upstream::increment_vector(corr.vector);  // as the real client does per attempt
    {
      std::lock_guard lock(mutex_);
      seen_.push_back(req);
      ids_.push_back(corr);
      if (!queue.empty()) {
        r = std::move(queue.front());
        queue.pop_front();
      } else {
        r = fallback(req);
      }
    }
    if (latency.count() > 0) {
      net::steady_timer t(co_await net::this_coro::executor);
      t.expires_after(latency);
      co_await t.async_wait(use_nothrow);
    }
    r.sent = corr;
    upstream::attempt_record record;
    record.status = r.answer ? r.answer->status : 0;
    record.error = r.error;
    record.request_id = corr.request_id;
    record.vector = corr.vector;
    r.attempts = {record};
    co_return r;
  }

  std::size_t calls() const {
    std::lock_guard lock(mutex_);
    return seen_.size();
  }
  std::vector<upstream::request> seen() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  /// The correlation ids each call carried (the vector already incremented).
  std::vector<upstream::correlation> ids() const {
    std::lock_guard lock(mutex_);
    return ids_;
  }

private:
  mutable std::mutex mutex_;
  std::vector<upstream::request> seen_;
  std::vector<upstream::correlation> ids_;
};

}  // namespace pcproxy::testing
