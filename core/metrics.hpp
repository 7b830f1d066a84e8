#pragma once
// Metrics primitives and the Prometheus text exposition format 0.0.4 (there is no
// Prometheus client library for C++ in Debian). Counters are striped atomics: a
// request adds to its thread's stripe with a relaxed increment, so no two io threads
// fight over one cache line and nothing takes a lock; a scrape sums the stripes.
// Thread-safety: add/observe from any thread; the writer belongs to one scrape.
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pcproxy::core {

/// `size` counters, each striped across threads.
class counter_array {
public:
  explicit counter_array(std::size_t size);
  void add(std::size_t index, std::uint64_t delta = 1) noexcept;
  std::uint64_t value(std::size_t index) const noexcept;
  std::size_t size() const noexcept { return size_; }

private:
  static constexpr std::size_t stripes = 8;
  static std::size_t stripe() noexcept;
  const std::size_t size_;
  const std::size_t stride_;  // counters per stripe, padded to whole cache lines
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
};

/// Histograms with fixed buckets (upper bounds in seconds), one per index.
class histogram_array {
public:
  histogram_array(std::size_t size, std::vector<double> bounds);
  void observe(std::size_t index, double seconds) noexcept;

  struct snapshot {
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
    std::uint64_t count = 0;
  };
  snapshot read(std::size_t index) const;
  const std::vector<double>& bounds() const noexcept { return bounds_; }

  /// Latency buckets from 0.5 ms to 2 min.
  static std::vector<double> latency_bounds();

private:
  const std::vector<double> bounds_;
  const std::size_t per_index_;  // bounds + 1 (+Inf) + 1 (sum in nanoseconds)
  counter_array counts_;
};

/// Writes the text exposition format: HELP and TYPE once per family, then samples.
/// Label values are escaped (backslash, double quote, newline).
class exposition_writer {
public:
  using labels = std::vector<std::pair<std::string_view, std::string_view>>;

  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, const labels& l, double value);
  void sample(std::string_view name, const labels& l, std::uint64_t value);
  void histogram(std::string_view name, const labels& l, const std::vector<double>& bounds,
                 const histogram_array::snapshot& s);

  const std::string& text() const noexcept { return out_; }

private:
  void name_and_labels(std::string_view name, const labels& l, std::string_view extra_name = {},
                       std::string_view extra_value = {});
  std::string out_;
};

/// A number as Prometheus writes it ("+Inf", integers without a fraction).
std::string format_metric_value(double v);

}  // namespace pcproxy::core
