#include "core/log.hpp"

#include "core/json_text.hpp"

#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <pthread.h>
#include <sched.h>

#include <chrono>
#include <mutex>
#include <unordered_map>

namespace pcproxy::core {
namespace {

// {"time":"...Z","level":"info","logger":"server","msg":"..."}. The access logger's
// payload is already a list of JSON members and is spliced in as is.
class json_formatter final : public spdlog::formatter {
public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line;
    line.reserve(msg.payload.size() + 96);
    line += "{\"time\":\"";
    append_time(line, msg.time);
    line += "\",\"level\":\"";
    const auto level = spdlog::level::to_string_view(msg.level);
    line.append(level.data(), level.size());
    line += "\",\"logger\":";
    append_json_string(line, std::string_view(msg.logger_name.data(), msg.logger_name.size()));
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    if (msg.logger_name == "access" && !payload.empty() && payload.front() == '"') {
      line += ',';
      line += payload;
    } else {
      line += ",\"msg\":";
      append_json_string(line, payload);
    }
    line += "}\n";
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<json_formatter>();
  }

private:
  static void append_time(std::string& out, spdlog::log_clock::time_point tp) {
    const auto t = std::chrono::system_clock::to_time_t(tp);
    std::tm tm{};
    gmtime_r(&t, &tm);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(tp.time_since_epoch()).count() %
        1000;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms));
    out += buf;
  }
};

// The log thread is woken for every queued line. As an ordinary thread it preempts the
// io thread that queued it: two context switches per request on a busy core, which made
// a cache hit with the access log on cost 26-28 us of CPU instead of 17. A SCHED_BATCH
// thread is never woken into preemption: it keeps its fair share of the CPU but writes
// its lines in batches, when the io threads wait or at the scheduler's tick. Named so
// that `top -H` tells it apart.
void start_log_thread() noexcept {
  pthread_setname_np(pthread_self(), "pcproxy-log");
  sched_param param{};
  pthread_setschedparam(pthread_self(), SCHED_BATCH, &param);  // best effort: logs work either way
}

struct logging_state {
  std::mutex mutex;
  // 8,192 queued lines (~130 ms of access log at 60k req/s). Each slot is ~400 bytes,
  // touched when the queue is built: 16,384 slots cost 20 ms of start-up in page faults.
  std::shared_ptr<spdlog::details::thread_pool> pool =
      std::make_shared<spdlog::details::thread_pool>(8192, 1, start_log_thread);
  std::shared_ptr<spdlog::sinks::dist_sink_mt> output =
      std::make_shared<spdlog::sinks::dist_sink_mt>();
  std::unordered_map<std::string, std::shared_ptr<spdlog::logger>> loggers;
  spdlog::level::level_enum level = spdlog::level::info;
  bool configured = false;

  logging_state() {
    // Until configure_logging runs (or if it never does, as in unit tests): stderr, text.
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    sink->set_formatter(std::make_unique<spdlog::pattern_formatter>(
        "%Y-%m-%dT%H:%M:%S.%eZ %l [%n] %v", spdlog::pattern_time_type::utc));
    output->set_sinks({sink});
  }
};

logging_state& state() {
  static auto* s = new logging_state();  // never destroyed: loggers outlive statics
  return *s;
}

}  // namespace

void configure_logging(const log_settings& settings, spdlog::sink_ptr sink) {
  auto& s = state();
  std::lock_guard lock(s.mutex);
  if (!sink) sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  if (settings.format == log_format::json) {
    sink->set_formatter(std::make_unique<json_formatter>());
  } else {
    sink->set_formatter(std::make_unique<spdlog::pattern_formatter>(
        "%Y-%m-%dT%H:%M:%S.%eZ %l [%n] %v", spdlog::pattern_time_type::utc));
  }
  s.output->set_sinks({sink});
  s.level = settings.level;
  for (auto& [name, log] : s.loggers) log->set_level(settings.level);
  s.configured = true;
}

std::shared_ptr<spdlog::logger> logger(std::string_view module) {
  auto& s = state();
  std::lock_guard lock(s.mutex);
  auto it = s.loggers.find(std::string(module));
  if (it != s.loggers.end()) return it->second;
  auto log = std::make_shared<spdlog::async_logger>(std::string(module), s.output, s.pool,
                                                    spdlog::async_overflow_policy::overrun_oldest);
  log->set_level(s.level);
  log->flush_on(spdlog::level::err);
  s.loggers.emplace(std::string(module), log);
  return log;
}

void flush_logs() {
  auto& s = state();
  std::vector<std::shared_ptr<spdlog::logger>> all;
  {
    std::lock_guard lock(s.mutex);
    for (auto& [name, log] : s.loggers) all.push_back(log);
  }
  for (auto& log : all) log->flush();
  // An async flush only queues a request; waiting for the queue to drain makes it real.
  while (s.pool->queue_size() > 0) std::this_thread::yield();
  s.output->flush();
}

}  // namespace pcproxy::core
