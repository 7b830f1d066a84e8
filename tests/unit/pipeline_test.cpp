// The request pipeline's cache rules, driven with a scripted upstream and a manual
// clock: every decision is deterministic and no socket is opened.
#include "cache/scope.hpp"
#include "config/config.hpp"
#include "proxy/pipeline.hpp"
#include "proxy/service.hpp"
#include "tests/support/fake_partner_center.hpp"
#include "tests/support/manual_clock.hpp"
#include "tests/support/pipeline_harness.hpp"
#include "tests/support/scripted_upstream.hpp"
#include "tests/support/test_pki.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pcproxy::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
namespace http = beast::http;

using Pipeline = pipeline_harness;

TEST_F(Pipeline, AFreshEntryIsAHitAndCarriesAValidator) {
  const auto miss = send(get());
  EXPECT_EQ(miss.header("X-Cache"), "MISS");
  const auto etag = miss.header("ETag");
  EXPECT_EQ(etag.size(), 34u);  // derived from the body: upstream sent none
  clock->advance(100s);
  const auto hit = send(get());
  EXPECT_EQ(hit.header("X-Cache"), "HIT");
  EXPECT_EQ(hit.header("Age"), "100");
  EXPECT_EQ(hit.header("Cache-Status"), "pcproxy; hit; ttl=3500");
  EXPECT_EQ(hit.header("ETag"), etag);
  EXPECT_EQ(upstream->calls(), 1u);
}

TEST_F(Pipeline, IfNoneMatchGets304WithoutABody) {
  const auto etag = send(get()).header("ETag");
  for (const auto& inm : {etag, "W/" + etag, std::string("*"), "\"other\", " + etag}) {
    const auto res = send(get("/v1/customers/usagerecords", {{"If-None-Match", inm}}));
    EXPECT_EQ(res.status, 304) << inm;
    EXPECT_TRUE(res.body.empty());
    EXPECT_EQ(res.header("ETag"), etag);
  }
  EXPECT_EQ(send(get("/v1/customers/usagerecords", {{"If-None-Match", "\"other\""}})).status, 200);
  EXPECT_EQ(upstream->calls(), 1u);
  // The client's condition is pcproxy's to answer: it never reaches upstream.
  EXPECT_FALSE(upstream->seen()[0].headers.count(http::field::if_none_match));
}

TEST_F(Pipeline, AfterTheTtlItRevalidatesAndKeepsTheStoredBytesOn304) {
  upstream->queue.push_back(scripted_upstream::ok("{\"v\":1}", 200, {{"ETag", "\"e1\""}}));
  const auto first = send(get());
  EXPECT_EQ(first.header("ETag"), "\"e1\"");
  clock->advance(3600s + 300s + 1s);  // past the TTL and the stale-while-revalidate window
  upstream->queue.push_back(scripted_upstream::ok("", 304));
  const auto res = send(get());
  EXPECT_EQ(res.header("X-Cache"), "REVALIDATED");
  EXPECT_EQ(res.body, "{\"v\":1}");
  EXPECT_EQ(res.header("Age"), "0");
  EXPECT_EQ(upstream->seen()[1].headers[http::field::if_none_match], "\"e1\"");
  EXPECT_EQ(send(get()).header("X-Cache"), "HIT");  // fresh again
}

TEST_F(Pipeline, ASameValidator200AlsoRevalidates) {
  send(get());
  clock->advance(4000s);
  const auto res = send(get());  // the fallback answers the same body
  EXPECT_EQ(res.header("X-Cache"), "REVALIDATED");
  EXPECT_EQ(upstream->calls(), 2u);
}

TEST_F(Pipeline, ChangedContentReplacesTheEntry) {
  send(get());
  clock->advance(4000s);
  upstream->queue.push_back(scripted_upstream::ok("{\"items\":[2]}"));
  const auto res = send(get());
  EXPECT_EQ(res.header("X-Cache"), "MISS");
  EXPECT_THAT(res.header("Cache-Status"), HasSubstr("fwd=stale; fwd-status=200; stored"));
  EXPECT_EQ(res.body, "{\"items\":[2]}");
  EXPECT_EQ(send(get()).body, "{\"items\":[2]}");
}

TEST_F(Pipeline, StaleWhileRevalidateAnswersAtOnceAndRefreshesOnce) {
  send(get());
  clock->advance(3600s + 10s);  // inside the 300 s window
  upstream->latency = 50ms;
  upstream->queue.push_back(scripted_upstream::ok("{\"items\":[\"new\"]}"));
  const auto stale = send_all({get(), get(), get()});
  for (const auto& s : stale) {
    EXPECT_EQ(s.header("X-Cache"), "STALE");
    EXPECT_EQ(s.body, "{\"items\":[1]}");
    EXPECT_THAT(s.header("Cache-Status"), HasSubstr("stale-while-revalidate"));
  }
  EXPECT_EQ(upstream->calls(), 2u);  // one background refresh for the three
  const auto after = send(get());
  EXPECT_EQ(after.header("X-Cache"), "HIT");
  EXPECT_EQ(after.body, "{\"items\":[\"new\"]}");
}

TEST_F(Pipeline, StaleIfErrorCoversFailuresWithinItsWindow) {
  send(get());
  clock->advance(3600s + 301s);
  for (auto failure : {scripted_upstream::ok("{}", 500), scripted_upstream::ok("{}", 503),
                       scripted_upstream::ok("{}", 429), scripted_upstream::failed(upstream::failure::timeout),
                       scripted_upstream::failed(upstream::failure::connect)}) {
    const bool had_status = failure.answer.has_value();
    upstream->queue.push_back(failure);
    const auto res = send(get());
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.header("X-Cache"), "STALE");
    EXPECT_EQ(res.body, "{\"items\":[1]}");
    EXPECT_THAT(res.header("Cache-Status"), HasSubstr(had_status ? "fwd-status=" : "detail="));
    EXPECT_THAT(res.header("Cache-Status"), HasSubstr("stale-if-error"));
  }
  // A 404 is an answer, not a failure: it passes through.
  upstream->queue.push_back(scripted_upstream::ok("{}", 404));
  EXPECT_EQ(send(get()).status, 404);
}

TEST_F(Pipeline, NoStaleEntryOnceTheWindowHasPassed) {
  send(get());
  clock->advance(3600s + 86400s + 1s);
  upstream->queue.push_back(scripted_upstream::ok("{\"code\":1}", 500));
  const auto res = send(get());
  EXPECT_EQ(res.status, 500);
  EXPECT_EQ(res.body, "{\"code\":1}");
  EXPECT_EQ(res.header("X-Cache"), "MISS");
  upstream->queue.push_back(scripted_upstream::failed(upstream::failure::connect, "refused"));
  EXPECT_EQ(send(get()).status, 502);
}

TEST_F(Pipeline, TheMonthBoundaryEndsFreshness) {
  clock->set(std::chrono::sys_days{std::chrono::year{2026} / 11 / 30} + 23h + 50min);
  send(get());
  clock->set(std::chrono::sys_days{std::chrono::year{2026} / 12 / 1} + 1s);
  const auto res = send(get());
  EXPECT_NE(res.header("X-Cache"), "HIT");
  EXPECT_NE(res.header("X-Cache"), "STALE");  // not even stale-while-revalidate
  EXPECT_EQ(upstream->calls(), 2u);
}

TEST_F(Pipeline, ConcurrentMissesMakeOneUpstreamCall) {
  upstream->latency = 50ms;
  std::vector<server::request> many(20, get());
  const auto answers = send_all(many);
  EXPECT_EQ(upstream->calls(), 1u);
  for (const auto& a : answers) {
    EXPECT_EQ(a.status, 200);
    EXPECT_EQ(a.body, "{\"items\":[1]}");
  }
}

TEST_F(Pipeline, ALeadersFailureReachesEveryFollower) {
  upstream->latency = 50ms;
  upstream->queue.push_back(scripted_upstream::failed(upstream::failure::deadline, "too slow"));
  const auto answers = send_all(std::vector<server::request>(5, get()));
  EXPECT_EQ(upstream->calls(), 1u);
  for (const auto& a : answers) {
    EXPECT_EQ(a.status, 504);
    EXPECT_THAT(a.body, HasSubstr("too slow"));
  }
}

TEST_F(Pipeline, FollowersGoThemselvesAfterTheWaitBound) {
  settings.cache.single_flight_wait_ms = 10;
  upstream->latency = 100ms;
  send_all(std::vector<server::request>(4, get()));
  EXPECT_EQ(upstream->calls(), 4u);
}

TEST_F(Pipeline, ClientCacheControl) {
  send(get());
  clock->advance(100s);
  EXPECT_EQ(send(get("/v1/customers/usagerecords", {{"Cache-Control", "max-age=200"}})).header("X-Cache"), "HIT");
  EXPECT_EQ(upstream->calls(), 1u);
  EXPECT_EQ(send(get("/v1/customers/usagerecords", {{"Cache-Control", "max-age=50"}})).header("X-Cache"), "REVALIDATED");
  EXPECT_EQ(send(get("/v1/customers/usagerecords", {{"Cache-Control", "no-cache"}})).header("X-Cache"), "REVALIDATED");
  EXPECT_EQ(send(get("/v1/customers/usagerecords", {{"Pragma", "no-cache"}})).header("X-Cache"), "REVALIDATED");
  EXPECT_EQ(upstream->calls(), 4u);
  EXPECT_EQ(send(get("/v1/customers/usagerecords", {{"Cache-Control", "only-if-cached"}})).header("X-Cache"), "HIT");

  const auto miss = send(get("/v1/customers/usagerecords?other=1", {{"Cache-Control", "only-if-cached"}}));
  EXPECT_EQ(miss.status, 504);
  EXPECT_THAT(miss.body, HasSubstr("only-if-cached"));
  EXPECT_EQ(upstream->calls(), 4u);

  send(get("/v1/customers/usagerecords?nostore=1", {{"Cache-Control", "no-store"}}));
  EXPECT_EQ(send(get("/v1/customers/usagerecords?nostore=1")).header("X-Cache"), "MISS");
}

TEST_F(Pipeline, OnlyOkResponsesAreStored) {
  upstream->queue.push_back(scripted_upstream::ok("{\"code\":404}", 404));
  EXPECT_EQ(send(get()).status, 404);
  EXPECT_EQ(send(get()).header("X-Cache"), "MISS");
  EXPECT_EQ(upstream->calls(), 2u);
}

TEST_F(Pipeline, UpstreamNoStoreAndUncoveredVaryAreNotStored) {
  upstream->queue.push_back(scripted_upstream::ok("{}", 200, {{"Cache-Control", "no-store"}}));
  send(get());
  upstream->queue.push_back(scripted_upstream::ok("{}", 200, {{"Vary", "Cookie"}}));
  send(get());
  EXPECT_EQ(send(get()).header("X-Cache"), "MISS");
  EXPECT_EQ(upstream->calls(), 3u);
}

TEST_F(Pipeline, HttpPolicyFollowsTheUpstreamsCacheControl) {
  upstream->queue.push_back(scripted_upstream::ok("{}", 200, {{"Cache-Control", "public, max-age=60"}}));
  send(get("/v1/http/a"));
  EXPECT_EQ(send(get("/v1/http/a")).header("X-Cache"), "HIT");
  clock->advance(61s);
  upstream->queue.push_back(scripted_upstream::ok("{}", 200, {{"Cache-Control", "no-store"}}));
  send(get("/v1/http/a"));
  EXPECT_EQ(send(get("/v1/http/a")).header("X-Cache"), "MISS");
}

TEST_F(Pipeline, HeadIsFetchedAsGetAndServedFromTheEntry) {
  auto head = get();
  head.method(http::verb::head);
  EXPECT_EQ(send(head).status, 200);
  EXPECT_EQ(upstream->seen()[0].method, http::verb::get);
  EXPECT_EQ(send(get()).header("X-Cache"), "HIT");
}

TEST_F(Pipeline, DebugHeadersNeedLoopbackOrTheAdminToken) {
  settings.admin.token_file = write_temp_file("admin-token", "debug-s3cret");
  const auto debug = get("/v1/customers/usagerecords", {{"Pcproxy-Debug", "1"}});
  EXPECT_FALSE(send(debug).header("Pcproxy-Debug-Route").empty());  // loopback
  EXPECT_TRUE(send(debug, from("10.1.2.3")).header("Pcproxy-Debug-Route").empty());
  auto wrong = get("/v1/customers/usagerecords", {{"Pcproxy-Debug", "1"}, {"Pcproxy-Debug-Token", "nope"}});
  EXPECT_TRUE(send(wrong, from("10.1.2.3")).header("Pcproxy-Debug-Route").empty());
  auto right = get("/v1/customers/usagerecords", {{"Pcproxy-Debug", "1"}, {"Pcproxy-Debug-Token", "debug-s3cret"}});
  EXPECT_EQ(send(right, from("10.1.2.3")).header("Pcproxy-Debug-Route"), "/v1/customers/usagerecords; policy=cache");
  for (const auto& r : upstream->seen()) EXPECT_FALSE(r.headers.count("Pcproxy-Debug-Token"));
}

TEST_F(Pipeline, AnExposedAdminListenerWithoutATokenRefusesAdminCalls) {
  settings.admin_listen = {"0.0.0.0", 9090};  // not bound here: only the decision is tested
  auto listing = get("/admin/cache", {}, "");
  EXPECT_EQ(send_admin(listing).status, 403);
  EXPECT_THAT(send_admin(listing).body, HasSubstr("admin.token_file"));
  EXPECT_EQ(send_admin(get("/metrics", {}, "")).status, 200);  // scrapes stay possible
}

TEST_F(Pipeline, AnAdminListenerOnLoopbackServesAdminCallsWithoutAToken) {
  EXPECT_EQ(send_admin(get("/admin/cache", {}, "")).status, 200);
}

TEST_F(Pipeline, AReloadChangesRoutesForTheRequestsThatFollow) {
  send(get());
  EXPECT_EQ(send(get()).header("X-Cache"), "HIT");
  auto next = settings;
  next.routes = {{"/*", config::cache_policy::pass, 0, 0, false}};
  service().apply(next);
  EXPECT_EQ(send(get()).header("X-Cache"), "BYPASS");
  EXPECT_EQ(upstream->calls(), 2u);
}

class TenantPipeline : public Pipeline {
protected:
  TenantPipeline() { settings.cache.scope = config::cache_scope::tenant; }
  std::string token(std::string tid, std::string nonce, bool signed_ok = true) {
    return make_test_jwt(tid, clock->now() + 1h, signed_ok, nonce);
  }
};

TEST_F(TenantPipeline, ARefreshedTokenOfTheTenantSharesEntriesOnceUpstreamAcceptedIt) {
  const auto first = token("contoso", "1");
  const auto refreshed = token("contoso", "2");
  send(get("/v1/customers/usagerecords?page=1", {}, first));
  send(get("/v1/customers/usagerecords?page=2", {}, first));
  ASSERT_EQ(upstream->calls(), 2u);
  // The new token's first request goes upstream, whatever is cached.
  const auto verify = send(get("/v1/customers/usagerecords?page=1", {}, refreshed));
  EXPECT_EQ(verify.header("X-Cache"), "MISS");
  EXPECT_THAT(verify.header("Cache-Status"), HasSubstr("token-not-yet-verified"));
  EXPECT_EQ(upstream->calls(), 3u);
  // Accepted: it now reads the tenant's entries, including those the old token stored.
  EXPECT_EQ(send(get("/v1/customers/usagerecords?page=2", {}, refreshed)).header("X-Cache"), "HIT");
  EXPECT_EQ(upstream->calls(), 3u);
}

TEST_F(TenantPipeline, AForgedTokenWithARealTidSeesNoCachedByte) {
  send(get("/v1/customers/usagerecords", {}, token("contoso", "1")));
  upstream->queue.push_back(scripted_upstream::ok("{\"code\":900401}", 401));
  const auto forged = send(get("/v1/customers/usagerecords", {}, token("contoso", "evil", false)));
  EXPECT_EQ(forged.status, 401);
  EXPECT_EQ(forged.body, "{\"code\":900401}");
  EXPECT_EQ(upstream->calls(), 2u);
  // And it never becomes a follower of another token's flight either.
  upstream->latency = 50ms;
  clock->advance(4000s);
  upstream->fallback = [](const upstream::request& r) {
    return r.headers[http::field::authorization].find(std::string(32, 'f')) != std::string_view::npos
               ? scripted_upstream::ok("{\"code\":900401}", 401)
               : scripted_upstream::ok("{\"items\":[1]}");
  };
  const auto both = send_all({get("/v1/customers/usagerecords", {}, token("contoso", "1")),
                              get("/v1/customers/usagerecords", {}, token("contoso", "evil", false))});
  EXPECT_EQ(both[0].status, 200);
  EXPECT_EQ(both[1].status, 401);
}

TEST_F(TenantPipeline, AnotherTenantNeverHits) {
  send(get("/v1/customers/usagerecords", {}, token("contoso", "1")));
  send(get("/v1/customers/usagerecords", {}, token("fabrikam", "1")));
  EXPECT_EQ(send(get("/v1/customers/usagerecords", {}, token("fabrikam", "1"))).header("X-Cache"), "HIT");
  EXPECT_EQ(upstream->calls(), 2u);
}

TEST_F(TenantPipeline, A401ForgetsTheVerdictAndExpiryEndsIt) {
  const auto t = token("contoso", "1");
  send(get("/v1/customers/usagerecords", {}, t));
  EXPECT_EQ(send(get("/v1/customers/usagerecords", {}, t)).header("X-Cache"), "HIT");
  upstream->queue.push_back(scripted_upstream::ok("{}", 401));
  send(get("/v1/customers", {}, t));  // a pass route: upstream revokes the token
  EXPECT_EQ(send(get("/v1/customers/usagerecords", {}, t)).header("X-Cache"), "MISS");
  EXPECT_EQ(send(get("/v1/customers/usagerecords", {}, t)).header("X-Cache"), "HIT");  // accepted again
  clock->advance(1h + 1s);  // past exp
  const auto expired = send(get("/v1/customers/usagerecords", {}, t));
  EXPECT_THAT(expired.header("Cache-Status"), HasSubstr("token-not-yet-verified"));
}

TEST_F(TenantPipeline, OpaqueTokensFallBackToCredentialScope) {
  send(get("/v1/customers/usagerecords", {}, "Bearer opaque-1"));
  EXPECT_EQ(send(get("/v1/customers/usagerecords", {}, "Bearer opaque-2")).header("X-Cache"), "MISS");
  EXPECT_EQ(send(get("/v1/customers/usagerecords", {}, "Bearer opaque-1")).header("X-Cache"), "HIT");
}

}  // namespace
}  // namespace pcproxy::testing
