// MS-CV correlation vectors and request ids from callers: a vector pcproxy accepts stays
// valid when it is extended or incremented, and whatever a caller sends, the
// correlation pcproxy sends upstream is well formed.
#include "tests/fuzz/fuzz_input.hpp"
#include "upstream/correlation.hpp"

using namespace pcproxy;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto parts = fuzz::split(fuzz::as_text(data, size), '\n', 3);
  const auto cv = parts[0];
  if (upstream::is_valid_vector(cv)) {
    fuzz::require(upstream::is_valid_vector(upstream::increment_vector(cv)));
    const auto extended = upstream::extend_vector(cv);
    fuzz::require(upstream::is_valid_vector(extended));
  }
  (void)upstream::is_uuid(cv);
  const auto random = [](unsigned char* out, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<unsigned char>(i * 37 + 11);
  };
  const auto corr = upstream::correlation_for_request(parts.size() > 1 ? parts[1] : std::string_view{},
                                                      parts.size() > 2 ? parts[2] : std::string_view{}, cv, random);
  fuzz::require(upstream::is_uuid(corr.correlation_id) && upstream::is_uuid(corr.request_id));
  fuzz::require(upstream::is_valid_vector(corr.vector));
  return 0;
}
