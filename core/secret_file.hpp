#pragma once
// Secrets kept in files (a client secret, a refresh token, a Redis password, an
// encryption key): read at start-up, trailing whitespace and line ends removed.
#include <string>
#include <string_view>

namespace pcproxy::core {

/// The file's text without trailing whitespace. Start-up: throws std::runtime_error
/// naming `key` (the configuration key that points at the file) when the file cannot
/// be read or holds nothing. The message never contains the secret.
std::string read_secret_file(const std::string& path, std::string_view key);

}  // namespace pcproxy::core
