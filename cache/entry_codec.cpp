#include "cache/entry_codec.hpp"

#include "core/text.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>
#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack
#include <xxhash.h>
#include <zstd.h>

#include <cctype>
#include <cstring>
#include <limits>

namespace pcproxy::cache {
namespace {

constexpr std::string_view magic = "PCPE";
constexpr std::size_t prefix_size = 6;  // magic, version, flags
constexpr std::size_t checksum_size = 8;
constexpr std::size_t nonce_size = 12;
constexpr std::size_t tag_size = 16;
constexpr std::uint8_t flag_encrypted = 1;
constexpr std::uint8_t flag_compressed = 2;
// The freshness rules' switches, one byte in the payload.
constexpr std::uint8_t rule_month_boundary = 1;
constexpr std::uint8_t rule_must_revalidate = 2;
constexpr std::uint8_t rule_no_cache = 4;
constexpr std::uint8_t rule_all = rule_month_boundary | rule_must_revalidate | rule_no_cache;

// ---- little-endian fields ----

void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_i64(std::string& out, std::int64_t v) { put_u64(out, static_cast<std::uint64_t>(v)); }
void put_text(std::string& out, std::string_view s) {
  put_u32(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

void put_fields(std::string& out, const header_list& fields) {
  put_u32(out, static_cast<std::uint32_t>(fields.size()));
  for (const auto& h : fields) {
    put_text(out, h.name);
    put_text(out, h.value);
  }
}

// Reads fields front to back; any read past the end sets `failed` and yields zeros.
struct reader {
  std::string_view rest;
  bool failed = false;

  std::string_view take(std::size_t n) {
    if (failed || n > rest.size()) {
      failed = true;
      return {};
    }
    auto out = rest.substr(0, n);
    rest.remove_prefix(n);
    return out;
  }
  std::uint64_t u64() {
    const auto b = take(8);
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < b.size(); ++i) v |= std::uint64_t{static_cast<unsigned char>(b[i])} << (8 * i);
    return v;
  }
  std::uint32_t u32() {
    const auto b = take(4);
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < b.size(); ++i) v |= std::uint32_t{static_cast<unsigned char>(b[i])} << (8 * i);
    return v;
  }
  std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
  std::string text() { return std::string(take(u32())); }
};

// A count, then name and value pairs. These lines may go on the wire as they are:
// nothing may split or inject a header (false when one would, or the bytes run out).
bool read_fields(reader& in, header_list& out) {
  const auto count = in.u32();
  if (in.failed || count > in.rest.size() / 8) {
    in.failed = true;
    return false;
  }
  out.reserve(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    auto name = in.text();
    auto value = in.text();
    if (in.failed || !valid_field_name(name) || !valid_field_value(value)) return false;
    out.push_back({std::move(name), std::move(value)});
  }
  return true;
}

std::int64_t to_nanoseconds(core::sys_time t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
core::sys_time from_nanoseconds(std::int64_t ns) {
  return core::sys_time{std::chrono::duration_cast<core::sys_time::duration>(std::chrono::nanoseconds(ns))};
}

std::uint64_t checksum(const cache_key& key, std::string_view bytes) {
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  XXH3_64bits_update(&state, key.digest.data(), key.digest.size());
  XXH3_64bits_update(&state, bytes.data(), bytes.size());
  return XXH3_64bits_digest(&state);
}

// The associated data GCM authenticates with the payload: the key's digest and the
// format bytes, so neither can be swapped under a valid ciphertext.
std::string associated_data(const cache_key& key, std::string_view prefix) {
  std::string aad(reinterpret_cast<const char*>(key.digest.data()), key.digest.size());
  aad.append(prefix);
  return aad;
}

struct cipher_context_deleter {
  void operator()(EVP_CIPHER_CTX* c) const noexcept { EVP_CIPHER_CTX_free(c); }
};
using cipher_context = std::unique_ptr<EVP_CIPHER_CTX, cipher_context_deleter>;

int int_size(std::size_t n) { return static_cast<int>(n); }

// AES-256-GCM: nonce | ciphertext | tag.
std::string seal_payload(const encryption_key& k, std::string_view aad, std::string_view plain) {
  std::string out(nonce_size + plain.size() + tag_size, '\0');
  auto* bytes = reinterpret_cast<unsigned char*>(out.data());
  if (RAND_bytes(bytes, int_size(nonce_size)) != 1) throw std::runtime_error("RAND_bytes failed");
  cipher_context ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, k.bytes.data(), bytes) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                        int_size(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), bytes + nonce_size, &len, reinterpret_cast<const unsigned char*>(plain.data()),
                        int_size(plain.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), bytes + nonce_size + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, int_size(tag_size), bytes + nonce_size + plain.size()) != 1)
    throw std::runtime_error("AES-256-GCM encryption failed");
  return out;
}

std::optional<std::string> open_payload(const encryption_key& k, std::string_view aad, std::string_view sealed) {
  if (sealed.size() < nonce_size + tag_size) return std::nullopt;
  const auto* bytes = reinterpret_cast<const unsigned char*>(sealed.data());
  const auto cipher_size = sealed.size() - nonce_size - tag_size;
  std::string plain(cipher_size, '\0');
  cipher_context ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  unsigned char tag[tag_size];
  std::memcpy(tag, bytes + nonce_size + cipher_size, tag_size);
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, k.bytes.data(), bytes) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                        int_size(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &len, bytes + nonce_size,
                        int_size(cipher_size)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, int_size(tag_size), tag) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + len, &len) != 1)
    return std::nullopt;
  return plain;
}

// A per-thread zstd context: making one per page would cost more than compressing it.
ZSTD_CCtx* compression_context() {
  struct holder {
    ZSTD_CCtx* ctx = ZSTD_createCCtx();
    ~holder() { ZSTD_freeCCtx(ctx); }
  };
  thread_local holder h;
  return h.ctx;
}
ZSTD_DCtx* decompression_context() {
  struct holder {
    ZSTD_DCtx* ctx = ZSTD_createDCtx();
    ~holder() { ZSTD_freeDCtx(ctx); }
  };
  thread_local holder h;
  return h.ctx;
}

std::optional<std::string> decode_base64(std::string_view in) {
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    const auto v = std::string_view("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/").find(c);
    if (v == std::string_view::npos) return std::nullopt;
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  return out;
}

}  // namespace

std::optional<encryption_key> parse_encryption_key(std::string_view text, std::string& why) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  encryption_key key;
  if (text.size() == 64 && text.find_first_not_of("0123456789abcdefABCDEF") == std::string_view::npos) {
    const auto nibble = [](char c) { return static_cast<unsigned>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10); };
    for (std::size_t i = 0; i < 32; ++i) key.bytes[i] = static_cast<unsigned char>(nibble(text[2 * i]) * 16 + nibble(text[2 * i + 1]));
    return key;
  }
  if (const auto raw = decode_base64(text); raw && raw->size() == 32 && text.size() == 44) {
    std::memcpy(key.bytes.data(), raw->data(), 32);
    return key;
  }
  why = "expected 32 random bytes as 64 hex digits or 44 base64 characters (e.g. from `openssl rand -hex 32`), got " +
        std::to_string(text.size()) + " characters";
  return std::nullopt;
}

const char* to_string(decode_error e) noexcept {
  switch (e) {
    case decode_error::none: return "none";
    case decode_error::truncated: return "truncated";
    case decode_error::unknown_version: return "unknown version";
    case decode_error::bad_checksum: return "bad checksum";
    case decode_error::wrong_key: return "wrong encryption key";
    case decode_error::corrupt: return "corrupt";
  }
  return "corrupt";
}

entry_codec::entry_codec(std::optional<encryption_key> key, int compression_level)
    : key_(key), level_(compression_level) {}

std::string entry_codec::encode(const cache_key& key, const entry& e) const {
  // Callers keep bodies within max_body_bytes (OpenSSL and the reader take int sizes).
  const std::string_view body = e.body ? std::string_view(*e.body) : std::string_view{};
  std::string compressed(ZSTD_compressBound(body.size()), '\0');
  const auto size = ZSTD_compressCCtx(compression_context(), compressed.data(), compressed.size(), body.data(),
                                      body.size(), level_);
  const bool compress = !ZSTD_isError(size) && size < body.size();
  compressed.resize(compress ? size : 0);

  std::string payload;
  payload.reserve(128 + e.validator.size() + e.scope.size() + e.path.size() + e.route.size() +
                  (e.header_block ? e.header_block->size() : 0) + (compress ? compressed.size() : body.size()));
  put_u32(payload, e.status);
  put_i64(payload, to_nanoseconds(e.stored_at));
  put_i64(payload, to_nanoseconds(e.revalidated_at));
  put_i64(payload, e.rules.ttl.count());
  put_i64(payload, e.rules.stale_while_revalidate.count());
  put_i64(payload, e.rules.stale_if_error.count());
  payload.push_back(static_cast<char>((e.rules.month_boundary ? rule_month_boundary : 0) |
                                      (e.rules.must_revalidate ? rule_must_revalidate : 0) |
                                      (e.rules.no_cache ? rule_no_cache : 0)));
  put_i64(payload, e.initial_age.count());
  put_fields(payload, e.vary);
  put_text(payload, e.validator);
  put_text(payload, e.scope);
  put_text(payload, e.path);
  put_text(payload, e.route);
  put_fields(payload, headers(e));
  put_u64(payload, body.size());
  put_u64(payload, compress ? compressed.size() : body.size());
  payload.append(compress ? std::string_view(compressed) : body);

  std::string out(magic);
  out.push_back(static_cast<char>(version));
  out.push_back(static_cast<char>((key_ ? flag_encrypted : 0) | (compress ? flag_compressed : 0)));
  if (key_)
    out += seal_payload(*key_, associated_data(key, std::string_view(out).substr(0, prefix_size)), payload);
  else
    out += payload;
  put_u64(out, checksum(key, out));
  return out;
}

decoded entry_codec::decode(const cache_key& key, std::string_view bytes) const {
  if (bytes.size() < prefix_size + checksum_size) return {nullptr, decode_error::truncated};
  if (bytes.substr(0, magic.size()) != magic || static_cast<std::uint8_t>(bytes[4]) != version)
    return {nullptr, decode_error::unknown_version};
  const auto body_end = bytes.size() - checksum_size;
  reader sum{bytes.substr(body_end)};
  if (sum.u64() != checksum(key, bytes.substr(0, body_end))) return {nullptr, decode_error::bad_checksum};

  const auto flags = static_cast<std::uint8_t>(bytes[5]);
  if ((flags & ~(flag_encrypted | flag_compressed)) != 0) return {nullptr, decode_error::corrupt};
  const bool encrypted = (flags & flag_encrypted) != 0;
  if (encrypted != key_.has_value()) return {nullptr, decode_error::wrong_key};
  std::string opened;
  std::string_view payload = bytes.substr(prefix_size, body_end - prefix_size);
  if (encrypted) {
    auto plain = open_payload(*key_, associated_data(key, bytes.substr(0, prefix_size)), payload);
    if (!plain) return {nullptr, decode_error::wrong_key};
    opened = std::move(*plain);
    payload = opened;
  }

  reader in{payload};
  auto e = std::make_shared<entry>();
  const auto status = in.u32();
  e->stored_at = from_nanoseconds(in.i64());
  e->revalidated_at = from_nanoseconds(in.i64());
  e->rules.ttl = std::chrono::seconds(in.i64());
  e->rules.stale_while_revalidate = std::chrono::seconds(in.i64());
  e->rules.stale_if_error = std::chrono::seconds(in.i64());
  const auto rule_flags = in.take(1);
  e->initial_age = std::chrono::seconds(in.i64());
  if (!read_fields(in, e->vary)) return {nullptr, in.failed ? decode_error::truncated : decode_error::corrupt};
  e->validator = in.text();
  e->scope = in.text();
  e->path = in.text();
  e->route = in.text();
  header_list fields;
  if (!read_fields(in, fields)) return {nullptr, in.failed ? decode_error::truncated : decode_error::corrupt};
  const auto body_size = in.u64();
  const auto stored_size = in.u64();
  const auto stored = in.take(stored_size);
  if (in.failed) return {nullptr, decode_error::truncated};
  if (!in.rest.empty() || status < 100 || status > 999 || rule_flags.size() != 1 ||
      (static_cast<std::uint8_t>(rule_flags[0]) & ~rule_all) != 0 || body_size > max_body_bytes ||
      e->rules.ttl.count() < 0 || e->rules.stale_while_revalidate.count() < 0 || e->rules.stale_if_error.count() < 0 ||
      e->initial_age.count() < 0)
    return {nullptr, decode_error::corrupt};
  e->status = status;
  const auto rules = static_cast<std::uint8_t>(rule_flags[0]);
  e->rules.month_boundary = (rules & rule_month_boundary) != 0;
  e->rules.must_revalidate = (rules & rule_must_revalidate) != 0;
  e->rules.no_cache = (rules & rule_no_cache) != 0;

  if ((flags & flag_compressed) != 0) {
    if (ZSTD_getFrameContentSize(stored.data(), stored.size()) != body_size) return {nullptr, decode_error::corrupt};
    std::string body(body_size, '\0');
    const auto size = ZSTD_decompressDCtx(decompression_context(), body.data(), body.size(), stored.data(), stored.size());
    if (ZSTD_isError(size) || size != body_size) return {nullptr, decode_error::corrupt};
    e->body = std::make_shared<const std::string>(std::move(body));
  } else {
    if (stored.size() != body_size) return {nullptr, decode_error::corrupt};
    e->body = std::make_shared<const std::string>(stored);
  }
  e->header_block = header_block(fields);
  return {std::move(e), decode_error::none};
}

}  // namespace pcproxy::cache
