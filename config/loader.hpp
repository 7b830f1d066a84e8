#pragma once
// Building the effective configuration: defaults < JSON file < PCPROXY_* environment <
// command-line flags, then validation. Start-up code: errors are exceptions carrying
// every problem found, each naming the field, the value and what is wrong.
// Thread-safety: free functions over values.
#include "config/config.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pcproxy::config {

/// Every problem found while loading, one line each ("listen: \"nope\" is not HOST:PORT").
class config_error : public std::runtime_error {
public:
  explicit config_error(std::vector<std::string> problems);
  const std::vector<std::string>& problems() const noexcept { return problems_; }

private:
  std::vector<std::string> problems_;
};

/// Reads one environment variable; injected so tests need not touch the process env.
using env_lookup = std::function<std::optional<std::string>(const std::string& name)>;
env_lookup process_environment();

enum class action { run, check_config, help, version, probe };

struct command_line {
  action what = action::run;
  std::string help_text;  // for action::help
  std::string probe_url;  // for action::probe
  config settings;
};

/// Parses argv and builds the effective, validated config.
/// Throws config_error listing every problem.
command_line load(int argc, const char* const* argv, const env_lookup& env);

/// The config that a config file's text describes over the defaults, validated (no
/// environment, no flags). Throws config_error listing every problem.
config from_json(std::string_view text);

/// The validation rules, exposed for tests and for reloads. Empty when valid.
std::vector<std::string> validate(const config& c);

/// The io threads to run: `threads`, or one per core when it is 0.
unsigned io_threads(const config& c);

/// The keys ("upstream.url", "routes", ...) whose values differ between two configs.
std::vector<std::string> changed_keys(const config& a, const config& b);

/// The effective config as JSON, for --check-config. Files are shown by path; their
/// contents (tokens) are never read into the config and so never printed.
std::string to_json(const config& c);

}  // namespace pcproxy::config
