#pragma once
// SHA-256 through OpenSSL. Thread-safety: free functions, safe from any thread.
#include <array>
#include <span>
#include <string>
#include <string_view>

namespace pcproxy::core {

using sha256_digest = std::array<unsigned char, 32>;

sha256_digest sha256(std::string_view data) noexcept;

/// Lower-case hex of the first `bytes` bytes of a digest (all of them by default).
std::string to_hex(std::span<const unsigned char> digest, std::size_t bytes = std::dynamic_extent);

}  // namespace pcproxy::core
