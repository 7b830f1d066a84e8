#include "core/metrics.hpp"

#include <cmath>
#include <cstdio>
#include <functional>
#include <thread>

namespace pcproxy::core {

namespace {
constexpr std::size_t counters_per_line = 64 / sizeof(std::atomic<std::uint64_t>);
}

counter_array::counter_array(std::size_t size)
    : size_(size),
      stride_((size + counters_per_line - 1) / counters_per_line * counters_per_line),
      counts_(new std::atomic<std::uint64_t>[stripes * stride_]) {
  for (std::size_t i = 0; i < stripes * stride_; ++i) counts_[i].store(0, std::memory_order_relaxed);
}

std::size_t counter_array::stripe() noexcept {
  thread_local const std::size_t mine = std::hash<std::thread::id>{}(std::this_thread::get_id()) % stripes;
  return mine;
}

void counter_array::add(std::size_t index, std::uint64_t delta) noexcept {
  counts_[stripe() * stride_ + index].fetch_add(delta, std::memory_order_relaxed);
}

std::uint64_t counter_array::value(std::size_t index) const noexcept {
  std::uint64_t sum = 0;
  for (std::size_t s = 0; s < stripes; ++s) sum += counts_[s * stride_ + index].load(std::memory_order_relaxed);
  return sum;
}

histogram_array::histogram_array(std::size_t size, std::vector<double> bounds)
    : bounds_(std::move(bounds)), per_index_(bounds_.size() + 2), counts_(size * per_index_) {}

void histogram_array::observe(std::size_t index, double seconds) noexcept {
  const auto base = index * per_index_;
  std::size_t bucket = 0;
  while (bucket < bounds_.size() && seconds > bounds_[bucket]) ++bucket;
  counts_.add(base + bucket);  // per-bucket counts; cumulated on read
  counts_.add(base + bounds_.size() + 1, static_cast<std::uint64_t>(std::max(0.0, seconds) * 1e9));
}

histogram_array::snapshot histogram_array::read(std::size_t index) const {
  const auto base = index * per_index_;
  snapshot s;
  std::uint64_t running = 0;
  for (std::size_t b = 0; b <= bounds_.size(); ++b) {
    running += counts_.value(base + b);
    s.cumulative.push_back(running);
  }
  s.count = running;
  s.sum = static_cast<double>(counts_.value(base + bounds_.size() + 1)) / 1e9;
  return s;
}

std::vector<double> histogram_array::latency_bounds() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
}

std::string format_metric_value(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

void exposition_writer::family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  for (char c : help) {  // HELP escapes backslash and newline
    if (c == '\\') out_ += "\\\\";
    else if (c == '\n') out_ += "\\n";
    else out_ += c;
  }
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void exposition_writer::name_and_labels(std::string_view name, const labels& l, std::string_view extra_name,
                                        std::string_view extra_value) {
  out_ += name;
  if (l.empty() && extra_name.empty()) return;
  out_ += '{';
  bool first = true;
  auto label = [&](std::string_view k, std::string_view v) {
    if (!first) out_ += ',';
    first = false;
    out_ += k;
    out_ += "=\"";
    for (char c : v) {
      if (c == '\\') out_ += "\\\\";
      else if (c == '"') out_ += "\\\"";
      else if (c == '\n') out_ += "\\n";
      else out_ += c;
    }
    out_ += '"';
  };
  for (const auto& [k, v] : l) label(k, v);
  if (!extra_name.empty()) label(extra_name, extra_value);
  out_ += '}';
}

void exposition_writer::sample(std::string_view name, const labels& l, double value) {
  name_and_labels(name, l);
  out_ += ' ';
  out_ += format_metric_value(value);
  out_ += '\n';
}

void exposition_writer::sample(std::string_view name, const labels& l, std::uint64_t value) {
  name_and_labels(name, l);
  out_ += ' ';
  out_ += std::to_string(value);
  out_ += '\n';
}

void exposition_writer::histogram(std::string_view name, const labels& l, const std::vector<double>& bounds,
                                  const histogram_array::snapshot& s) {
  const std::string bucket = std::string(name) + "_bucket";
  for (std::size_t b = 0; b <= bounds.size(); ++b) {
    const auto le = b < bounds.size() ? format_metric_value(bounds[b]) : std::string("+Inf");
    name_and_labels(bucket, l, "le", le);
    out_ += ' ';
    out_ += std::to_string(s.cumulative[b]);
    out_ += '\n';
  }
  sample(std::string(name) + "_sum", l, s.sum);
  sample(std::string(name) + "_count", l, s.count);
}

}  // namespace pcproxy::core
