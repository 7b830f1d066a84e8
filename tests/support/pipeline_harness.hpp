#pragma once
// A pipeline driven without sockets, for unit tests of its cache rules: the real
// service with a scripted upstream and a manual clock, requests handed to its handlers
// on a private io_context. Routes: usage records (policy cache), /v1/http/* (policy
// http) and everything else passed.
#include "config/config.hpp"
#include "proxy/service.hpp"
#include "server/handler.hpp"
#include "tests/support/manual_clock.hpp"
#include "tests/support/scripted_upstream.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace pcproxy::testing {

namespace http = beast::http;

struct answer {
  unsigned status = 0;
  std::string body;
  http::fields fields;
  std::string head;
  std::string header_block;
  std::string header(std::string_view name) const {
    if (auto it = fields.find(name); it != fields.end()) return std::string(it->value());
    const std::string needle = std::string(name) + ": ";
    for (const auto* lines : {&head, &header_block}) {
      const auto at = lines->find(needle);
      if (at == std::string::npos || (at != 0 && (*lines)[at - 1] != '\n')) continue;
      const auto start = at + needle.size();
      return lines->substr(start, lines->find("\r\n", start) - start);
    }
    return {};
  }
};

class pipeline_harness : public ::testing::Test {
protected:
  pipeline_harness() {
    settings.routes = {{"/v1/customers/usagerecords", config::cache_policy::cache, 3600, 300, true},
                       {"/v1/http/*", config::cache_policy::http, 0, 0, false},
                       {"/*", config::cache_policy::pass, 0, 0, false}};
    settings.cache.stale_if_error_s = 86400;
    settings.cache.single_flight_wait_ms = 5000;
  }

  proxy::service& service() {
    if (!svc) svc = std::make_unique<proxy::service>(settings, upstream, clock);
    return *svc;
  }

  // Sends requests concurrently and runs until all are answered.
  std::vector<answer> send_all(const std::vector<server::request>& reqs, server::request_info info = loopback(),
                               bool admin = false) {
    auto handler = admin ? service().admin_handler() : service().proxy_handler();
    std::vector<answer> out(reqs.size());
    for (std::size_t i = 0; i < reqs.size(); ++i)
      net::co_spawn(ioc, [&, i]() -> awaitable<void> {
        auto res = co_await handler->handle(reqs[i], info);
        out[i].status = res.status;
        out[i].fields = res.fields;
        out[i].head = res.head;
        if (res.body) out[i].body = *res.body;
        if (res.header_block) out[i].header_block = *res.header_block;
      }, net::detached);
    ioc.restart();
    ioc.run();
    return out;
  }
  answer send(const server::request& req, server::request_info info = loopback()) {
    return send_all({req}, info)[0];
  }
  answer send_admin(const server::request& req) { return send_all({req}, loopback(), true)[0]; }

  static server::request_info from(const char* address) {
    server::request_info info;
    info.peer = tcp::endpoint(net::ip::make_address(address), 40000);
    info.received_at = std::chrono::steady_clock::now();
    return info;
  }
  static server::request_info loopback() { return from("127.0.0.1"); }

  static server::request get(std::string target = "/v1/customers/usagerecords",
                             std::vector<std::pair<std::string, std::string>> headers = {},
                             std::string authorization = "Bearer alice") {
    server::request req{http::verb::get, target, 11};
    req.set(http::field::host, "pcproxy");
    if (!authorization.empty()) req.set(http::field::authorization, authorization);
    for (auto& [k, v] : headers) req.set(k, v);
    return req;
  }

  net::io_context ioc;
  config::config settings;
  std::shared_ptr<scripted_upstream> upstream = std::make_shared<scripted_upstream>();
  std::shared_ptr<manual_clock> clock = std::make_shared<manual_clock>();
  std::unique_ptr<proxy::service> svc;
};

}  // namespace pcproxy::testing
