#pragma once
// The shared networking vocabulary: namespace aliases and the completion token every
// coroutine uses. Asio and Beast are compiled once (core/asio_impl.cpp), so including
// this header costs declarations only.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>

namespace pcproxy {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

/// Completion token for data-plane I/O: errors come back as the first tuple element
/// instead of exceptions (`auto [ec, n] = co_await op(..., use_nothrow);`).
inline constexpr auto use_nothrow = net::as_tuple(net::use_awaitable);

template <typename T>
using awaitable = net::awaitable<T>;

}  // namespace pcproxy
