#pragma once
// Runs a program (the built pcproxy binary) as a child process for tests that need a
// real process: signals, exit codes, start-up errors. Its stderr and stdout are
// captured.
#include <chrono>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace pcproxy::testing {

class child_process {
public:
  child_process(const std::string& program, const std::vector<std::string>& args,
                const std::vector<std::string>& extra_env = {});
  ~child_process();  // kills the child if it still runs
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  int pid() const noexcept { return pid_; }

  /// Reads output until a line matches `pattern`; returns the match, or nullopt when
  /// the child exits or `timeout` passes first.
  std::optional<std::smatch> wait_for_line(const std::regex& pattern, std::chrono::milliseconds timeout);

  void signal(int sig);

  /// Waits for the child to exit; its exit code (128+N for signal N), or nullopt when
  /// it is still running after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout);

  /// Everything the child wrote so far (stdout and stderr interleaved).
  const std::string& output();

private:
  bool read_some(std::chrono::milliseconds timeout);

  int pid_ = -1;
  int out_fd_ = -1;
  std::string output_;
  std::size_t scanned_ = 0;
  std::optional<int> exit_code_;
  std::vector<std::string> lines_;
};

}  // namespace pcproxy::testing
