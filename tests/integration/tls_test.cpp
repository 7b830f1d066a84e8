// HTTPS to the upstream: a real handshake against a CA made at test time.
#include "tests/support/fake_partner_center.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/running_proxy.hpp"
#include "tests/support/test_pki.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pcproxy::testing {
namespace {

using ::testing::HasSubstr;

const std::string usage = "/v1/customers/usagerecords";
const header_list alice = {{"Authorization", "Bearer alice-token"}};

fake_options tls_fake(const test_pki& pki) {
  fake_options o;
  o.tls_cert_pem = pki.server_cert_pem;
  o.tls_key_pem = pki.server_key_pem;
  return o;
}

TEST(Tls, AnUpstreamSignedByTheConfiguredCaWorks) {
  const auto pki = make_test_pki({"localhost"}, {"127.0.0.1"});
  fake_partner_center fake(tls_fake(pki));
  ASSERT_EQ(fake.url().rfind("https://", 0), 0u);
  auto settings = test_config(fake.url());
  settings.upstream.ca_file = write_temp_file("ca.pem", pki.ca_cert_pem);
  running_proxy proxy(settings);

  const auto res = http_get(proxy.port(), usage, alice);
  EXPECT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(res.body, render_usage_page(caller_id("Bearer alice-token"), 0, 10, 25).body);
  EXPECT_EQ(http_get(proxy.port(), usage, alice).header("X-Cache"), "HIT");
  EXPECT_EQ(fake.count(), 1u);
}

TEST(Tls, AHostNameUpstreamIsVerifiedByName) {
  const auto pki = make_test_pki({"localhost"}, {});
  fake_partner_center fake(tls_fake(pki));
  auto settings = test_config("https://localhost:" + std::to_string(fake.port()));
  settings.upstream.ca_file = write_temp_file("ca.pem", pki.ca_cert_pem);
  running_proxy proxy(settings);
  const auto res = http_get(proxy.port(), usage, alice);
  EXPECT_EQ(res.status, 200) << res.body;
  ASSERT_EQ(fake.count(), 1u);
  EXPECT_EQ(fake.requests()[0].header("Host"), "localhost:" + std::to_string(fake.port()));
}

TEST(Tls, AnUntrustedCertificateGives502AndNothingIsSent) {
  const auto pki = make_test_pki({"localhost"}, {"127.0.0.1"});
  fake_partner_center fake(tls_fake(pki));
  running_proxy proxy(test_config(fake.url()));  // the system store does not know this CA

  const auto res = http_get(proxy.port(), usage, alice);
  EXPECT_EQ(res.status, 502);
  EXPECT_THAT(res.body, HasSubstr("\"code\":5021"));
  EXPECT_THAT(res.body, HasSubstr("certificate verification failed"));
  EXPECT_THAT(res.body, HasSubstr("upstream.ca_file"));
  EXPECT_THAT(res.body, HasSubstr(res.header("MS-CorrelationId")));
  EXPECT_EQ(fake.count(), 0u);
}

TEST(Tls, ACertificateForAnotherHostGives502) {
  const auto pki = make_test_pki({"other.example"}, {});
  fake_partner_center fake(tls_fake(pki));
  auto settings = test_config(fake.url());
  settings.upstream.ca_file = write_temp_file("ca.pem", pki.ca_cert_pem);
  running_proxy proxy(settings);

  const auto res = http_get(proxy.port(), usage, alice);
  EXPECT_EQ(res.status, 502);
  EXPECT_THAT(res.body, HasSubstr("not valid for host name 127.0.0.1"));
  EXPECT_EQ(fake.count(), 0u);
}

TEST(Tls, VerificationCanBeTurnedOffExplicitly) {
  const auto pki = make_test_pki({"other.example"}, {});
  fake_partner_center fake(tls_fake(pki));
  auto settings = test_config(fake.url());
  settings.upstream.tls_verify = false;
  running_proxy proxy(settings);
  EXPECT_EQ(http_get(proxy.port(), usage, alice).status, 200);
}

TEST(Tls, AnHttpsUpstreamThatSpeaksPlainHttpGives502) {
  fake_partner_center fake;  // plain HTTP
  running_proxy proxy(test_config("https://127.0.0.1:" + std::to_string(fake.port())));
  const auto res = http_get(proxy.port(), usage, alice);
  EXPECT_EQ(res.status, 502);
  EXPECT_THAT(res.body, HasSubstr("TLS handshake"));
}

}  // namespace
}  // namespace pcproxy::testing
