#include "cache/scope.hpp"
#include "cache/validator.hpp"
#include "tests/support/fake_partner_center.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pcproxy::cache {
namespace {

TEST(Validator, UpstreamEtagComesFirst) {
  EXPECT_EQ(validator_of(" W/\"v1\" ", R"({"attributes":{"etag":"body"}})"), "W/\"v1\"");
}

TEST(Validator, ThenTheBodysAttributesEtag) {
  EXPECT_EQ(validator_of("", R"({"items":[],"attributes":{"etag":"abc123","objectType":"Collection"}})"),
            "\"abc123\"");
  EXPECT_EQ(validator_of("", "\xEF\xBB\xBF{\"attributes\":{\"etag\":\"bom\"}}"), "\"bom\"");  // BOM tolerated
  EXPECT_EQ(body_etag(R"({"items":[{"attributes":{"etag":"nested"}}]})"), "");  // only the top level counts
}

TEST(Validator, ElseAStrongHashOfTheBody) {
  const auto a = validator_of("", R"({"items":[1]})");
  const auto b = validator_of("", R"({"items":[2]})");
  EXPECT_EQ(a.size(), 34u);  // quoted 32 hex digits
  EXPECT_EQ(a.front(), '"');
  EXPECT_NE(a, b);
  EXPECT_EQ(a, validator_of("", R"({"items":[1]})"));
  EXPECT_NE(validator_of("", "not json"), "");
  // A body etag with a quote cannot be an entity-tag as is: it is hashed.
  EXPECT_EQ(validator_of("", R"({"attributes":{"etag":"a\"b"}})").find("a\""), std::string::npos);
}

TEST(Validator, OneScanChecksTheJsonAndFindsTheEtag) {
  const auto ok = scan_json("\xEF\xBB\xBF{\"items\":[{\"attributes\":{\"etag\":\"inner\"}}],\"attributes\":{\"objectType\":\"Collection\",\"etag\":\"outer\"}}");
  EXPECT_TRUE(ok.valid);
  EXPECT_EQ(ok.etag, "outer");
  const auto none = scan_json(R"({"items":[1,2.5,true,null],"links":{"self":{"uri":"/x"}}})");
  EXPECT_TRUE(none.valid);
  EXPECT_EQ(none.etag, "");
  const auto bad = scan_json(R"({"totalCount":1,"items":[{"id":)");
  EXPECT_FALSE(bad.valid);
  EXPECT_THAT(bad.error, ::testing::HasSubstr("at byte"));
  EXPECT_FALSE(scan_json("").valid);
  EXPECT_FALSE(scan_json("{} trailing").valid);
}

TEST(Validator, TheScanHandlesEscapesLongStringsNulsAndHugePages) {
  // Escapes are decoded in place; strings of many lengths, up to and past 64 bytes.
  EXPECT_EQ(scan_json(R"({"attributes":{"etag":"a\u0041\"b\\c"}})").etag, "aA\"b\\c");
  for (std::size_t n = 0; n < 70; ++n) {
    const auto tag = std::string(n, 'e');
    const auto scan = scan_json(R"({"attributes":{"etag":")" + tag + R"("}})");
    EXPECT_TRUE(scan.valid) << n;
    EXPECT_EQ(scan.etag, tag) << n;
  }
  // A raw NUL is never JSON, not even after a complete value.
  EXPECT_FALSE(scan_json(std::string_view("{\"a\":1}\0{}", 10)).valid);
  EXPECT_FALSE(scan_json(std::string_view("{\"a\":\"x\0y\"}", 11)).valid);
  // A page larger than the per-thread copy keeps, then a small one: both scanned right.
  std::string huge = R"({"items":[")" + std::string(3 << 20, 'x') + R"("],"attributes":{"etag":"big"}})";
  EXPECT_EQ(scan_json(huge).etag, "big");
  EXPECT_EQ(scan_json(R"({"attributes":{"etag":"small"}})").etag, "small");
  huge.pop_back();
  EXPECT_FALSE(scan_json(huge).valid);
}

TEST(IfNoneMatch, MatchesStarListsAndWeakComparison) {
  EXPECT_TRUE(if_none_match_matches("*", "\"x\""));
  EXPECT_TRUE(if_none_match_matches("\"x\"", "\"x\""));
  EXPECT_TRUE(if_none_match_matches("W/\"x\"", "\"x\""));
  EXPECT_TRUE(if_none_match_matches("\"x\"", "W/\"x\""));
  EXPECT_TRUE(if_none_match_matches("\"a\", \"b\" ,\"x\"", "\"x\""));
  EXPECT_TRUE(if_none_match_matches("\"a,b\", \"x\"", "\"x\""));
  EXPECT_FALSE(if_none_match_matches("\"a,b\"", "\"a\""));
  EXPECT_FALSE(if_none_match_matches("\"y\"", "\"x\""));
  EXPECT_FALSE(if_none_match_matches("\"x\"", ""));
  EXPECT_FALSE(if_none_match_matches("", "\"x\""));
}

TEST(JwtClaims, ReadsTidAndExpWithoutTrustingThem) {
  const auto exp = std::chrono::sys_days{std::chrono::year{2026} / 12 / 1};
  const auto forged = testing::make_test_jwt("tenant-a", exp, false);
  const auto claims = read_jwt_claims(forged);
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->tenant_id, "tenant-a");
  ASSERT_TRUE(claims->expires);
  EXPECT_EQ(*claims->expires, exp);
}

TEST(JwtClaims, AnythingElseIsNotATenantToken) {
  EXPECT_FALSE(read_jwt_claims("Bearer opaque-token"));
  EXPECT_FALSE(read_jwt_claims("Basic dXNlcjpwdw=="));
  EXPECT_FALSE(read_jwt_claims("Bearer a.b"));
  EXPECT_FALSE(read_jwt_claims("Bearer a.b.c.d"));
  EXPECT_FALSE(read_jwt_claims("Bearer x.!!!.y"));
  EXPECT_FALSE(read_jwt_claims("Bearer x.eyJhIjoxfQ.y"));         // {"a":1}: no tid
  EXPECT_FALSE(read_jwt_claims("Bearer x.eyJ0aWQiOjF9.y"));       // {"tid":1}: not a string
  const auto no_exp = read_jwt_claims("Bearer x.eyJ0aWQiOiJ0In0.y");  // {"tid":"t"}
  ASSERT_TRUE(no_exp);
  EXPECT_EQ(no_exp->tenant_id, "t");
  EXPECT_FALSE(no_exp->expires);
}

TEST(Scopes, TenantAndCredentialScopesAreDistinctHashes) {
  EXPECT_EQ(tenant_scope("t1"), tenant_scope("t1"));
  EXPECT_NE(tenant_scope("t1"), tenant_scope("t2"));
  EXPECT_EQ(tenant_scope("t1").rfind("t-", 0), 0u);
  EXPECT_EQ(tenant_scope("t1").find("t1", 2), std::string::npos);
}

// Found by validators_fuzz: 40 KB of '[' overflowed the io thread's stack in the
// recursive JSON reader. Deep nesting is refused as not a page, at any depth past 256.
TEST(Validator, DeeplyNestedJsonIsRefusedNotAStackOverflow) {
  const auto deep = std::string(100000, '[') + std::string(100000, ']');
  const auto scan = scan_json(deep);
  EXPECT_FALSE(scan.valid);
  EXPECT_NE(scan.error.find("nested deeper than 256 levels"), std::string::npos) << scan.error;
  const auto fine = std::string(200, '[') + std::string(200, ']');
  EXPECT_TRUE(scan_json(fine).valid);
  EXPECT_TRUE(scan_json(R"({"items":[{"a":{"b":[1,{"c":2}]}}],"attributes":{"etag":"e"}})").valid);
}

}  // namespace
}  // namespace pcproxy::cache
