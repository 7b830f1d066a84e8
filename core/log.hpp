#pragma once
// Logging: one named spdlog logger per module, all writing through one asynchronous
// sink so that a request never waits on disk or terminal I/O (when the queue is full
// the oldest line is dropped rather than blocking).
// Thread-safety: every function here is safe from any thread.
#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <string_view>

namespace pcproxy::core {

enum class log_format { json, text };

struct log_settings {
  spdlog::level::level_enum level = spdlog::level::info;
  log_format format = log_format::json;
};

/// (Re)configures the process-wide output. `sink` replaces stderr (tests capture lines
/// this way). Safe to call again at any time: existing loggers follow.
void configure_logging(const log_settings& settings, spdlog::sink_ptr sink = nullptr);

/// The named logger of a module ("server", "proxy", "upstream", "access", ...).
std::shared_ptr<spdlog::logger> logger(std::string_view module);

/// Blocks until every queued line reached the sink. For shutdown and tests.
void flush_logs();

}  // namespace pcproxy::core
