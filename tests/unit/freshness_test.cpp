#include "cache/freshness.hpp"

#include <gtest/gtest.h>

namespace pcproxy::cache {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;

core::sys_time utc(int y, unsigned m, unsigned d, int h = 0, int min = 0, int s = 0) {
  return sys_days{year{y} / month{m} / day{d}} + hours{h} + minutes{min} + seconds{s};
}

entry stored_at(core::sys_time t, seconds ttl, seconds swr = 0s, seconds sie = 0s, bool month = false) {
  entry e;
  e.stored_at = e.revalidated_at = t;
  e.rules = {ttl, swr, sie, month};
  return e;
}

TEST(Freshness, FreshWithinTheTtlThenStaleWhileRevalidateThenStaleIfError) {
  const auto t0 = utc(2026, 11, 10, 12);
  const auto e = stored_at(t0, 3600s, 300s, 86400s);
  EXPECT_EQ(classify(e, t0), freshness::fresh);
  EXPECT_EQ(classify(e, t0 + 3599s), freshness::fresh);
  EXPECT_EQ(classify(e, t0 + 3600s), freshness::stale_while_revalidate);
  EXPECT_EQ(classify(e, t0 + 3899s), freshness::stale_while_revalidate);
  EXPECT_EQ(classify(e, t0 + 3900s), freshness::stale);
  EXPECT_EQ(classify(e, t0 + 3600s + 86399s), freshness::stale);
  EXPECT_EQ(classify(e, t0 + 3600s + 86400s), freshness::unusable);
}

TEST(Freshness, AgeAndTimeToLive) {
  const auto t0 = utc(2026, 11, 10, 12);
  const auto e = stored_at(t0, 3600s);
  EXPECT_EQ(age(e, t0 + 312s), 312s);
  EXPECT_EQ(time_to_live(e, t0 + 312s), 3288s);
  EXPECT_EQ(time_to_live(e, t0 + 4000s), 0s);
  EXPECT_EQ(age(e, t0 - 5s), 0s);  // a clock step backwards never gives a negative age
}

TEST(Freshness, MonthBoundaryEndsFreshnessAtMidnightUtc) {
  const auto before = utc(2026, 11, 30, 23, 30);
  const auto e = stored_at(before, 3600s, 300s, 86400s, true);
  EXPECT_EQ(classify(e, utc(2026, 11, 30, 23, 59, 59)), freshness::fresh);
  EXPECT_EQ(time_to_live(e, before), 1800s);  // capped at the boundary, not the full hour
  EXPECT_EQ(classify(e, utc(2026, 12, 1, 0, 0, 0)), freshness::stale);  // never fresh, no SWR
  EXPECT_EQ(time_to_live(e, utc(2026, 12, 1, 0, 0, 1)), 0s);
  EXPECT_TRUE(usable_if_error(e, utc(2026, 12, 1, 0, 10)));
}

TEST(Freshness, MonthBoundaryOnlyAppliesWhenTheRouteAsksForIt) {
  const auto e = stored_at(utc(2026, 11, 30, 23, 30), 3600s, 0s, 0s, false);
  EXPECT_EQ(classify(e, utc(2026, 12, 1, 0, 10)), freshness::fresh);
}

TEST(Freshness, MonthBoundaryAcrossTheYear) {
  EXPECT_TRUE(crosses_month_boundary(utc(2026, 12, 31, 23, 59, 59), utc(2027, 1, 1)));
  EXPECT_FALSE(crosses_month_boundary(utc(2026, 12, 1), utc(2026, 12, 31, 23, 59, 59)));
  EXPECT_FALSE(crosses_month_boundary(utc(2028, 2, 29), utc(2028, 2, 1)));
}

TEST(Freshness, ParsesCacheControl) {
  const auto cc = parse_cache_control("public, max-age=60, S-MAXAGE=\"120\", no-cache, bogus=1");
  EXPECT_TRUE(cc.public_);
  EXPECT_TRUE(cc.no_cache);
  EXPECT_EQ(cc.max_age, 60s);
  EXPECT_EQ(cc.s_maxage, 120s);
  EXPECT_FALSE(cc.no_store);
  EXPECT_TRUE(parse_cache_control("only-if-cached").only_if_cached);
  EXPECT_FALSE(parse_cache_control("max-age=abc").max_age.has_value());
  EXPECT_FALSE(parse_cache_control("max-age=-1").max_age.has_value());
  EXPECT_EQ(parse_cache_control("max-age=99999999999999999999").max_age, seconds{2147483648LL});
}

}  // namespace
}  // namespace pcproxy::cache
