#include "core/metrics.hpp"
#include "tests/support/prometheus_checker.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

namespace pcproxy::core {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::check_exposition;

TEST(Metrics, StripedCountersSumAcrossThreads) {
  counter_array c(3);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) c.add(1);
      c.add(2, 5);
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.value(0), 0u);
  EXPECT_EQ(c.value(1), 40000u);
  EXPECT_EQ(c.value(2), 20u);
}

TEST(Metrics, HistogramsAreCumulativeWithSumAndCount) {
  histogram_array h(2, {0.1, 1.0});
  h.observe(1, 0.05);
  h.observe(1, 0.1);   // on the bound: counted in le="0.1"
  h.observe(1, 0.5);
  h.observe(1, 30.0);
  const auto s = h.read(1);
  EXPECT_THAT(s.cumulative, ElementsAre(2u, 3u, 4u));
  EXPECT_EQ(s.count, 4u);
  EXPECT_NEAR(s.sum, 30.65, 1e-6);
  EXPECT_EQ(h.read(0).count, 0u);
}

TEST(Metrics, TheWriterProducesValidExposition) {
  exposition_writer w;
  w.family("pcproxy_requests_total", "counter", "Requests answered.");
  w.sample("pcproxy_requests_total", {{"route", "/v1/a"}, {"method", "GET"}}, std::uint64_t{3});
  w.sample("pcproxy_requests_total", {{"route", "we\"ird\\path\nx"}, {"method", "GET"}}, std::uint64_t{1});
  w.family("pcproxy_open_connections", "gauge", "Open client connections.");
  w.sample("pcproxy_open_connections", {}, 2.0);
  histogram_array h(1, histogram_array::latency_bounds());
  h.observe(0, 0.003);
  w.family("pcproxy_request_duration_seconds", "histogram", "Time to answer.");
  w.histogram("pcproxy_request_duration_seconds", {{"route", "/v1/a"}}, h.bounds(), h.read(0));

  const auto text = w.text();
  const auto parsed = check_exposition(text);
  EXPECT_TRUE(parsed.errors.empty()) << ::testing::PrintToString(parsed.errors) << "\n" << text;
  EXPECT_EQ(parsed.value("pcproxy_requests_total", {{"route", "/v1/a"}, {"method", "GET"}}), 3.0);
  EXPECT_EQ(parsed.value("pcproxy_requests_total", {{"method", "GET"}, {"route", "we\"ird\\path\nx"}}), 1.0);
  EXPECT_THAT(text, HasSubstr(R"(route="we\"ird\\path\nx")"));
  EXPECT_EQ(parsed.value("pcproxy_request_duration_seconds_bucket", {{"route", "/v1/a"}, {"le", "0.0025"}}), 0.0);
  EXPECT_EQ(parsed.value("pcproxy_request_duration_seconds_bucket", {{"route", "/v1/a"}, {"le", "0.005"}}), 1.0);
  EXPECT_EQ(parsed.value("pcproxy_request_duration_seconds_bucket", {{"route", "/v1/a"}, {"le", "+Inf"}}), 1.0);
  EXPECT_EQ(parsed.value("pcproxy_request_duration_seconds_count", {{"route", "/v1/a"}}), 1.0);
}

TEST(Metrics, TheCheckerCatchesBrokenExposition) {
  const auto errors_of = [](const std::string& text) { return check_exposition(text).errors; };
  EXPECT_FALSE(errors_of("x_total 1\n").empty());                                        // no TYPE
  EXPECT_FALSE(errors_of("# TYPE x counter\nx 1\n").empty());                            // counter without _total
  EXPECT_FALSE(errors_of("# TYPE x_total counter\nx_total{a=\"1} 1\n").empty());         // unterminated
  EXPECT_FALSE(errors_of("# TYPE x_total counter\nx_total{a=\"\\q\"} 1\n").empty());     // bad escape
  EXPECT_FALSE(errors_of("# TYPE x_total counter\nx_total 1\nx_total 2\n").empty());     // duplicate
  EXPECT_FALSE(errors_of("# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na{x=\"y\"} 1\n").empty());  // not grouped
  EXPECT_FALSE(errors_of("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n")
                   .empty());  // not cumulative
  EXPECT_FALSE(errors_of("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n").empty());  // no +Inf
  EXPECT_FALSE(errors_of("# TYPE g gauge\ng one\n").empty());                            // bad value
  EXPECT_FALSE(errors_of("# TYPE g gauge\ng 1").empty());                                // no final newline
  EXPECT_TRUE(errors_of("# HELP g A gauge.\n# TYPE g gauge\ng 1\n").empty());
}

TEST(Metrics, ValuesAreFormattedAsPrometheusExpects) {
  EXPECT_EQ(format_metric_value(3.0), "3");
  EXPECT_EQ(format_metric_value(0.0005), "0.0005");
  EXPECT_EQ(format_metric_value(2.5), "2.5");
  EXPECT_EQ(format_metric_value(1.0 / 0.0), "+Inf");
}

}  // namespace
}  // namespace pcproxy::core
