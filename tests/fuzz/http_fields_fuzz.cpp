// The response and request fields the cache reads (RFC 9111): Cache-Control (quoted
// arguments, duplicates, bad numbers), Expires, Date, Age and Last-Modified through the
// freshness and age rules, Vary and its selecting headers, a 304's fields merged into
// a stored response, and what http_store decides. Input: "Name: value" lines.
#include "cache/freshness.hpp"
#include "cache/http_rules.hpp"
#include "tests/fuzz/fuzz_input.hpp"

#include <chrono>

using namespace pcproxy;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = fuzz::as_text(data, size);
  cache::header_list fields;
  for (const auto line : fuzz::split(text, '\n', 64)) {
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    auto value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    fields.push_back({std::string(line.substr(0, colon)), std::string(value)});
  }
  const auto directives = cache::parse_cache_control(text);
  fuzz::require(!(directives.max_age && directives.max_age->count() < 0));
  fuzz::require(!(directives.s_maxage && directives.s_maxage->count() < 0));

  const core::sys_time now{std::chrono::seconds(1'700'000'000)};
  const auto lifetime = cache::freshness_lifetime(fields, 200, now);
  fuzz::require(lifetime.count() >= 0);
  const auto age = cache::corrected_initial_age(fields, now - std::chrono::seconds(1), now);
  fuzz::require(age.count() >= 0);
  if (auto names = cache::vary_names(fields)) (void)cache::selecting_headers(*names, fields);
  (void)cache::field_names(fields);
  const auto merged = cache::merge_updated_headers(fields, fields);
  fuzz::require(merged.size() == fields.size());  // every field replaced by its own update
  const cache::cache_control none;
  for (const unsigned status : {200u, 203u, 204u, 206u, 301u, 304u, 404u, 500u}) {
    const auto stored = cache::http_store({status, fields, directives, false, now, now});
    if (stored) fuzz::require(stored->lifetime.count() >= 0 && stored->initial_age.count() >= 0);
    (void)cache::http_store({status, fields, none, true, now, now});
  }
  return 0;
}
