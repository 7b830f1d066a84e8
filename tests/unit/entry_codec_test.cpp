// The serialised entry: what every non-memory tier stores, and reads back as untrusted
// bytes. A round trip is exact; anything else (another version, a damaged byte, another
// key, another encryption key) is refused, never turned into an entry.
#include "cache/entry_codec.hpp"
#include "tests/support/fake_partner_center.hpp"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <gtest/gtest.h>

namespace pcproxy::cache {
namespace {

using namespace std::chrono_literals;

cache_key key_of(std::string_view n) { return derive_key({"c-a", "GET", "/v1/customers/usagerecords", n, "", "", ""}); }

encryption_key key_from(char fill) {
  encryption_key k;
  k.bytes.fill(static_cast<unsigned char>(fill));
  return k;
}

std::shared_ptr<entry> usage_page(bool bom = true) {
  auto e = std::make_shared<entry>();
  e->status = 200;
  e->header_block = cache::header_block({{"Content-Type", "application/json; charset=utf-8"}, {"ETag", "\"abc\""}, {"MS-ServerId", "1"}});
  testing::page_style style;
  style.bom = bom;
  e->body = std::make_shared<const std::string>(testing::render_usage_page("Bearer alice", 0, 40, 100, style).body);
  e->validator = "\"abc\"";
  e->stored_at = core::sys_time{std::chrono::nanoseconds(1764500000123456789)};
  e->revalidated_at = e->stored_at + 42s;
  e->rules = {3600s, 300s, 86400s, true};
  e->scope = "c-0123456789abcdef0123456789abcdef";
  e->path = "/v1/customers/usagerecords";
  e->route = "/v1/customers/usagerecords";
  return e;
}

// Recomputes the trailing checksum so a test can craft bytes that pass it.
void fix_checksum(const cache_key& key, std::string& bytes) {
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  XXH3_64bits_update(&state, key.digest.data(), key.digest.size());
  XXH3_64bits_update(&state, bytes.data(), bytes.size() - 8);
  auto sum = XXH3_64bits_digest(&state);
  for (std::size_t i = 0; i < 8; ++i) bytes[bytes.size() - 8 + i] = static_cast<char>((sum >> (8 * i)) & 0xff);
}

void expect_same(const entry& a, const entry& b) {
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(headers(a), headers(b));
  EXPECT_EQ(*a.header_block, *b.header_block);
  EXPECT_EQ(*a.body, *b.body);
  EXPECT_EQ(a.validator, b.validator);
  EXPECT_EQ(a.stored_at, b.stored_at);
  EXPECT_EQ(a.revalidated_at, b.revalidated_at);
  EXPECT_EQ(a.rules, b.rules);
  EXPECT_EQ(a.scope, b.scope);
  EXPECT_EQ(a.path, b.path);
  EXPECT_EQ(a.route, b.route);
}

TEST(EntryCodec, RoundTripsEveryFieldAndTheBodyByteForByte) {
  const entry_codec codec;
  const auto e = usage_page();
  const auto bytes = codec.encode(key_of("1"), *e);
  const auto back = codec.decode(key_of("1"), bytes);
  ASSERT_EQ(back.error, decode_error::none) << to_string(back.error);
  expect_same(*back.value, *e);
  EXPECT_TRUE(back.value->body->starts_with("\xEF\xBB\xBF"));
}

TEST(EntryCodec, CompressesPartnerCenterJsonSeveralfold) {
  const entry_codec codec;
  const auto e = usage_page();
  const auto bytes = codec.encode(key_of("1"), *e);
  EXPECT_LT(bytes.size() * 3, e->body->size()) << bytes.size() << " of " << e->body->size();
}

TEST(EntryCodec, KeepsAnIncompressibleOrEmptyBodyAsItIs) {
  const entry_codec codec;
  auto e = usage_page();
  std::string noise(3000, '\0');
  std::uint64_t x = 88172645463325252ull;
  for (auto& c : noise) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c = static_cast<char>(x);
  }
  for (const auto& body : {noise, std::string()}) {
    e->body = std::make_shared<const std::string>(body);
    const auto back = codec.decode(key_of("1"), codec.encode(key_of("1"), *e));
    ASSERT_EQ(back.error, decode_error::none);
    EXPECT_EQ(*back.value->body, body);
  }
}

TEST(EntryCodec, AnotherVersionIsRefused) {
  const entry_codec codec;
  auto bytes = codec.encode(key_of("1"), *usage_page());
  bytes[4] = static_cast<char>(entry_codec::version + 1);
  fix_checksum(key_of("1"), bytes);
  EXPECT_EQ(codec.decode(key_of("1"), bytes).error, decode_error::unknown_version);
  EXPECT_EQ(codec.decode(key_of("1"), "SQLite format 3\0 and more bytes").error, decode_error::unknown_version);
}

TEST(EntryCodec, EveryDamagedByteIsRefused) {
  const entry_codec codec;
  const auto bytes = codec.encode(key_of("1"), *usage_page());
  for (std::size_t at = 6; at < bytes.size(); at += 7) {
    auto damaged = bytes;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x10);
    const auto back = codec.decode(key_of("1"), damaged);
    EXPECT_EQ(back.error, decode_error::bad_checksum) << "byte " << at;
    EXPECT_EQ(back.value, nullptr);
  }
  for (std::size_t keep : {0ul, 5ul, 13ul, bytes.size() / 2, bytes.size() - 1})
    EXPECT_NE(codec.decode(key_of("1"), bytes.substr(0, keep)).error, decode_error::none) << keep;
}

TEST(EntryCodec, BytesStoredUnderAnotherKeyAreRefused) {
  const entry_codec codec;
  const auto bytes = codec.encode(key_of("1"), *usage_page());
  EXPECT_EQ(codec.decode(key_of("2"), bytes).error, decode_error::bad_checksum);
}

TEST(EntryCodec, EncryptedEntriesRoundTripAndHoldNoPlainText) {
  const entry_codec codec(key_from('k'));
  const auto e = usage_page(false);
  const auto bytes = codec.encode(key_of("1"), *e);
  EXPECT_EQ(bytes.find("usagerecords"), std::string::npos);
  EXPECT_EQ(bytes.find("c-0123456789abcdef"), std::string::npos);
  EXPECT_EQ(bytes.find("application/json"), std::string::npos);
  const auto back = codec.decode(key_of("1"), bytes);
  ASSERT_EQ(back.error, decode_error::none);
  expect_same(*back.value, *e);
  EXPECT_NE(codec.encode(key_of("1"), *e), bytes);  // a fresh nonce every time
}

TEST(EntryCodec, AnotherEncryptionKeyOrNoneReadsNothing) {
  const auto bytes = entry_codec(key_from('k')).encode(key_of("1"), *usage_page());
  EXPECT_EQ(entry_codec(key_from('j')).decode(key_of("1"), bytes).error, decode_error::wrong_key);
  EXPECT_EQ(entry_codec().decode(key_of("1"), bytes).error, decode_error::wrong_key);
  const auto plain = entry_codec().encode(key_of("1"), *usage_page());
  EXPECT_EQ(entry_codec(key_from('k')).decode(key_of("1"), plain).error, decode_error::wrong_key);
}

TEST(EntryCodec, CraftedPayloadsWithAValidChecksumNeverBecomeEntries) {
  const entry_codec codec;
  const auto key = key_of("1");
  const auto good = codec.encode(key, *usage_page());
  // Lengths and counts past the end, a giant body size, trailing bytes.
  for (std::size_t at : {6ul, 10ul, 46ul, 54ul, 60ul, good.size() - 20, good.size() - 9}) {
    for (char value : {'\xff', '\x7f', '\x00'}) {
      auto crafted = good;
      crafted[at] = value;
      crafted[at + 1] = value;
      fix_checksum(key, crafted);
      const auto back = codec.decode(key, crafted);
      if (back.error == decode_error::none) {
        EXPECT_EQ(back.value->body->size(), usage_page()->body->size());  // a byte of no consequence
      }
    }
  }
  auto extended = good;
  extended.insert(extended.size() - 8, "xx");
  fix_checksum(key, extended);
  EXPECT_EQ(codec.decode(key, extended).error, decode_error::corrupt);
}

TEST(EntryCodec, AHeaderThatWouldSplitTheResponseIsRefused) {
  const entry_codec codec;
  const auto key = key_of("1");
  auto bytes = codec.encode(key, *usage_page());
  for (char bad : {'\r', '\n', '\0'}) {
    auto crafted = bytes;
    const auto at = crafted.find("application/json");
    ASSERT_NE(at, std::string::npos);
    crafted[at + 11] = bad;  // inside the Content-Type value
    fix_checksum(key, crafted);
    EXPECT_EQ(codec.decode(key, crafted).error, decode_error::corrupt);
  }
  auto crafted = bytes;
  crafted[crafted.find("Content-Type") + 7] = ' ';  // a name that is not a token
  fix_checksum(key, crafted);
  EXPECT_EQ(codec.decode(key, crafted).error, decode_error::corrupt);
}

TEST(EntryCodec, KeyFilesAreHexOrBase64Of32Bytes) {
  std::string why;
  const auto hex = parse_encryption_key("  000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1F\n", why);
  ASSERT_TRUE(hex) << why;
  EXPECT_EQ(hex->bytes[1], 1);
  EXPECT_EQ(hex->bytes[31], 0x1f);
  const auto b64 = parse_encryption_key("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", why);
  ASSERT_TRUE(b64) << why;
  EXPECT_EQ(b64->bytes, hex->bytes);
  EXPECT_FALSE(parse_encryption_key("00010203", why));
  EXPECT_NE(why.find("openssl rand -hex 32"), std::string::npos);
  EXPECT_FALSE(parse_encryption_key("", why));
  EXPECT_FALSE(parse_encryption_key(std::string(64, 'g'), why));
}

}  // namespace
}  // namespace pcproxy::cache
