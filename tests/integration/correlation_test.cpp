// Correlation headers (DESIGN.md §9) as the fake Partner Center and the client see them.
#include "tests/support/fake_partner_center.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/running_proxy.hpp"
#include "upstream/correlation.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pcproxy::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

const std::string usage = "/v1/customers/usagerecords";
const std::string correlation_id = "0f8fad5b-d9cb-469f-a165-70867728950e";
const std::string request_id = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

class Correlation : public ::testing::Test {
protected:
  fake_partner_center fake;
  running_proxy proxy{test_config(fake.url())};
};

TEST_F(Correlation, IncomingIdsAreForwardedAndTheVectorExtendedThenIncremented) {
  const auto res = http_get(proxy.port(), usage,
                            {{"Authorization", "Bearer a"},
                             {"MS-CorrelationId", correlation_id},
                             {"MS-RequestId", request_id},
                             {"MS-CV", "UGInjBojP0y0mAqo.3"}});
  ASSERT_EQ(fake.count(), 1u);
  const auto seen = fake.requests()[0];
  EXPECT_EQ(seen.header("MS-CorrelationId"), correlation_id);
  EXPECT_EQ(seen.header("MS-RequestId"), request_id);
  EXPECT_EQ(seen.header("MS-CV"), "UGInjBojP0y0mAqo.3.1");  // extend (.0), then increment
  // The client gets the ids of the upstream call, not the fake's own vector.
  EXPECT_EQ(res.header("MS-CorrelationId"), correlation_id);
  EXPECT_EQ(res.header("MS-RequestId"), request_id);
  EXPECT_EQ(res.header("MS-CV"), "UGInjBojP0y0mAqo.3.1");
}

TEST_F(Correlation, AbsentIdsAreGeneratedAndEchoed) {
  const auto res = http_get(proxy.port(), usage, {{"Authorization", "Bearer a"}});
  ASSERT_EQ(fake.count(), 1u);
  const auto seen = fake.requests()[0];
  EXPECT_TRUE(upstream::is_uuid(seen.header("MS-CorrelationId")));
  EXPECT_TRUE(upstream::is_uuid(seen.header("MS-RequestId")));
  EXPECT_NE(seen.header("MS-CorrelationId"), seen.header("MS-RequestId"));
  EXPECT_THAT(seen.header("MS-CV"), MatchesRegex("[A-Za-z0-9+/]{16}\\.1"));  // seeded .0, incremented
  EXPECT_EQ(res.header("MS-CorrelationId"), seen.header("MS-CorrelationId"));
  EXPECT_EQ(res.header("MS-RequestId"), seen.header("MS-RequestId"));
  EXPECT_EQ(res.header("MS-CV"), seen.header("MS-CV"));
}

TEST_F(Correlation, EachRequestGetsItsOwnGeneratedIds) {
  const auto a = http_get(proxy.port(), "/v1/customers", {{"Authorization", "Bearer a"}});
  const auto b = http_get(proxy.port(), "/v1/customers", {{"Authorization", "Bearer a"}});
  EXPECT_NE(a.header("MS-CorrelationId"), b.header("MS-CorrelationId"));
  EXPECT_NE(a.header("MS-RequestId"), b.header("MS-RequestId"));
}

TEST_F(Correlation, MalformedIncomingValuesAreReplaced) {
  const auto res = http_get(proxy.port(), usage,
                            {{"Authorization", "Bearer a"}, {"MS-CorrelationId", "not-a-guid"}, {"MS-CV", "x.y"}});
  const auto seen = fake.requests().at(0);
  EXPECT_TRUE(upstream::is_uuid(seen.header("MS-CorrelationId")));
  EXPECT_THAT(seen.header("MS-CV"), MatchesRegex("[A-Za-z0-9+/]{16}\\.1"));
  EXPECT_EQ(res.header("MS-CorrelationId"), seen.header("MS-CorrelationId"));
}

TEST_F(Correlation, ACacheHitEchoesTheCallersIdsWithTheExtendedVector) {
  http_get(proxy.port(), usage, {{"Authorization", "Bearer a"}});
  const auto hit = http_get(proxy.port(), usage,
                            {{"Authorization", "Bearer a"},
                             {"MS-CorrelationId", correlation_id},
                             {"MS-RequestId", request_id},
                             {"MS-CV", "UGInjBojP0y0mAqo.7"}});
  EXPECT_EQ(hit.header("X-Cache"), "HIT");
  EXPECT_EQ(hit.header("MS-CorrelationId"), correlation_id);
  EXPECT_EQ(hit.header("MS-RequestId"), request_id);
  EXPECT_EQ(hit.header("MS-CV"), "UGInjBojP0y0mAqo.7.0");  // no upstream call: extended only
  EXPECT_EQ(fake.count(), 1u);
}

TEST_F(Correlation, PcproxysOwnErrorsCarryTheIds) {
  const auto res = http_get(proxy.port(), usage, {{"MS-CorrelationId", correlation_id}});
  EXPECT_EQ(res.status, 401);
  EXPECT_EQ(res.header("MS-CorrelationId"), correlation_id);
  EXPECT_THAT(res.body, HasSubstr("\"correlationId\":\"" + correlation_id + "\""));
  EXPECT_THAT(res.body, HasSubstr("\"requestId\":\"" + res.header("MS-RequestId") + "\""));
}

}  // namespace
}  // namespace pcproxy::testing
