#include "cache/validator.hpp"

#include "core/sha256.hpp"

#include <rapidjson/document.h>

namespace pcproxy::cache {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The opaque-tag of an entity-tag without its weakness prefix: W/"x" and "x" -> "x".
std::string_view opaque(std::string_view tag) {
  tag = trim(tag);
  if (tag.starts_with("W/")) tag.remove_prefix(2);
  return tag;
}

// "tag" as an entity-tag. (Built with append: GCC 12 misreads '"' + s + '"' at -O3.)
std::string quoted(std::string_view tag) {
  std::string out;
  out.reserve(tag.size() + 2);
  out.push_back('"');
  out.append(tag);
  out.push_back('"');
  return out;
}

}  // namespace

std::string body_etag(std::string_view body) {
  if (body.starts_with("\xEF\xBB\xBF")) body.remove_prefix(3);
  // RapidJSON reads the bytes where they are: no copy, nothing written back.
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseStopWhenDoneFlag>(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) return {};
  const auto attributes = doc.FindMember("attributes");
  if (attributes == doc.MemberEnd() || !attributes->value.IsObject()) return {};
  const auto etag = attributes->value.FindMember("etag");
  if (etag == attributes->value.MemberEnd() || !etag->value.IsString()) return {};
  return std::string(etag->value.GetString(), etag->value.GetStringLength());
}

std::string validator_of(std::string_view upstream_etag, std::string_view body) {
  upstream_etag = trim(upstream_etag);
  if (!upstream_etag.empty()) return std::string(upstream_etag);
  if (auto from_body = body_etag(body); !from_body.empty()) {
    // An entity-tag may not contain '"'; such a value is hashed instead of quoted.
    if (from_body.find('"') == std::string::npos) return quoted(from_body);
    return quoted(core::to_hex(core::sha256(from_body), 16));
  }
  return quoted(core::to_hex(core::sha256(body), 16));
}

bool if_none_match_matches(std::string_view header, std::string_view validator) {
  if (validator.empty()) return false;
  const auto wanted = opaque(validator);
  while (!header.empty()) {
    // Entity-tags may contain commas inside quotes: split only outside quotes.
    std::size_t end = 0;
    bool quoted = false;
    while (end < header.size() && (quoted || header[end] != ',')) {
      if (header[end] == '"') quoted = !quoted;
      ++end;
    }
    const auto tag = trim(header.substr(0, end));
    header = end < header.size() ? header.substr(end + 1) : std::string_view{};
    if (tag == "*" || (!tag.empty() && opaque(tag) == wanted)) return true;
  }
  return false;
}

}  // namespace pcproxy::cache
