// RFC 9111 through the pipeline, for routes with policy "http" (/v1/http/* here): the
// rules of cache/http_rules applied to real requests, with a scripted upstream and a
// manual clock. Each test names the section it checks.
#include "core/http_date.hpp"
#include "tests/support/fake_partner_center.hpp"
#include "tests/support/pipeline_harness.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pcproxy::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

class HttpCache : public pipeline_harness {
protected:
  static upstream::result answer(std::vector<std::pair<std::string, std::string>> headers, std::string body = "v1",
                                 unsigned status = 200) {
    return scripted_upstream::ok(std::move(body), status, std::move(headers));
  }
  std::string when(std::chrono::seconds offset) const { return core::format_http_date(clock->now() + offset); }
  const std::string a = "/v1/http/a";
};

TEST_F(HttpCache, Section3_5_AuthorizedAnswersAreStoredPerCredentialButNotSharedInTenantScope) {
  upstream->fallback = [](const upstream::request&) { return scripted_upstream::ok("v", 200, {{"Cache-Control", "max-age=60"}}); };
  send(get(a));
  EXPECT_EQ(send(get(a)).header("X-Cache"), "HIT");                            // credential scope: the partition is alice's
  EXPECT_EQ(send(get(a, {}, "Bearer bob")).header("X-Cache"), "MISS");          // and only alice's
  EXPECT_EQ(upstream->calls(), 2u);
}

TEST_F(HttpCache, Section3_5_InTenantScopeOnlyExplicitlySharedAnswersAreStored) {
  settings.cache.scope = config::cache_scope::tenant;
  const auto token = make_test_jwt("tenant-1", std::chrono::system_clock::now() + 1h);
  upstream->queue.push_back(answer({{"Cache-Control", "max-age=60"}}));
  send(get(a, {}, token));
  EXPECT_EQ(send(get(a, {}, token)).header("X-Cache"), "MISS");
  upstream->queue.push_back(answer({{"Cache-Control", "public, max-age=60"}}));
  upstream->queue.push_back(answer({{"Cache-Control", "public, max-age=60"}}));
  send(get("/v1/http/b", {}, token));  // the token is verified by this answer
  send(get("/v1/http/b", {}, token));
  EXPECT_EQ(send(get("/v1/http/b", {}, token)).header("X-Cache"), "HIT");
}

TEST_F(HttpCache, Section4_2_3_UpstreamsAgeCountsAndClientsSeeTheCurrentAge) {
  upstream->queue.push_back(answer({{"Cache-Control", "max-age=60"}, {"Age", "50"}}));
  const auto miss = send(get(a));
  EXPECT_EQ(miss.header("Age"), "50");
  clock->advance(5s);
  const auto hit = send(get(a));
  EXPECT_EQ(hit.header("X-Cache"), "HIT");
  EXPECT_EQ(hit.header("Age"), "55");
  EXPECT_THAT(hit.header("Cache-Status"), HasSubstr("ttl=5"));
  clock->advance(6s);  // 61 s old: stale
  upstream->queue.push_back(answer({{"Cache-Control", "max-age=60"}}, "v2"));
  EXPECT_EQ(send(get(a)).body, "v2");
  EXPECT_EQ(upstream->calls(), 2u);
}

TEST_F(HttpCache, Section4_3_1_AStaleEntryIsRevalidatedWithItsETagAndLastModified) {
  const auto modified = when(-3600s);
  upstream->queue.push_back(answer({{"Cache-Control", "max-age=10"}, {"ETag", "\"e1\""}, {"Last-Modified", modified}}));
  send(get(a));
  clock->advance(11s);
  upstream->queue.push_back(answer({{"Cache-Control", "max-age=600"}, {"X-Fresh", "yes"}}, "", 304));
  const auto res = send(get(a));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "v1");
  EXPECT_EQ(res.header("X-Cache"), "REVALIDATED");
  const auto seen = upstream->seen();
  ASSERT_EQ(seen.size(), 2u);
  const auto& conditional = seen[1];
  EXPECT_EQ(conditional.headers[http::field::if_none_match], "\"e1\"");
  EXPECT_EQ(conditional.headers[http::field::if_modified_since], modified);
  // §4.3.4: the 304's fields updated the stored response, its max-age included.
  clock->advance(300s);
  const auto hit = send(get(a));
  EXPECT_EQ(hit.header("X-Cache"), "HIT");
  EXPECT_EQ(hit.header("X-Fresh"), "yes");
  EXPECT_EQ(hit.header("Cache-Control"), "max-age=600");
  EXPECT_EQ(upstream->calls(), 2u);
}

TEST_F(HttpCache, Section4_3_1_LastModifiedAloneIsAValidator) {
  const auto modified = when(-3600s);
  upstream->queue.push_back(answer({{"Cache-Control", "no-cache"}, {"Last-Modified", modified}}));
  send(get(a));
  upstream->queue.push_back(answer({}, "", 304));
  const auto res = send(get(a));  // no-cache: revalidated before every use
  EXPECT_EQ(res.header("X-Cache"), "REVALIDATED");
  EXPECT_EQ(res.body, "v1");
  const auto seen = upstream->seen();
  EXPECT_EQ(seen.at(1).headers[http::field::if_modified_since], modified);
}

TEST_F(HttpCache, Section4_3_4_A304WithUnusualFieldsStillUpdatesAndServes) {
  upstream->queue.push_back(answer({{"Cache-Control", "max-age=1"}, {"ETag", "\"e1\""}, {"Content-Type", "text/plain"}}));
  send(get(a));
  clock->advance(2s);
  upstream->queue.push_back(answer({{"Content-Type", "application/x-other"}, {"X-Odd", "a\tb"},
                                    {"Expires", "not a date"}, {"Content-Length", "999"}},
                                   "", 304));
  const auto res = send(get(a));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "v1");
  EXPECT_EQ(res.header("Content-Type"), "application/x-other");
  EXPECT_EQ(res.header("X-Odd"), "a\tb");
}

TEST_F(HttpCache, Section4_3_2_ClientConditionsAreAnsweredFromAFreshEntry) {
  const auto modified = when(-3600s);
  upstream->queue.push_back(answer({{"Cache-Control", "max-age=60"}, {"ETag", "\"e1\""}, {"Last-Modified", modified}}));
  send(get(a));
  EXPECT_EQ(send(get(a, {{"If-None-Match", "\"e1\""}})).status, 304);
  EXPECT_EQ(send(get(a, {{"If-Modified-Since", modified}})).status, 304);
  EXPECT_EQ(send(get(a, {{"If-Modified-Since", when(-7200s)}})).status, 200);
  // If-None-Match decides when both are sent.
  EXPECT_EQ(send(get(a, {{"If-None-Match", "\"other\""}, {"If-Modified-Since", modified}})).status, 200);
  EXPECT_EQ(upstream->calls(), 1u);
}

TEST_F(HttpCache, Section4_3_2_ClientConditionsGoUpstreamOnAMissAndItsAnswerIsTheirsAlone) {
  upstream->queue.push_back(answer({{"ETag", "\"e1\""}}, "", 304));
  const auto res = send(get(a, {{"If-None-Match", "\"e1\""}, {"If-Modified-Since", when(-10s)}}));
  EXPECT_EQ(res.status, 304);
  const auto seen = upstream->seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].headers[http::field::if_none_match], "\"e1\"");
  EXPECT_FALSE(seen[0].headers[http::field::if_modified_since].empty());
  // Nothing was stored from a 304: the next plain request goes upstream too.
  upstream->queue.push_back(answer({{"Cache-Control", "max-age=60"}}));
  EXPECT_EQ(send(get(a)).body, "v1");
  EXPECT_EQ(upstream->calls(), 2u);
}

TEST_F(HttpCache, Section4_2_4_MustRevalidateIsNeverServedStaleA504Instead) {
  settings.routes[1].stale_while_revalidate_s = 300;
  upstream->queue.push_back(answer({{"Cache-Control", "max-age=10, must-revalidate"}, {"ETag", "\"e1\""}}));
  send(get(a));
  clock->advance(11s);
  upstream->queue.push_back(scripted_upstream::failed(upstream::failure::connect, "refused"));
  const auto res = send(get(a));
  EXPECT_EQ(res.status, 504);
  EXPECT_THAT(res.body, HasSubstr("must-revalidate"));
  EXPECT_THAT(res.body, HasSubstr("\"code\":5040"));
  // An upstream error answer is relayed as it is, never the stale entry.
  upstream->queue.push_back(answer({}, "boom", 500));
  EXPECT_EQ(send(get(a)).status, 500);
}

TEST_F(HttpCache, WithoutMustRevalidateAStaleEntryCoversAFailure) {
  upstream->queue.push_back(answer({{"Cache-Control", "max-age=10"}, {"ETag", "\"e1\""}}));
  send(get(a));
  clock->advance(11s);
  upstream->queue.push_back(scripted_upstream::failed(upstream::failure::connect, "refused"));
  const auto res = send(get(a));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.header("X-Cache"), "STALE");
}

TEST_F(HttpCache, Section5_2_1_RequestDirectives) {
  upstream->fallback = [](const upstream::request&) {
    return scripted_upstream::ok("v", 200, {{"Cache-Control", "max-age=100"}, {"ETag", "\"e\""}});
  };
  send(get(a));
  clock->advance(150s);
  EXPECT_EQ(send(get(a, {{"Cache-Control", "max-stale=60"}})).header("X-Cache"), "HIT");  // §5.2.1.2
  EXPECT_EQ(upstream->calls(), 1u);
  clock->advance(-100s);  // 50 s old
  EXPECT_EQ(send(get(a, {{"Cache-Control", "min-fresh=60"}})).header("X-Cache"), "REVALIDATED");  // §5.2.1.3
  clock->advance(1s);  // renewed a second ago
  EXPECT_EQ(send(get(a, {{"Cache-Control", "max-age=0"}})).header("X-Cache"), "REVALIDATED");     // §5.2.1.1
  EXPECT_EQ(send(get(a, {{"Cache-Control", "no-cache"}})).header("X-Cache"), "REVALIDATED");      // §5.2.1.4
  EXPECT_EQ(send(get(a, {{"Cache-Control", "frobnicate"}})).header("X-Cache"), "HIT");            // §5.2.3
  EXPECT_EQ(send(get("/v1/http/nothing", {{"Cache-Control", "only-if-cached"}})).status, 504);    // §5.2.1.7
  upstream->fallback = [](const upstream::request&) { return scripted_upstream::ok("v", 200, {{"Cache-Control", "max-age=100"}}); };
  send(get("/v1/http/c", {{"Cache-Control", "no-store"}}));                                       // §5.2.1.5
  EXPECT_EQ(send(get("/v1/http/c")).header("X-Cache"), "MISS");
}

TEST_F(HttpCache, Section4_1_VariantsAreStoredPerSelectingHeaderAndVaryStarNever) {
  upstream->fallback = [](const upstream::request& r) {
    const auto language = std::string(r.headers["Accept-Language"]);
    return scripted_upstream::ok("in " + language, 200, {{"Cache-Control", "max-age=60"}, {"Vary", "Accept-Language"}});
  };
  EXPECT_EQ(send(get(a, {{"Accept-Language", "en"}})).body, "in en");
  EXPECT_EQ(send(get(a, {{"Accept-Language", "de"}})).body, "in de");
  const auto en = send(get(a, {{"Accept-Language", "en"}}));
  EXPECT_EQ(en.header("X-Cache"), "HIT");
  EXPECT_EQ(en.body, "in en");
  const auto de = send(get(a, {{"Accept-Language", "de"}}));
  EXPECT_EQ(de.header("X-Cache"), "HIT");
  EXPECT_EQ(de.body, "in de");
  EXPECT_EQ(send(get(a)).header("X-Cache"), "MISS");  // no Accept-Language: a third variant
  EXPECT_EQ(upstream->calls(), 3u);

  upstream->fallback = [](const upstream::request&) {
    return scripted_upstream::ok("any", 200, {{"Cache-Control", "max-age=60"}, {"Vary", "*"}});
  };
  send(get("/v1/http/star"));
  EXPECT_EQ(send(get("/v1/http/star")).header("X-Cache"), "MISS");
}

TEST_F(HttpCache, Section4_3_5_HeadIsAnsweredFromTheStoredGetAndItsRevalidationUpdatesIt) {
  upstream->queue.push_back(answer({{"Cache-Control", "max-age=10"}, {"ETag", "\"e1\""}}));
  send(get(a));
  auto head = get(a);
  head.method(http::verb::head);
  const auto fresh = send(head);
  EXPECT_EQ(fresh.header("X-Cache"), "HIT");
  EXPECT_TRUE(fresh.body.empty() || fresh.status == 200);
  clock->advance(11s);
  upstream->queue.push_back(answer({{"Cache-Control", "max-age=600"}, {"X-Updated", "by-head"}}, "", 304));
  EXPECT_EQ(send(head).header("X-Cache"), "REVALIDATED");
  const auto after = send(get(a));  // the GET the HEAD refreshed
  EXPECT_EQ(after.header("X-Cache"), "HIT");
  EXPECT_EQ(after.header("X-Updated"), "by-head");
  EXPECT_EQ(after.body, "v1");
  EXPECT_EQ(upstream->calls(), 2u);
}

TEST_F(HttpCache, Section4_4_UnsafeMethodsInvalidateTheTargetLocationAndContentLocation) {
  upstream->fallback = [](const upstream::request& r) {
    if (r.method == http::verb::post)
      return scripted_upstream::ok("", 201, {{"Location", "/v1/http/b?x=1"}, {"Content-Location", "https://elsewhere.example/v1/http/c"}});
    return scripted_upstream::ok("v", 200, {{"Cache-Control", "max-age=600"}});
  };
  for (const auto* path : {"/v1/http/a", "/v1/http/b", "/v1/http/c"}) send(get(path));
  auto post = get(a);
  post.method(http::verb::post);
  EXPECT_EQ(send(post).status, 201);
  EXPECT_EQ(send(get("/v1/http/a")).header("X-Cache"), "MISS");  // the target
  EXPECT_EQ(send(get("/v1/http/b")).header("X-Cache"), "MISS");  // Location, same origin
  EXPECT_EQ(send(get("/v1/http/c")).header("X-Cache"), "HIT");   // another origin: left alone
}

TEST_F(HttpCache, Section3_1_HopByHopAndConnectionListedFieldsAreNeverStored) {
  upstream->queue.push_back(answer({{"Cache-Control", "max-age=60"}, {"Connection", "X-Session"}, {"X-Session", "s1"},
                                    {"Keep-Alive", "timeout=5"}, {"X-Kept", "k"}}));
  send(get(a));
  const auto hit = send(get(a));
  EXPECT_EQ(hit.header("X-Cache"), "HIT");
  EXPECT_EQ(hit.header("X-Session"), "");
  EXPECT_EQ(hit.header("Keep-Alive"), "");
  EXPECT_EQ(hit.header("X-Kept"), "k");
}

TEST_F(HttpCache, TheCachePolicyKeepsItsPartnerCenterRules) {
  // Usage records: only 200s, for the route's TTL, whatever Cache-Control says.
  upstream->queue.push_back(scripted_upstream::ok("{\"items\":[]}", 200, {{"Cache-Control", "max-age=5"}}));
  send(get());
  clock->advance(60s);
  EXPECT_EQ(send(get()).header("X-Cache"), "HIT");
  upstream->queue.push_back(scripted_upstream::ok("{\"e\":1}", 404, {{"Cache-Control", "max-age=600"}}));
  send(get("/v1/customers/usagerecords?size=5"));
  upstream->queue.push_back(scripted_upstream::ok("{\"items\":[]}", 200));
  EXPECT_EQ(send(get("/v1/customers/usagerecords?size=5")).header("X-Cache"), "MISS");
}

}  // namespace
}  // namespace pcproxy::testing
