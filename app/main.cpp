// pcproxy: read the configuration, build the object graph, serve until SIGTERM/SIGINT.
#include "config/loader.hpp"
#include "core/log.hpp"
#include "core/net.hpp"
#include "proxy/service.hpp"
#include "server/server.hpp"

#include <boost/asio/signal_set.hpp>

#include <csignal>
#include <iostream>
#include <thread>
#include <vector>

#ifndef PCPROXY_VERSION
#define PCPROXY_VERSION "0.0.0"
#endif

namespace {

using namespace pcproxy;

int serve(const config::config& settings) {
  core::log_settings logging;
  logging.level = spdlog::level::from_str(settings.log.level);
  logging.format = settings.log.format == "text" ? core::log_format::text : core::log_format::json;
  core::configure_logging(logging);
  const auto log = core::logger("pcproxy");

  const auto threads = settings.threads > 0
                           ? static_cast<unsigned>(settings.threads)
                           : std::max(1u, std::thread::hardware_concurrency());
  net::io_context ioc(static_cast<int>(threads));
  std::unique_ptr<proxy::service> service;
  std::unique_ptr<server::server> http_server;
  try {
    service = std::make_unique<proxy::service>(ioc, settings);
    http_server = std::make_unique<server::server>(ioc, settings, service->proxy_handler(),
                                                   service->admin_handler());
    http_server->start();
  } catch (const std::exception& e) {
    log->critical("cannot start: {}", e.what());
    core::flush_logs();
    return 1;
  }
  log->info("pcproxy {} forwarding to {} with {} io thread(s)", PCPROXY_VERSION,
            settings.upstream.url, threads);

  net::signal_set stop_signals(ioc, SIGINT, SIGTERM);
  stop_signals.async_wait([&](const error_code& ec, int signal) {
    if (ec) return;
    log->info("received {}: draining", signal == SIGTERM ? "SIGTERM" : "SIGINT");
    http_server->shutdown([&](bool clean) {
      log->info(clean ? "stopped cleanly" : "stopped; requests still running were cut off");
      ioc.stop();
    });
  });

  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : pool) t.join();
  core::flush_logs();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  config::command_line cli;
  try {
    cli = config::load(argc, argv, config::process_environment());
  } catch (const config::config_error& e) {
    std::cerr << "pcproxy: invalid configuration:\n";
    for (const auto& p : e.problems()) std::cerr << "  - " << p << "\n";
    return 2;
  }
  switch (cli.what) {
    case config::action::help:
      std::cout << cli.help_text;
      return 0;
    case config::action::version:
      std::cout << "pcproxy " PCPROXY_VERSION "\n";
      return 0;
    case config::action::check_config:
      std::cout << config::to_json(cli.settings) << "\nconfiguration OK\n";
      return 0;
    case config::action::run:
      break;
  }
  return serve(cli.settings);
}
