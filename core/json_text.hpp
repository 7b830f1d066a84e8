#pragma once
// Writing JSON string literals by hand, for the few places that emit JSON text without
// a document (log lines, error bodies). Thread-safety: free functions.
#include <string>
#include <string_view>

namespace pcproxy::core {

/// Appends `text` to `out` as a quoted JSON string, escaping as RFC 8259 requires.
/// Invalid UTF-8 bytes are replaced by U+FFFD so the output is always valid JSON.
void append_json_string(std::string& out, std::string_view text);

}  // namespace pcproxy::core
