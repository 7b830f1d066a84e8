#pragma once
// The built pcproxy binary as a child process, for tests that need a real process:
// signals, exit codes, restarts, start-up errors. Integration tests only (they know
// PCPROXY_BINARY).
#include "tests/support/child_process.hpp"

#include <chrono>
#include <memory>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

namespace pcproxy::testing {

struct pcproxy_process {
  std::unique_ptr<child_process> process;
  std::uint16_t port = 0;
  std::uint16_t admin = 0;
};

/// Starts pcproxy with `args` and `env` and waits until it listens. With
/// `listen_flags`, both listeners are on free loopback ports (the flags come first, so
/// a config file's addresses lose to them); without, they come from the args or config.
inline pcproxy_process start_pcproxy(std::vector<std::string> args, std::vector<std::string> env = {},
                                     bool listen_flags = true) {
  using namespace std::chrono_literals;
  if (listen_flags) args.insert(args.begin(), {"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"});
  pcproxy_process out;
  out.process = std::make_unique<child_process>(PCPROXY_BINARY, args, env);
  auto m = out.process->wait_for_line(std::regex(R"(listening on 127\.0\.0\.1:(\d+) \(admin 127\.0\.0\.1:(\d+)\))"), 20s);
  if (!m) throw std::runtime_error("pcproxy did not start:\n" + out.process->output());
  out.port = static_cast<std::uint16_t>(std::stoi((*m)[1]));
  out.admin = static_cast<std::uint16_t>(std::stoi((*m)[2]));
  return out;
}

}  // namespace pcproxy::testing
