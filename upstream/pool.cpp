#include "upstream/pool.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace pcproxy::upstream {

connection::connection(net::any_io_executor executor, net::ssl::context* tls) {
  // Beast reads max(512, free capacity) bytes per call: without room reserved up front,
  // a 10 KB page took 20 recvmsg calls and a 470 KB page nearly a thousand.
  buffer.reserve(16 * 1024);
  if (tls)
    secure.emplace(executor, *tls);
  else
    plain.emplace(executor);
}

bool connection::looks_alive() {
  auto& socket = tcp().socket();
  if (!socket.is_open()) return false;
  // An idle keep-alive connection has nothing to read. Readable means upstream closed it
  // (EOF), reset it, or sent data nobody asked for (a TLS close_notify): all unusable.
  char byte;
  const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void connection::close() {
  error_code ignored;
  tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
  tcp().socket().close(ignored);
  connected = false;
}

lease::~lease() {
  if (conn_) owner_->give_back(std::move(conn_), false);
}

void lease::release(bool keep_alive) {
  if (conn_) owner_->give_back(std::move(conn_), keep_alive);
}

pool::pool(net::io_context& ioc, net::ssl::context* tls, std::size_t max_connections, bool single_threaded)
    : ioc_(ioc), tls_(tls), max_(max_connections), single_threaded_(single_threaded) {}

net::any_io_executor pool::executor_for_new_connection() {
  if (single_threaded_) return ioc_.get_executor();
  return net::make_strand(ioc_);
}

pool::~pool() {
  std::lock_guard lock(mutex_);
  for (auto& c : idle_) c->close();
}

awaitable<std::optional<lease>> pool::acquire(std::chrono::steady_clock::time_point until) {
  const auto executor = co_await net::this_coro::executor;
  for (;;) {
    std::shared_ptr<core::wakeup> w;
    std::vector<std::unique_ptr<connection>> stale;  // closed when destroyed
    {
      std::lock_guard lock(mutex_);
      const auto now = std::chrono::steady_clock::now();
      while (!idle_.empty()) {
        auto conn = std::move(idle_.back());
        idle_.pop_back();
        const auto idle = now - conn->idle_since;
        if (idle < unprobed_reuse || (idle < max_idle && conn->looks_alive()))
          co_return lease(this, std::move(conn), true);
        stale.push_back(std::move(conn));
        --open_;
      }
      if (open_ < max_) {
        ++open_;
        co_return lease(this, std::make_unique<connection>(executor_for_new_connection(), tls_), false);
      }
      w = core::wakeup::on(executor);
      waiters_.push_back(w);
    }
    stale.clear();  // closes them outside the lock

    const bool woken = co_await w->wait_until(until);
    std::lock_guard lock(mutex_);
    waiters_.remove(w);
    if (!woken || std::chrono::steady_clock::now() >= until) {
      // A wake-up meant for us must not be lost: hand it to the next waiter.
      if (w->woken()) wake_one_locked();
      co_return std::nullopt;
    }
  }
}

void pool::give_back(std::unique_ptr<connection> conn, bool keep_alive) {
  std::lock_guard lock(mutex_);
  if (keep_alive && conn->connected) {
    conn->idle_since = std::chrono::steady_clock::now();
    idle_.push_back(std::move(conn));
  } else {
    conn->close();
    --open_;
  }
  wake_one_locked();
}

void pool::wake_one_locked() {
  if (waiters_.empty()) return;
  auto w = std::move(waiters_.front());
  waiters_.pop_front();
  w->wake();
}

}  // namespace pcproxy::upstream
