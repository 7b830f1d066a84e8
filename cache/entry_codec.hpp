#pragma once
// The one binary form of an entry, shared by every tier that keeps entries outside this
// process's memory (disk, shared). What comes back from those tiers is untrusted bytes:
// a file another version wrote, a torn write, a bit flip, a value someone put in a
// shared Redis. decode() therefore checks everything before it builds an entry, and any
// doubt is a miss, never a served byte:
//
//   "PCPE" | version (1 byte) | flags (1 byte) | payload | XXH3-64 checksum (8 bytes)
//
// - version: an entry of another version is refused (unknown_version).
// - checksum: over the cache key's digest and every byte before it, so a blob stored
//   under (or copied to) another key is refused as well as a damaged one.
// - payload: status, times, freshness rules, initial age, Vary values, validator, scope,
//   path, route, the header list, and the body, zstd-compressed (flag bit 1) when that makes it smaller.
// - encryption (flag bit 0): with a key, the payload is AES-256-GCM ciphertext with a
//   random 96-bit nonce in front and the 128-bit tag after it; the key's digest and the
//   format bytes are authenticated with it. Another key, or none, cannot read it.
// Thread-safety: encode() and decode() are const and safe from any thread.
#include "cache/entry.hpp"
#include "cache/key.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace pcproxy::cache {

/// An AES-256 key (cache.disk.encryption_key_file).
struct encryption_key {
  std::array<unsigned char, 32> bytes{};
};

/// The key in a key file's text: 64 hex digits or the base64 of 32 bytes (surrounding
/// whitespace ignored). nullopt, with the reason in `why`, for anything else.
std::optional<encryption_key> parse_encryption_key(std::string_view text, std::string& why);

enum class decode_error {
  none,
  truncated,        // shorter than the fixed parts, or a field runs past the end
  unknown_version,  // not "PCPE", or a version this build does not read
  bad_checksum,     // damaged, or stored under another key
  wrong_key,        // encrypted with another key, or encryption on one side only
  corrupt,          // checks passed but the payload does not hold together
};
const char* to_string(decode_error e) noexcept;

struct decoded {
  std::shared_ptr<entry> value;  // set when error is none
  decode_error error = decode_error::none;
};

class entry_codec {
public:
  /// 2: the rules' must-revalidate and no-cache, the initial age and the Vary values
  /// (entries an earlier pcproxy wrote are misses).
  static constexpr std::uint8_t version = 2;
  /// zstd level for bodies (bench/ANALYSIS.md "Entry codec": the level against the
  /// CPU it costs per page).
  static constexpr int default_compression_level = 1;
  /// Bodies larger than this are refused when decoding (the largest page pcproxy takes
  /// from upstream is upstream.max_body_bytes, 256 MiB by default).
  static constexpr std::uint64_t max_body_bytes = std::uint64_t{1} << 31;

  explicit entry_codec(std::optional<encryption_key> key = std::nullopt,
                       int compression_level = default_compression_level);

  bool encrypts() const noexcept { return key_.has_value(); }

  std::string encode(const cache_key& key, const entry& e) const;
  decoded decode(const cache_key& key, std::string_view bytes) const;

private:
  std::optional<encryption_key> key_;
  int level_;
};

}  // namespace pcproxy::cache
