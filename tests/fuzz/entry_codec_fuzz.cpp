// A stored entry as the disk and shared tiers read it back: untrusted bytes (a damaged
// file, another build's format, anything a Redis neighbour wrote under our prefix).
// Decoding never crashes and never yields an entry for bytes that were not an encoding
// of one; what does decode encodes and decodes again to the same entry.
#include "cache/entry_codec.hpp"
#include "tests/fuzz/fuzz_input.hpp"

using namespace pcproxy;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const cache::entry_codec plain;
  static const cache::entry_codec encrypted([] {
    cache::encryption_key key;
    key.bytes.fill(0x5a);
    return key;
  }());
  const cache::cache_key key{};
  const auto bytes = fuzz::as_text(data, size);
  for (const auto* codec : {&plain, &encrypted}) {
    const auto d = codec->decode(key, bytes);
    fuzz::require((d.error == cache::decode_error::none) == (d.value != nullptr));
    if (!d.value) continue;
    const auto again = codec->decode(key, codec->encode(key, *d.value));
    fuzz::require(again.value && *again.value->body == *d.value->body && again.value->status == d.value->status &&
                  *again.value->header_block == *d.value->header_block && again.value->vary == d.value->vary);
  }
  std::string why;
  (void)cache::parse_encryption_key(bytes, why);
  return 0;
}
