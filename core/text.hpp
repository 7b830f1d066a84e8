#pragma once
// Small text helpers every layer needs, written once: HTTP's optional whitespace,
// ASCII case-insensitive comparison, whole-string numbers.
// Thread-safety: free functions over values.
#include <charconv>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace pcproxy::core {

/// `s` without leading and trailing spaces and tabs (HTTP's OWS).
constexpr std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

/// ASCII case-insensitive equality (header names, directives, tokens).
constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

/// The number `s` spells, when all of `s` is one (no sign for unsigned types, no
/// whitespace); nullopt otherwise, overflow included.
template <typename Number>
std::optional<Number> parse_number(std::string_view s) noexcept {
  Number out{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return out;
}

/// `s` in double quotes (for messages and entity-tags).
inline std::string quoted(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  out.append(s);
  out.push_back('"');
  return out;
}

}  // namespace pcproxy::core
