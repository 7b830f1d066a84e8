#pragma once
// Captures pcproxy's log lines in memory for a test, and restores stderr afterwards.
#include "core/log.hpp"

#include <spdlog/sinks/ostream_sink.h>

#include <sstream>
#include <string>
#include <vector>

namespace pcproxy::testing {

class log_capture {
public:
  explicit log_capture(core::log_format format = core::log_format::json,
                       spdlog::level::level_enum level = spdlog::level::info)
      : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(stream_)) {
    core::configure_logging({level, format}, sink_);
  }
  ~log_capture() { core::configure_logging({}); }
  log_capture(const log_capture&) = delete;
  log_capture& operator=(const log_capture&) = delete;

  /// Every line logged so far (waits for the asynchronous logger to catch up).
  std::vector<std::string> lines() {
    core::flush_logs();
    std::vector<std::string> out;
    std::istringstream in(stream_.str());
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }
  std::string text() {
    core::flush_logs();
    return stream_.str();
  }

private:
  std::ostringstream stream_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

}  // namespace pcproxy::testing
