#include "proxy/router.hpp"

#include <gtest/gtest.h>

namespace pcproxy::proxy {
namespace {

using config::cache_policy;

TEST(Router, ExactPathsPrefixesAndFirstMatchWins) {
  router r({
      {"/v1/customers/usagerecords", cache_policy::cache, 60, 0, true},
      {"/v1/customers/*", cache_policy::http, 0, 0, false},
      {"/v1/*", cache_policy::pass, 0, 0, false},
  });
  EXPECT_EQ(r.match("/v1/customers/usagerecords").policy, cache_policy::cache);
  EXPECT_EQ(r.match("/v1/customers/usagerecords/x").policy, cache_policy::http);
  EXPECT_EQ(r.match("/v1/customers/").policy, cache_policy::http);
  EXPECT_EQ(r.match("/v1/invoices").policy, cache_policy::pass);
}

TEST(Router, NoMatchMeansPass) {
  router r({{"/v1/customers/usagerecords", cache_policy::cache, 60, 0, true}});
  EXPECT_EQ(r.match("/v1/customers/usagerecordsX").policy, cache_policy::pass);
  EXPECT_EQ(r.match("/").policy, cache_policy::pass);
}

}  // namespace
}  // namespace pcproxy::proxy
