#include "core/sha256.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <memory>

namespace pcproxy::core {
namespace {

// Fetching the algorithm once avoids OpenSSL 3's implicit fetch on every call.
const EVP_MD* sha256_md() noexcept {
  static const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

}  // namespace

sha256_digest sha256(std::string_view data) noexcept {
  // One digest context per thread, reused: EVP_Digest would allocate, set up and wipe
  // a context on every call.
  thread_local const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(),
                                                                                     &EVP_MD_CTX_free);
  sha256_digest out{};
  unsigned int len = 0;
  EVP_DigestInit_ex(context.get(), sha256_md(), nullptr);
  EVP_DigestUpdate(context.get(), data.data(), data.size());
  EVP_DigestFinal_ex(context.get(), out.data(), &len);
  return out;
}

std::string to_hex(std::span<const unsigned char> digest, std::size_t bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  bytes = std::min(bytes, digest.size());
  out.reserve(bytes * 2);
  for (std::size_t i = 0; i < bytes; ++i) {
    out.push_back(digits[digest[i] >> 4]);
    out.push_back(digits[digest[i] & 0x0f]);
  }
  return out;
}

}  // namespace pcproxy::core
