#include "upstream/correlation.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <stdexcept>

namespace pcproxy::upstream {
namespace {

constexpr std::size_t v1_base = 16;
constexpr std::size_t v1_max = 63;
constexpr std::size_t v2_base = 22;
constexpr std::size_t v2_max = 127;
constexpr char base64_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

bool is_base64(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '+' || c == '/';
}

// The length limit of a vector, by the length of its base.
std::size_t max_length(std::string_view cv) {
  const auto dot = cv.find('.');
  return dot == v2_base ? v2_max : v1_max;
}

bool terminated(std::string_view cv) { return !cv.empty() && cv.back() == '!'; }

std::string terminate(std::string_view cv) { return std::string(cv) + "!"; }

}  // namespace

random_source system_random() {
  return [](unsigned char* out, std::size_t n) {
    if (RAND_bytes(out, static_cast<int>(n)) != 1)
      throw std::runtime_error("OpenSSL RAND_bytes failed: the system has no entropy source");
  };
}

namespace {

// xoshiro256** (Blackman & Vigna): 256 bits of state, 64-bit output.
class xoshiro256 {
public:
  xoshiro256() {
    system_random()(reinterpret_cast<unsigned char*>(state_.data()), sizeof state_);
  }
  std::uint64_t next() noexcept {
    const auto result = rotl(state_[1] * 5, 7) * 9;
    const auto t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

private:
  static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
  std::array<std::uint64_t, 4> state_{};
};

}  // namespace

random_source id_random() {
  return [](unsigned char* out, std::size_t n) {
    thread_local xoshiro256 generator;
    while (n > 0) {
      const auto word = generator.next();
      const auto take = std::min<std::size_t>(n, sizeof word);
      std::memcpy(out, &word, take);
      out += take;
      n -= take;
    }
  };
}

std::string new_uuid(const random_source& random) {
  std::array<unsigned char, 16> b{};
  random(b.data(), b.size());
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(hex[b[i] >> 4]);
    out.push_back(hex[b[i] & 0x0f]);
  }
  return out;
}

bool is_uuid(std::string_view v) {
  if (v.size() != 36) return false;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    const char c = v[i];
    if (dash ? c != '-' : !std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool is_valid_vector(std::string_view cv) {
  const auto dot = cv.find('.');
  if (dot != v1_base && dot != v2_base) return false;
  if (cv.size() > max_length(cv) + (terminated(cv) ? 1 : 0)) return false;
  for (std::size_t i = 0; i < dot; ++i)
    if (!is_base64(cv[i])) return false;
  std::string_view rest = cv.substr(dot + 1);
  if (terminated(rest)) rest.remove_suffix(1);
  while (true) {
    const auto next = rest.find('.');
    const auto elem = rest.substr(0, next);
    std::uint32_t n = 0;
    const auto [end, ec] = std::from_chars(elem.data(), elem.data() + elem.size(), n);
    if (elem.empty() || elem.size() > 10 || ec != std::errc{} || end != elem.data() + elem.size())
      return false;
    if (next == std::string_view::npos) return true;
    rest = rest.substr(next + 1);
  }
}

std::string seed_vector(const random_source& random) {
  std::array<unsigned char, v1_base> bytes{};
  random(bytes.data(), bytes.size());
  std::string out;
  out.reserve(v1_base + 2);
  for (auto b : bytes) out.push_back(base64_chars[b & 0x3f]);
  out += ".0";
  return out;
}

std::string extend_vector(std::string_view cv) {
  if (terminated(cv)) return std::string(cv);
  std::string out = std::string(cv) + ".0";
  if (out.size() > max_length(cv)) return terminate(cv);
  return out;
}

std::string increment_vector(std::string_view cv) {
  if (terminated(cv)) return std::string(cv);
  const auto dot = cv.rfind('.');
  if (dot == std::string_view::npos) return std::string(cv);
  const auto last = cv.substr(dot + 1);
  std::uint32_t n = 0;
  const auto [end, ec] = std::from_chars(last.data(), last.data() + last.size(), n);
  if (ec != std::errc{} || n == UINT32_MAX) return terminate(cv);
  std::string out = std::string(cv.substr(0, dot + 1)) + std::to_string(n + 1);
  if (out.size() > max_length(cv)) return terminate(cv);
  return out;
}

correlation correlation_for_request(std::string_view correlation_id, std::string_view request_id,
                                    std::string_view cv, const random_source& random) {
  correlation c;
  c.correlation_id = is_uuid(correlation_id) ? std::string(correlation_id) : new_uuid(random);
  c.request_id = is_uuid(request_id) ? std::string(request_id) : new_uuid(random);
  c.vector = is_valid_vector(cv) ? extend_vector(cv) : seed_vector(random);
  return c;
}

}  // namespace pcproxy::upstream
