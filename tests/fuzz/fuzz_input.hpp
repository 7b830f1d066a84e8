#pragma once
// Helpers for the libFuzzer targets: cutting one input into the parts a target feeds
// to several parsers, so that the corpus stays plain text a person can read and edit.
// Thread-safety: free functions.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace pcproxy::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// `text` cut at every `separator` (at most `max_parts` parts; the last keeps the rest).
inline std::vector<std::string_view> split(std::string_view text, char separator, std::size_t max_parts) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < max_parts) {
    const auto at = text.find(separator);
    if (at == std::string_view::npos) break;
    parts.push_back(text.substr(0, at));
    text.remove_prefix(at + 1);
  }
  parts.push_back(text);
  return parts;
}

/// A bug the fuzzer found: abort, so libFuzzer keeps the input that showed it.
inline void require(bool holds) {
  if (!holds) __builtin_trap();
}

}  // namespace pcproxy::fuzz
