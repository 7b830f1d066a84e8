#include "cache/key.hpp"

#include <gtest/gtest.h>

namespace pcproxy::cache {
namespace {

key_inputs base() {
  return {"c-scope", "GET", "/v1/customers/usagerecords", "size=10", "tok/1,=", "application/json", "en-US"};
}

TEST(CacheKey, SameInputsSameKey) { EXPECT_EQ(derive_key(base()), derive_key(base())); }

TEST(CacheKey, EveryComponentIsPartOfTheKey) {
  const auto reference = derive_key(base());
  auto vary = [&](auto change) {
    auto in = base();
    change(in);
    return derive_key(in);
  };
  EXPECT_NE(vary([](key_inputs& k) { k.scope = "c-other"; }), reference);
  EXPECT_NE(vary([](key_inputs& k) { k.method = "POST"; }), reference);
  EXPECT_NE(vary([](key_inputs& k) { k.path = "/v1/customers"; }), reference);
  EXPECT_NE(vary([](key_inputs& k) { k.query = "size=20"; }), reference);
  EXPECT_NE(vary([](key_inputs& k) { k.continuation_token = "tok/2,="; }), reference);
  EXPECT_NE(vary([](key_inputs& k) { k.accept = "text/html"; }), reference);
  EXPECT_NE(vary([](key_inputs& k) { k.locale = "de-DE"; }), reference);
}

TEST(CacheKey, FieldsCannotBleedIntoEachOther) {
  auto a = base();
  a.path = "/v1/a";
  a.query = "b";
  auto b = base();
  b.path = "/v1/ab";
  b.query = "";
  EXPECT_NE(derive_key(a), derive_key(b));
  auto c = base();
  c.accept = "x";
  c.locale = "";
  auto d = base();
  d.accept = "";
  d.locale = "x";
  EXPECT_NE(derive_key(c), derive_key(d));
}

TEST(CacheKey, QueryOrderAndEncodingAreNormalised) {
  EXPECT_EQ(normalise_query("b=2&a=1"), normalise_query("a=1&b=2"));
  EXPECT_EQ(normalise_query("a=%31&b=2"), normalise_query("a=1&b=2"));
  EXPECT_EQ(normalise_query("q=a+b"), normalise_query("q=a%20b"));
  EXPECT_EQ(normalise_query("a=1&&b=2&"), normalise_query("a=1&b=2"));
  EXPECT_NE(normalise_query("a=1"), normalise_query("a=2"));
  EXPECT_NE(normalise_query("seekOperation=Next"), normalise_query("seekoperation=Next"));
  EXPECT_EQ(normalise_query("x=%zz"), "x=%25zz");  // a stray % stays literal
  auto a = base();
  a.query = "size=10&seekOperation=Next";
  auto b = base();
  b.query = "seekOperation=Next&size=%31%30";
  EXPECT_EQ(derive_key(a), derive_key(b));
}

TEST(CacheKey, CredentialScopeIsAHashNeverTheCredential) {
  const std::string token = "Bearer eyJhbGciOiJSUzI1NiJ9.secret.signature";
  const auto scope = credential_scope(token);
  EXPECT_EQ(scope.size(), 2u + 32u);
  EXPECT_EQ(scope.rfind("c-", 0), 0u);
  EXPECT_EQ(scope.find("secret"), std::string::npos);
  EXPECT_EQ(scope, credential_scope(token));
  EXPECT_NE(scope, credential_scope(token + "x"));
}

}  // namespace
}  // namespace pcproxy::cache
