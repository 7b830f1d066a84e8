// ETag lists in If-None-Match (weak and strong tags, "*", commas inside quotes) against a
// stored validator, and the page check: the JSON scan that rejects what is not JSON and
// finds attributes.etag, and the validator built from it.
#include "cache/validator.hpp"
#include "tests/fuzz/fuzz_input.hpp"

using namespace pcproxy;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = fuzz::as_text(data, size);
  const auto parts = fuzz::split(text, '\n', 2);
  (void)cache::if_none_match_matches(parts[0], parts.size() > 1 ? parts[1] : std::string_view{"\"v\""});

  const auto scan = cache::scan_json(text);
  fuzz::require(scan.valid || !scan.error.empty());
  const auto validator = cache::validator_of("", scan.etag, text);
  // A page's own validator always matches a client that sends it back.
  fuzz::require(cache::if_none_match_matches(validator, validator));
  return 0;
}
