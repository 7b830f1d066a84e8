// pcproxy: read the configuration, build the object graph, serve until SIGTERM/SIGINT;
// SIGHUP reloads the configuration.
#include "config/loader.hpp"
#include "core/log.hpp"
#include "core/net.hpp"
#include "proxy/service.hpp"
#include "server/export_client.hpp"
#include "server/probe.hpp"
#include "server/server.hpp"

#include <boost/asio/signal_set.hpp>

#include <algorithm>
#include <csignal>
#include <iostream>
#include <thread>
#include <vector>

#ifndef PCPROXY_VERSION
#define PCPROXY_VERSION "0.0.0"
#endif

namespace {

using namespace pcproxy;

core::log_settings logging_of(const config::config& settings) {
  return {spdlog::level::from_str(config::to_string(settings.log.level)),
          settings.log.format == config::log_format::text ? core::log_format::text : core::log_format::json};
}

// SIGHUP: the same sources as at start (file, environment, flags), validated; an
// invalid result is refused and the running configuration stays.
void reload(int argc, char** argv, config::config& running, proxy::service& service) {
  const auto log = core::logger("pcproxy");
  config::command_line next;
  try {
    next = config::load(argc, argv, config::process_environment());
  } catch (const config::config_error& e) {
    std::string problems;
    for (const auto& p : e.problems()) problems += (problems.empty() ? "" : "; ") + p;
    log->error("configuration reload refused, keeping the running configuration: {}", problems);
    return;
  } catch (const std::exception& e) {
    log->error("configuration reload refused, keeping the running configuration: {}", e.what());
    return;
  }
  const auto changed = config::changed_keys(running, next.settings);
  std::vector<std::string> applied;
  for (const auto& key : changed) {
    if (config::reloads_live(key))
      applied.push_back(key);
    else
      log->warn("configuration reload: {} changed, which takes effect only after a restart", key);
  }
  core::configure_logging(logging_of(next.settings));
  service.apply(next.settings);
  running = next.settings;
  std::string list;
  for (const auto& k : applied) list += (list.empty() ? "" : ", ") + k;
  log->info("configuration reloaded; applied: {}", list.empty() ? "nothing changed" : list);
}

int serve(int argc, char** argv, config::config settings) {
  core::configure_logging(logging_of(settings));
  const auto log = core::logger("pcproxy");

  const auto threads = config::io_threads(settings);
  net::io_context ioc(static_cast<int>(threads));
  // Signals are taken over before the listeners open: a signal that arrives as soon as
  // "listening" is logged must find its handler, not the default action.
  net::signal_set stop_signals(ioc, SIGINT, SIGTERM);
  net::signal_set reload_signal(ioc, SIGHUP);
  std::unique_ptr<proxy::service> service;
  std::unique_ptr<server::server> http_server;
  try {
    service = std::make_unique<proxy::service>(ioc, settings);
    http_server = std::make_unique<server::server>(ioc, settings, service->proxy_handler(), service->admin_handler());
    service->set_connection_gauge([s = http_server.get()] { return s->open_connections(); });
    http_server->set_readiness_check([s = service.get()] { return s->not_ready_reason(); });
    http_server->start();
  } catch (const std::exception& e) {
    log->critical("cannot start: {}", e.what());
    core::flush_logs();
    return 1;
  }
  log->info("pcproxy {} forwarding to {} with {} io thread(s)", PCPROXY_VERSION, settings.upstream.url.base_url, threads);

  stop_signals.async_wait([&](const error_code& ec, int signal) {
    if (ec) return;
    log->info("received {}: draining", signal == SIGTERM ? "SIGTERM" : "SIGINT");
    const auto grace_end = std::chrono::steady_clock::now() + std::chrono::milliseconds(settings.limits.shutdown_grace_ms);
    http_server->shutdown([&, grace_end](bool clean) {
      service->close(grace_end);  // the disk tier writes its queue within what is left of the grace period
      log->info(clean ? "stopped cleanly" : "stopped; requests still running were cut off");
      ioc.stop();
    });
  });
  std::function<void(const error_code&, int)> on_hangup = [&](const error_code& ec, int) {
    if (ec) return;
    reload(argc, argv, settings, *service);
    reload_signal.async_wait(on_hangup);
  };
  reload_signal.async_wait(on_hangup);

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
  if (argc >= 2 && std::string_view(argv[1]) == "export")
    return server::export_collection(std::vector<std::string>(argv + 2, argv + argc), std::cout, std::cerr);
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
    case config::action::probe:
      return server::probe(cli.probe_url, std::chrono::seconds(3), std::cout);
    case config::action::run:
      break;
  }
  return serve(argc, argv, cli.settings);
}
