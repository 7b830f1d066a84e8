// RFC 9111 for routes with policy "http", section by section: each test names the
// section whose rule it checks. The pure rules are checked here; the same rules through
// the pipeline (conditional requests, 304 merging, Vary, invalidation) in
// tests/unit/http_cache_test.cpp.
#include "cache/freshness.hpp"
#include "cache/http_rules.hpp"
#include "cache/policy.hpp"
#include "core/http_date.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pcproxy::cache {
namespace {

using namespace std::chrono_literals;
using std::chrono::seconds;
using ::testing::ElementsAre;

const core::sys_time t0 = std::chrono::sys_days{std::chrono::year{2026} / 11 / 10} + std::chrono::hours{12};

std::string date(core::sys_time t) { return core::format_http_date(t); }

// What http_store decides for a response to a request without Cache-Control.
std::optional<http_storage> store(unsigned status, header_list response, bool authorization_restricts = false,
                                  const std::string& request_cc = "") {
  const auto request = parse_cache_control(request_cc);
  return http_store({status, response, request, authorization_restricts, t0, t0});
}

entry stored(seconds ttl, seconds initial_age = 0s, bool must_revalidate = false, bool no_cache = false) {
  entry e;
  e.status = 200;
  e.stored_at = e.revalidated_at = t0;
  e.initial_age = initial_age;
  e.rules.ttl = ttl;
  e.rules.stale_if_error = 86400s;
  e.rules.must_revalidate = must_revalidate;
  e.rules.no_cache = no_cache;
  return e;
}

freshness reuse(const entry& e, const std::string& request_cc, core::sys_time now) {
  const auto asked = parse_cache_control(request_cc);
  return policy_for(config::cache_policy::http).reuse(e, {asked}, now);
}

// ---- §3 Storing responses ----

TEST(Rfc9111, Section3_StatusesCacheableByDefaultAreStoredWithAValidatorOrFreshness) {
  for (unsigned status : {200u, 203u, 204u, 300u, 301u, 308u, 404u, 405u, 410u, 414u, 501u})
    EXPECT_TRUE(store(status, {{"ETag", "\"v\""}})) << status;
  // Not cacheable by default: stored only with explicit freshness or public.
  EXPECT_FALSE(store(302, {{"ETag", "\"v\""}}));
  EXPECT_FALSE(store(500, {{"ETag", "\"v\""}}));
  EXPECT_TRUE(store(302, {{"Cache-Control", "max-age=60"}}));
  EXPECT_TRUE(store(500, {{"Expires", date(t0 + 60s)}}));
  EXPECT_TRUE(store(307, {{"Cache-Control", "public, max-age=10"}}));
  // Nothing to reuse it with: no freshness and no validator.
  EXPECT_FALSE(store(200, {}));
  EXPECT_FALSE(store(200, {{"Cache-Control", "public"}}));
}

TEST(Rfc9111, Section3_PartialContentNotModifiedAndInformationalAreNotStored) {
  for (unsigned status : {100u, 206u, 304u})
    EXPECT_FALSE(store(status, {{"Cache-Control", "max-age=60"}})) << status;
}

TEST(Rfc9111, Section5_2_NoStoreOnEitherSideAndPrivateAreNotStored) {
  EXPECT_FALSE(store(200, {{"Cache-Control", "no-store, max-age=60"}}));
  EXPECT_FALSE(store(200, {{"Cache-Control", "max-age=60"}}, false, "no-store"));
  EXPECT_FALSE(store(200, {{"Cache-Control", "private, max-age=60"}}));
  EXPECT_FALSE(store(200, {{"Cache-Control", "private=\"Set-Cookie\", max-age=60"}}));
  // Split over two field lines, still one list.
  EXPECT_FALSE(store(200, {{"Cache-Control", "max-age=60"}, {"Cache-Control", "no-store"}}));
}

TEST(Rfc9111, Section5_2_2_4_NoCacheIsStoredButRevalidatedBeforeEveryUse) {
  for (const auto* cc : {"no-cache, max-age=60", "no-cache=\"Set-Cookie\", max-age=60"}) {
    const auto s = store(200, {{"Cache-Control", cc}, {"ETag", "\"v\""}});
    ASSERT_TRUE(s) << cc;
    EXPECT_TRUE(s->no_cache);
  }
  const auto e = stored(60s, 0s, false, true);
  EXPECT_EQ(classify(e, t0), freshness::stale);
  EXPECT_EQ(time_to_live(e, t0), 0s);
}

TEST(Rfc9111, Section3_5_AuthorizationStoresOnlyExplicitlySharedAnswersInTenantScope) {
  EXPECT_FALSE(store(200, {{"Cache-Control", "max-age=60"}}, true));
  EXPECT_TRUE(store(200, {{"Cache-Control", "public, max-age=60"}}, true));
  EXPECT_TRUE(store(200, {{"Cache-Control", "s-maxage=60"}}, true));
  EXPECT_TRUE(store(200, {{"Cache-Control", "must-revalidate, max-age=60"}}, true));
  // In credential scope the partition is the credential's own: §3.5 does not restrict.
  EXPECT_TRUE(store(200, {{"Cache-Control", "max-age=60"}}, false));
}

TEST(Rfc9111, Section4_1_VaryNamesTheSelectingHeadersAndStarMatchesNothing) {
  EXPECT_THAT(*vary_names({{"Vary", "Accept-Language, X-Tenant"}, {"Vary", "accept-language"}}),
              ElementsAre("accept-language", "x-tenant"));
  EXPECT_FALSE(vary_names({{"Vary", "Accept, *"}}));
  EXPECT_FALSE(store(200, {{"Vary", "*"}, {"Cache-Control", "max-age=60"}}));
  const auto s = store(200, {{"Vary", "Accept-Language"}, {"Cache-Control", "max-age=60"}});
  ASSERT_TRUE(s);
  EXPECT_THAT(s->vary, ElementsAre("accept-language"));
  // Values are compared with their lines joined and spaces folded; absent is "".
  const header_list request = {{"Accept-Language", "en,  de"}, {"accept-language", "fr"}};
  EXPECT_EQ(selecting_headers({"accept-language", "x-tenant"}, request),
            (header_list{{"accept-language", "en, de, fr"}, {"x-tenant", ""}}));
}

// ---- §4.2 Freshness ----

TEST(Rfc9111, Section4_2_1_SMaxageThenMaxAgeThenExpiresMinusDate) {
  EXPECT_EQ(freshness_lifetime({{"Cache-Control", "max-age=60, s-maxage=10"}}, 200, t0), 10s);
  EXPECT_EQ(freshness_lifetime({{"Cache-Control", "max-age=60"}, {"Expires", date(t0 + 999s)}}, 200, t0), 60s);
  EXPECT_EQ(freshness_lifetime({{"Date", date(t0 - 100s)}, {"Expires", date(t0 + 200s)}}, 200, t0), 300s);
  EXPECT_EQ(freshness_lifetime({{"Expires", date(t0 + 200s)}}, 200, t0), 200s);  // no Date: the response time
}

TEST(Rfc9111, Section4_2_1_AnInvalidExpiresOrLifetimeMeansStale) {
  EXPECT_EQ(freshness_lifetime({{"Expires", "0"}}, 200, t0), 0s);
  EXPECT_EQ(freshness_lifetime({{"Expires", "yesterday"}}, 200, t0), 0s);
  EXPECT_EQ(freshness_lifetime({{"Expires", date(t0 + 60s)}, {"Expires", date(t0 + 90s)}}, 200, t0), 0s);
  EXPECT_EQ(freshness_lifetime({{"Cache-Control", "max-age=abc"}}, 200, t0), 0s);
  EXPECT_EQ(freshness_lifetime({{"Cache-Control", "max-age=60, max-age=90"}}, 200, t0), 0s);
  EXPECT_EQ(freshness_lifetime({{"Cache-Control", "max-age=60"}, {"Cache-Control", "max-age=60"}}, 200, t0), 60s);
  EXPECT_EQ(freshness_lifetime({{"Cache-Control", "max-age=1.5"}}, 200, t0), 0s);
  EXPECT_EQ(freshness_lifetime({{"Cache-Control", "s-maxage=-1, max-age=60"}}, 200, t0), 0s);
  // A stored answer with an invalid lifetime is kept (it has a validator) but stale.
  const auto s = store(200, {{"Cache-Control", "max-age=oops"}, {"ETag", "\"v\""}});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->lifetime, 0s);
}

TEST(Rfc9111, Section4_2_2_HeuristicFreshnessFromLastModifiedForDefaultCacheableStatuses) {
  const header_list modified = {{"Date", date(t0)}, {"Last-Modified", date(t0 - 10000s)}};
  EXPECT_EQ(freshness_lifetime(modified, 200, t0), 1000s);  // 10 % of the time since
  EXPECT_EQ(freshness_lifetime(modified, 404, t0), 1000s);
  EXPECT_EQ(freshness_lifetime(modified, 302, t0), 0s);  // not cacheable by default
  EXPECT_EQ(freshness_lifetime({{"Last-Modified", date(t0 - 3650 * 86400s)}}, 200, t0), 86400s);  // at most a day
  EXPECT_EQ(freshness_lifetime({{"Last-Modified", date(t0 + 60s)}}, 200, t0), 0s);  // in the future
}

TEST(Rfc9111, Section4_2_3_TheCorrectedInitialAgeHonoursAgeDateAndTheResponseDelay) {
  EXPECT_EQ(corrected_initial_age({{"Age", "100"}}, t0, t0), 100s);
  EXPECT_EQ(corrected_initial_age({{"Age", "100"}}, t0 - 3s, t0), 103s);                   // + response delay
  EXPECT_EQ(corrected_initial_age({{"Date", date(t0 - 500s)}, {"Age", "100"}}, t0, t0), 500s);  // apparent age
  EXPECT_EQ(corrected_initial_age({{"Date", date(t0 + 500s)}}, t0, t0), 0s);              // clock skew: not negative
  EXPECT_EQ(corrected_initial_age({{"Age", "junk"}}, t0, t0), 0s);
  // The age counts against the lifetime: max-age=60 with Age: 50 leaves 10 seconds.
  const auto e = stored(60s, 50s);
  EXPECT_EQ(age(e, t0), 50s);
  EXPECT_EQ(time_to_live(e, t0), 10s);
  EXPECT_EQ(classify(e, t0 + 9s), freshness::fresh);
  EXPECT_EQ(classify(e, t0 + 10s), freshness::stale);
  // Already stale on arrival and nothing to revalidate it with: not stored.
  EXPECT_FALSE(store(200, {{"Cache-Control", "max-age=60"}, {"Age", "100"}}));
}

TEST(Rfc9111, Section4_2_4_MustRevalidateProxyRevalidateAndSMaxageAreNeverServedStale) {
  for (const auto* cc : {"max-age=60, must-revalidate", "max-age=60, proxy-revalidate", "s-maxage=60"}) {
    const auto s = store(200, {{"Cache-Control", cc}});
    ASSERT_TRUE(s) << cc;
    EXPECT_TRUE(s->must_revalidate) << cc;
  }
  auto e = stored(60s, 0s, true);
  e.rules.stale_while_revalidate = 300s;
  EXPECT_EQ(classify(e, t0 + 61s), freshness::stale);  // never stale-while-revalidate
  EXPECT_FALSE(usable_if_error(e, t0 + 61s));          // never stale-if-error
  EXPECT_EQ(reuse(e, "max-stale=3600", t0 + 61s), freshness::stale);  // nor by max-stale
}

// ---- §5.2.1 Request directives ----

TEST(Rfc9111, Section5_2_1_RequestDirectivesNarrowOrWidenWhatIsServed) {
  const auto e = stored(100s);
  EXPECT_EQ(reuse(e, "", t0 + 50s), freshness::fresh);
  EXPECT_EQ(reuse(e, "max-age=30", t0 + 50s), freshness::stale);     // §5.2.1.1
  EXPECT_EQ(reuse(e, "max-age=60", t0 + 50s), freshness::fresh);
  EXPECT_EQ(reuse(e, "min-fresh=60", t0 + 50s), freshness::stale);   // §5.2.1.3: 50 s left
  EXPECT_EQ(reuse(e, "min-fresh=40", t0 + 50s), freshness::fresh);
  EXPECT_EQ(reuse(e, "no-cache", t0 + 50s), freshness::stale);       // §5.2.1.4
  EXPECT_EQ(reuse(e, "", t0 + 150s), freshness::stale);
  EXPECT_EQ(reuse(e, "max-stale=60", t0 + 150s), freshness::fresh);  // §5.2.1.2
  EXPECT_EQ(reuse(e, "max-stale=40", t0 + 150s), freshness::stale);
  EXPECT_EQ(reuse(e, "max-stale", t0 + 5000s), freshness::fresh);
  EXPECT_EQ(reuse(e, "unknown-directive, max-age=60", t0 + 50s), freshness::fresh);  // §5.2.3: ignored
  const auto cc = parse_cache_control("only-if-cached, no-store");
  EXPECT_TRUE(cc.only_if_cached);                                   // §5.2.1.7
  EXPECT_TRUE(cc.no_store);                                         // §5.2.1.5
}

TEST(Rfc9111, Section5_2_QuotedArgumentsMayHoldCommas) {
  const auto cc = parse_cache_control("no-cache=\"Set-Cookie, X-Id\", max-age=30");
  EXPECT_TRUE(cc.no_cache);
  EXPECT_EQ(cc.max_age, 30s);
  EXPECT_FALSE(cc.invalid_lifetime);
}

// ---- §3.2 and §4.3.4 Updating stored headers ----

TEST(Rfc9111, Section4_3_4_A304ReplacesTheFieldsItCarriesExceptContentLength) {
  const header_list stored_headers = {{"Content-Type", "text/plain"}, {"Cache-Control", "max-age=10"},
                                      {"X-Old", "1"}, {"X-Old", "2"}, {"Content-Length", "5"}};
  const header_list update = {{"Cache-Control", "max-age=600"}, {"x-old", "3"}, {"X-New", "4"}, {"Content-Length", "0"}};
  EXPECT_EQ(merge_updated_headers(stored_headers, update),
            (header_list{{"Content-Type", "text/plain"}, {"Content-Length", "5"}, {"Cache-Control", "max-age=600"},
                         {"x-old", "3"}, {"X-New", "4"}}));
}

}  // namespace
}  // namespace pcproxy::cache
