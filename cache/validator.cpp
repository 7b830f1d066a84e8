#include "cache/validator.hpp"

#include "core/sha256.hpp"  // to_hex
#include "core/text.hpp"

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>
#include <xxhash.h>

namespace pcproxy::cache {
namespace {

using core::quoted;
using core::trim;

// The opaque-tag of an entity-tag without its weakness prefix: W/"x" and "x" -> "x".
std::string_view opaque(std::string_view tag) {
  tag = trim(tag);
  if (tag.starts_with("W/")) tag.remove_prefix(2);
  return tag;
}

// A body's strong validator: 128 bits of XXH3 as 32 hex digits. A validator must change
// whenever the bytes do (RFC 9110 §8.8.1); it need not resist someone choosing bodies to
// collide (the bodies come from upstream), and XXH3 hashes a 10 KB page in ~0.7 us where
// SHA-256 took ~6 us, 6 % of a miss (bench/ANALYSIS.md).
std::string content_hash(std::string_view bytes) {
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, XXH3_128bits(bytes.data(), bytes.size()));
  return quoted(core::to_hex(canonical.digest));
}

// RapidJSON's reader recurses once per level: a body nested deeper than this is refused
// before it can exhaust an io thread's stack (validators_fuzz found one). Partner
// Center's pages nest a handful of levels.
constexpr int max_json_depth = 256;

// SAX handler: follows the nesting depth and keeps the top-level attributes.etag.
struct etag_finder : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, etag_finder> {
  int depth = 0;
  bool too_deep = false;
  bool in_attributes = false;  // directly inside the top-level "attributes" object
  std::string top_key;
  std::string attribute_key;
  std::string etag;

  bool StartObject() {
    if (++depth > max_json_depth) {
      too_deep = true;
      return false;
    }
    if (depth == 2 && top_key == "attributes") in_attributes = true;
    return true;
  }
  bool EndObject(rapidjson::SizeType) {
    if (depth == 2) in_attributes = false;
    --depth;
    return true;
  }
  bool StartArray() {
    if (++depth > max_json_depth) {
      too_deep = true;
      return false;
    }
    return true;
  }
  bool EndArray(rapidjson::SizeType) {
    --depth;
    return true;
  }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    if (depth == 1) top_key.assign(s, n);
    else if (depth == 2 && in_attributes) attribute_key.assign(s, n);
    return true;
  }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    if (depth == 2 && in_attributes && attribute_key == "etag") etag.assign(s, n);
    return true;
  }
  bool Default() { return true; }  // numbers, booleans, null
};

}  // namespace

json_scan scan_json(std::string_view body) {
  if (body.starts_with("\xEF\xBB\xBF")) body.remove_prefix(3);
  json_scan out;
  // The in-situ parser stops at a NUL, which JSON text never holds raw.
  if (body.find('\0') != std::string_view::npos) {
    out.error = "a NUL byte in the text";
    return out;
  }
  // In-situ parsing of a per-thread copy is faster than parsing from a stream: strings
  // are decoded in place instead of being copied out one character at a time.
  constexpr std::size_t max_kept_copy_bytes = 1 << 20;
  thread_local std::string text;
  text.assign(body);
  etag_finder finder;
  rapidjson::Reader reader;
  rapidjson::InsituStringStream in(text.data());
  const auto result = reader.Parse<rapidjson::kParseInsituFlag>(in, finder);
  if (text.capacity() > max_kept_copy_bytes) std::string().swap(text);  // a rare huge page
  out.valid = !result.IsError();
  if (out.valid)
    out.etag = std::move(finder.etag);
  else if (finder.too_deep)
    out.error = "nested deeper than " + std::to_string(max_json_depth) + " levels at byte " +
                std::to_string(result.Offset());
  else
    out.error = std::string(rapidjson::GetParseError_En(result.Code())) + " at byte " + std::to_string(result.Offset());
  return out;
}

std::string body_etag(std::string_view body) { return scan_json(body).etag; }

std::string validator_of(std::string_view upstream_etag, std::string_view body_etag_value, std::string_view body) {
  upstream_etag = trim(upstream_etag);
  if (!upstream_etag.empty()) return std::string(upstream_etag);
  if (!body_etag_value.empty()) {
    // An entity-tag may not contain '"'; such a value is hashed instead of quoted.
    if (body_etag_value.find('"') == std::string_view::npos) return quoted(body_etag_value);
    return content_hash(body_etag_value);
  }
  return content_hash(body);
}

std::string validator_of(std::string_view upstream_etag, std::string_view body) {
  if (!trim(upstream_etag).empty()) return std::string(trim(upstream_etag));
  return validator_of(upstream_etag, body_etag(body), body);
}

bool if_none_match_matches(std::string_view header, std::string_view validator) {
  if (validator.empty()) return false;
  const auto wanted = opaque(validator);
  while (!header.empty()) {
    // Entity-tags may contain commas inside quotes: split only outside quotes.
    std::size_t end = 0;
    bool in_quotes = false;
    while (end < header.size() && (in_quotes || header[end] != ',')) {
      if (header[end] == '"') in_quotes = !in_quotes;
      ++end;
    }
    const auto tag = trim(header.substr(0, end));
    header = end < header.size() ? header.substr(end + 1) : std::string_view{};
    if (tag == "*" || (!tag.empty() && opaque(tag) == wanted)) return true;
  }
  return false;
}

}  // namespace pcproxy::cache
