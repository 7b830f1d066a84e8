#pragma once
// A strict reader of the Prometheus text exposition format 0.0.4, for tests: it
// reports every rule a scrape breaks and gives the samples back for value checks.
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pcproxy::testing {

struct scrape {
  std::vector<std::string> errors;                // empty when the text follows the format
  std::map<std::string, std::string> types;       // family -> counter|gauge|histogram|...
  std::map<std::string, double> samples;          // "name{a="x",b="y"}" (labels sorted) -> value

  /// The value of a series, by name and labels in any order.
  std::optional<double> value(const std::string& name,
                              std::vector<std::pair<std::string, std::string>> labels = {}) const;
  /// The sum over every series of `name` whose labels include `labels`.
  double sum(const std::string& name, std::vector<std::pair<std::string, std::string>> labels = {}) const;
};

scrape check_exposition(const std::string& text);

}  // namespace pcproxy::testing
