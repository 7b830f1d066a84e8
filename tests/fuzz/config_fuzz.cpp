// The config loader: a config file's JSON text (comments and trailing commas allowed),
// every key's value. Anything that is not a valid config is a config_error listing
// problems, never a crash or another exception; what loads validates and prints.
#include "config/loader.hpp"
#include "tests/fuzz/fuzz_input.hpp"

using namespace pcproxy;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto c = config::from_json(fuzz::as_text(data, size));
    fuzz::require(config::validate(c).empty());
    (void)config::to_json(c);
  } catch (const config::config_error& e) {
    fuzz::require(!e.problems().empty());
  }
  return 0;
}
