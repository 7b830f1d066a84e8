#pragma once
// Handing a result back to the coroutine that awaits it, from another thread (the disk
// tier's workers) or another strand (the shared tier's Redis connection): a type-erased
// completion handler that keeps its executor busy until it delivers, and delivers there.
//
//   auto start = [&](std::unique_ptr<core::completion<int>> done) { queue.push(std::move(done)); };
//   int n = co_await core::await_completion<int>(std::move(start));   // somewhere: done->deliver(42)
//
// Name the start lambda before the co_await: GCC 12 destroys a lambda temporary inside a
// co_await expression twice (tests/CMakeLists.txt lints for it).
// Thread-safety: deliver() exactly once, from any thread.
#include "core/net.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include <memory>

namespace pcproxy::core {

template <typename Result>
class completion {
public:
  virtual ~completion() = default;
  virtual void deliver(Result result) = 0;
};

template <typename Result, typename Handler>
class completion_for final : public completion<Result> {
public:
  explicit completion_for(Handler handler)
      : handler_(std::move(handler)), guard_(net::make_work_guard(net::get_associated_executor(handler_))) {}

  void deliver(Result result) override {
    auto executor = guard_.get_executor();
    net::post(executor, [h = std::move(handler_), r = std::move(result)]() mutable { std::move(h)(std::move(r)); });
    guard_.reset();
  }

private:
  Handler handler_;
  net::executor_work_guard<net::associated_executor_t<Handler>> guard_;
};

/// Suspends until the completion that `start` receives delivers its result.
template <typename Result, typename Start>
awaitable<Result> await_completion(Start start) {
  // `start` is moved out and dies when it returns: what it captured (often the owner of
  // the queue the completion goes into) must not live on in this suspended frame, or the
  // queue, the completion, the frame and the owner keep each other alive.
  auto initiation = [start = std::move(start)](auto handler) mutable {
    using handler_type = decltype(handler);
    auto run_once = std::move(start);
    run_once(std::unique_ptr<completion<Result>>(new completion_for<Result, handler_type>(std::move(handler))));
  };
  co_return co_await net::async_initiate<decltype(net::use_awaitable), void(Result)>(std::move(initiation),
                                                                                   net::use_awaitable);
}

}  // namespace pcproxy::core
