#pragma once
// Single flight (DESIGN.md §6): concurrent misses for one key make one upstream
// request. The first caller leads and does the work; the others follow and wait, up to
// a deadline, for the leader's result. A leader that gives up without a result (an
// exception) releases its followers with nothing, and they fetch for themselves.
// Thread-safety: every member is safe from any thread.
#include "core/net.hpp"
#include "core/wakeup.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace pcproxy::proxy {

template <typename Key, typename Result, typename Hash>
class single_flight {
public:
  class flight {
    friend class single_flight;
    std::mutex mutex;
    bool done = false;
    std::shared_ptr<const Result> result;
    std::vector<std::shared_ptr<core::wakeup>> waiters;
  };

  /// Leads the flight for `key` (leader = true; call finish() when done) or follows it.
  struct ticket {
    std::shared_ptr<flight> shared;
    bool leader = false;
  };

  ticket join(const Key& key) {
    std::lock_guard lock(mutex_);
    auto [it, inserted] = flights_.try_emplace(key);
    if (inserted) it->second = std::make_shared<flight>();
    return {it->second, inserted};
  }

  bool in_flight(const Key& key) const {
    std::lock_guard lock(mutex_);
    return flights_.count(key) > 0;
  }

  /// Publishes the leader's result (nullptr: none) and wakes every follower.
  void finish(const Key& key, const std::shared_ptr<flight>& f, std::shared_ptr<const Result> result) {
    {
      std::lock_guard lock(mutex_);
      if (auto it = flights_.find(key); it != flights_.end() && it->second == f) flights_.erase(it);
    }
    std::vector<std::shared_ptr<core::wakeup>> waiters;
    {
      std::lock_guard lock(f->mutex);
      f->done = true;
      f->result = std::move(result);
      waiters.swap(f->waiters);
    }
    for (auto& w : waiters) w->wake();
  }

  /// The leader's result, or nullptr when `until` passes first or the leader had none.
  awaitable<std::shared_ptr<const Result>> wait(std::shared_ptr<flight> f,
                                                std::chrono::steady_clock::time_point until) {
    const auto executor = co_await net::this_coro::executor;
    auto w = core::wakeup::on(executor);
    {
      std::lock_guard lock(f->mutex);
      if (f->done) co_return f->result;
      f->waiters.push_back(w);
    }
    ++waiting_;
    co_await w->wait_until(until);
    --waiting_;
    std::lock_guard lock(f->mutex);
    if (f->done) co_return f->result;
    std::erase(f->waiters, w);
    co_return nullptr;
  }

  /// Followers waiting right now (for metrics).
  std::size_t waiting() const { return waiting_.load(); }

  /// Ends a flight when its leader leaves without finishing (an exception unwinding).
  class leader_guard {
  public:
    leader_guard(single_flight& owner, Key key, std::shared_ptr<flight> f)
        : owner_(owner), key_(std::move(key)), flight_(std::move(f)) {}
    leader_guard(const leader_guard&) = delete;
    leader_guard& operator=(const leader_guard&) = delete;
    ~leader_guard() {
      if (flight_) owner_.finish(key_, flight_, nullptr);
    }
    void finish(std::shared_ptr<const Result> result) {
      owner_.finish(key_, flight_, std::move(result));
      flight_.reset();
    }

  private:
    single_flight& owner_;
    Key key_;
    std::shared_ptr<flight> flight_;
  };

private:
  mutable std::mutex mutex_;
  std::unordered_map<Key, std::shared_ptr<flight>, Hash> flights_;
  std::atomic<std::size_t> waiting_{0};
};

}  // namespace pcproxy::proxy
