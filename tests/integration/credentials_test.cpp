// Credentials handled by pcproxy (upstream.auth.mode refresh_token) against the fake's
// identity endpoint, over HTTPS with a CA made at test time: the first redemption, one
// token request however many requests need a new token, the rotated refresh token on
// disk across a restart, each failure with its words, readiness and metric, and no
// secret in any output.
#include "tests/integration/pcproxy_process.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/fake_partner_center.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/log_capture.hpp"
#include "tests/support/prometheus_checker.hpp"
#include "tests/support/running_proxy.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_pki.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

namespace pcproxy::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string usage = "/v1/customers/usagerecords";
const std::string tenant = "6f1c2b9e-5d4a-4c1e-9b7f-0a2d3c4e5f60";
const std::string token_path = "/" + tenant + "/oauth2/token";

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The page the fake serves to any token of `tenant` (its data follows the tid claim).
std::string tenant_page(std::size_t offset = 0) {
  return render_usage_page(caller_id(make_test_jwt(tenant, std::chrono::system_clock::now())), offset, 10, 25).body;
}

class Credentials : public ::testing::Test {
protected:
  explicit Credentials(std::chrono::seconds lifetime = 3600s) : pki(make_test_pki({"localhost"}, {"127.0.0.1"})) {
    fake_options o;
    o.tls_cert_pem = pki.server_cert_pem;
    o.tls_key_pem = pki.server_key_pem;
    o.require_issued_tokens = true;
    o.token_lifetime = lifetime;
    o.slow_delay = 3s;
    o.control = true;
    fake = std::make_unique<fake_partner_center>(o);
    secret_file = dir / "client-secret";
    refresh_file = dir / "refresh-token";
    std::ofstream(secret_file) << "fake-client-secret\n";
    std::ofstream(refresh_file) << "fake-refresh-token-0\n";
  }

  config::config settings() const {
    auto c = test_config(fake->url());
    c.upstream.ca_file = write_temp_file("ca.pem", pki.ca_cert_pem);
    c.upstream.auth.mode = config::auth_mode::refresh_token;
    c.upstream.auth.tenant = tenant;
    c.upstream.auth.client_id = "fake-client-id";
    c.upstream.auth.client_secret_file = secret_file;
    c.upstream.auth.refresh_token_file = refresh_file;
    c.upstream.auth.authority = config::origin_of(fake->url());
    return c;
  }

  std::size_t token_requests() const { return fake->count(token_path); }

  static bool ready(std::uint16_t admin) { return http_get(admin, "/readyz").status == 200; }

  static std::optional<double> refreshes(std::uint16_t admin, const std::string& outcome) {
    const auto m = check_exposition(http_get(admin, "/metrics").body);
    return m.value("pcproxy_credential_refresh_total", {{"outcome", outcome}});
  }

  test_pki pki;
  std::unique_ptr<fake_partner_center> fake;
  temp_dir dir;
  std::string secret_file;
  std::string refresh_file;
};

TEST_F(Credentials, TheFirstRedemptionServesRequestsWithoutAuthorization) {
  running_proxy proxy(settings());
  ASSERT_TRUE(eventually([&] { return ready(proxy.admin_port()); }, 10s));

  const auto res = http_get(proxy.port(), usage);
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(res.body, tenant_page());
  EXPECT_EQ(http_get(proxy.port(), usage).header("X-Cache"), "HIT");  // one scope across requests

  ASSERT_EQ(token_requests(), 1u);
  const auto requests = fake->requests();
  const auto token_request = std::find_if(requests.begin(), requests.end(),
                                          [](const recorded_request& r) { return r.path() == token_path; });
  EXPECT_EQ(token_request->method, "POST");
  EXPECT_EQ(token_request->header("Content-Type"), "application/x-www-form-urlencoded");
  EXPECT_THAT(token_request->body, HasSubstr("grant_type=refresh_token"));
  EXPECT_THAT(token_request->body, HasSubstr("client_id=fake-client-id"));
  EXPECT_THAT(token_request->body, HasSubstr("resource=https%3A%2F%2Fapi.partnercenter.microsoft.com"));
  const auto page_request = std::find_if(requests.begin(), requests.end(),
                                         [](const recorded_request& r) { return r.path() == usage; });
  ASSERT_NE(page_request, requests.end());
  EXPECT_EQ(page_request->header("Authorization"), fake->issued_access_tokens().at(0));

  // The rotated refresh token is on disk, readable by the owner only.
  EXPECT_EQ(read_text(refresh_file), fake->latest_refresh_token() + "\n");
  EXPECT_EQ(fake->latest_refresh_token(), "fake-refresh-token-1");
  struct stat st {};
  ASSERT_EQ(::stat(refresh_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& f : std::filesystem::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 2u);  // no temporary file left behind

  EXPECT_EQ(refreshes(proxy.admin_port(), "ok"), 1.0);
}

TEST_F(Credentials, AWholeCollectionWithoutAuthorizationUsesPcproxysToken) {
  running_proxy proxy(settings());
  ASSERT_TRUE(eventually([&] { return ready(proxy.admin_port()); }, 10s));
  const auto res = http_get(proxy.port(), "/pcproxy/collection" + usage);
  ASSERT_EQ(res.status, 200) << res.body;
  std::size_t records = 0;
  for (auto at = res.body.find("CustomerMonthlyUsageRecord"); at != std::string::npos;
       at = res.body.find("CustomerMonthlyUsageRecord", at + 1))
    ++records;
  EXPECT_EQ(records, 25u);  // the fake's three pages of the tenant's records
  EXPECT_EQ(fake->count(usage), 3u);
  EXPECT_EQ(token_requests(), 1u);
}

TEST_F(Credentials, ARequestWithItsOwnAuthorizationKeepsIt) {
  running_proxy proxy(settings());
  ASSERT_TRUE(eventually([&] { return ready(proxy.admin_port()); }, 10s));
  const auto own = make_test_jwt("another-tenant", std::chrono::system_clock::now() + 1h);
  const auto res = http_get(proxy.port(), "/v1/customers/c-1", {{"Authorization", own}});
  EXPECT_EQ(res.status, 401);  // the fake accepts only the tokens it issued: this one reached it as sent
  ASSERT_EQ(fake->count("/v1/customers/c-1"), 1u);
  EXPECT_EQ(fake->requests().back().header("Authorization"), own);
  EXPECT_EQ(token_requests(), 1u);  // a 401 to the caller's own token refreshes nothing
}

TEST_F(Credentials, AnUpstream401ToTheInjectedTokenRefreshesOnceForManyRequests) {
  running_proxy proxy(settings());
  ASSERT_TRUE(eventually([&] { return ready(proxy.admin_port()); }, 10s));
  ASSERT_EQ(http_get(proxy.port(), "/v1/customers/warm").status, 200);
  ASSERT_EQ(token_requests(), 1u);

  fake->revoke_access_tokens();  // upstream now refuses the token pcproxy holds
  fake->set_delay(token_path, 300ms);  // the refresh takes long enough for all to need it
  std::vector<std::future<http_result>> calls;
  for (int i = 0; i < 16; ++i)  // different paths: no single flight of their own
    calls.push_back(std::async(std::launch::async, [&, i] {
      return http_get(proxy.port(), "/v1/customers/c-" + std::to_string(i));
    }));
  for (auto& c : calls) {
    const auto res = c.get();
    EXPECT_EQ(res.status, 200) << res.body;
  }
  EXPECT_EQ(token_requests(), 2u);  // one refresh for all sixteen
  EXPECT_EQ(fake->issued_access_tokens().size(), 2u);
}

TEST_F(Credentials, AFreshTokenRefusedAgainIsNotRefreshedOverAndOver) {
  running_proxy proxy(settings());
  ASSERT_TRUE(eventually([&] { return ready(proxy.admin_port()); }, 10s));
  fake->script("/v1/customers/refused", parse_script("401*"));  // refuses every token
  const auto first = http_get(proxy.port(), "/v1/customers/refused");
  EXPECT_EQ(first.status, 401);
  EXPECT_EQ(token_requests(), 2u);  // the one refresh and retry
  EXPECT_EQ(fake->count("/v1/customers/refused"), 2u);
  EXPECT_EQ(http_get(proxy.port(), "/v1/customers/refused").status, 401);
  EXPECT_EQ(token_requests(), 2u);  // the new token was just refused: no refresh storm
  EXPECT_EQ(fake->count("/v1/customers/refused"), 3u);
}

class ShortLivedCredentials : public Credentials {
protected:
  ShortLivedCredentials() : Credentials(5s) {}
};

TEST_F(ShortLivedCredentials, TheTokenIsRefreshedBeforeItExpiresUnderLoad) {
  // A 5 s token is refreshed 1 s before it expires; the fake refuses expired tokens, so
  // a request that used one would fail.
  running_proxy proxy(settings());
  ASSERT_TRUE(eventually([&] { return ready(proxy.admin_port()); }, 10s));
  std::atomic<int> failures{0}, done{0};
  const auto until = std::chrono::steady_clock::now() + 6s;
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t)
    load.emplace_back([&, t] {
      for (int i = 0; i < 2000 && std::chrono::steady_clock::now() < until; ++i) {
        const auto res = http_get(proxy.port(), "/v1/customers/load-" + std::to_string(t));
        if (res.status != 200) ++failures;
        ++done;
        std::this_thread::sleep_for(10ms);
      }
    });
  for (auto& t : load) t.join();
  EXPECT_EQ(failures.load(), 0) << "of " << done.load();
  EXPECT_EQ(token_requests(), 2u);  // at start, and once ahead of expiry
  EXPECT_EQ(read_text(refresh_file), "fake-refresh-token-2\n");
}

TEST_F(Credentials, TheRotatedRefreshTokenWorksAfterARestart) {
  {
    running_proxy first(settings());
    ASSERT_TRUE(eventually([&] { return ready(first.admin_port()); }, 10s));
    ASSERT_EQ(http_get(first.port(), usage).status, 200);
  }
  ASSERT_EQ(read_text(refresh_file), "fake-refresh-token-1\n");  // token 0 is used up now
  running_proxy second(settings());
  ASSERT_TRUE(eventually([&] { return ready(second.admin_port()); }, 10s));
  const auto res = http_get(second.port(), usage);
  EXPECT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(token_requests(), 2u);
  EXPECT_EQ(read_text(refresh_file), "fake-refresh-token-2\n");
}

struct failure_case {
  const char* name;
  identity_mode mode;
  const char* outcome;  // the metric label
  const char* words;    // what the error says
};

void PrintTo(const failure_case& c, std::ostream* os) { *os << c.name; }

class CredentialFailures : public Credentials, public ::testing::WithParamInterface<failure_case> {};

TEST_P(CredentialFailures, CallersGetA502ThatSaysWhatToDoAndPcproxyRecovers) {
  const auto& c = GetParam();
  fake->set_identity_mode(c.mode);
  auto s = settings();
  s.upstream.try_timeout_ms = 500;  // "slow" answers after 3 s
  s.upstream.deadline_ms = 1000;
  log_capture logs;
  running_proxy proxy(s);
  ASSERT_TRUE(eventually([&] { return refreshes(proxy.admin_port(), c.outcome) >= 1.0; }, 10s));

  const auto res = http_get(proxy.port(), usage);
  EXPECT_EQ(res.status, 502);
  EXPECT_THAT(res.body, HasSubstr("\"code\":5024"));
  EXPECT_THAT(res.body, HasSubstr(c.words));
  EXPECT_EQ(res.header("Content-Type"), "application/json; charset=utf-8");
  const auto readiness = http_get(proxy.admin_port(), "/readyz");
  EXPECT_EQ(readiness.status, 503);
  EXPECT_THAT(readiness.body, HasSubstr(c.words));
  EXPECT_EQ(fake->count(usage), 0u);

  // A caller with its own token is not affected: it reaches upstream, whose answer it gets.
  const auto own = http_get(proxy.port(), "/v1/customers/own", {{"Authorization", "Bearer caller-token"}});
  EXPECT_EQ(own.status, 401);
  EXPECT_THAT(own.body, HasSubstr("\"code\":900401"));
  EXPECT_EQ(fake->count("/v1/customers/own"), 1u);

  // Retried after a pause (1 s, then 2 s), logged once a minute.
  ASSERT_TRUE(eventually([&] { return refreshes(proxy.admin_port(), c.outcome) >= 2.0; }, 10s));
  std::size_t logged = 0;
  for (const auto& line : logs.lines())
    if (line.find("Partner Center credentials") != std::string::npos) ++logged;
  EXPECT_EQ(logged, 1u);

  // Put right, the next attempt succeeds: for invalid_grant by a new consent, written to the file.
  fake->set_identity_mode(identity_mode::normal);
  if (c.mode == identity_mode::invalid_grant) {
    fake->revoke_refresh_tokens();
    std::ofstream(refresh_file) << fake->consent() << "\n";
  }
  ASSERT_TRUE(eventually([&] { return ready(proxy.admin_port()); }, 15s))
      << http_get(proxy.admin_port(), "/readyz").body;
  EXPECT_EQ(http_get(proxy.port(), usage).status, 200);
}

INSTANTIATE_TEST_SUITE_P(
    EachFailure, CredentialFailures,
    ::testing::Values(
        failure_case{"InvalidGrant", identity_mode::invalid_grant, "invalid_grant",
                     "the refresh token was rejected (invalid_grant): it expired or was revoked; run the consent flow "
                     "again and replace the refresh token file"},
        failure_case{"InvalidClient", identity_mode::invalid_client, "invalid_client",
                     "the app's credentials were rejected (invalid_client): check upstream.auth.client_id and the "
                     "secret in"},
        failure_case{"Slow", identity_mode::slow, "timeout", "did not answer in time"},
        failure_case{"Down", identity_mode::down, "unreachable", "cannot reach the token endpoint"}),
    [](const auto& test) { return std::string(test.param.name); });

TEST_F(Credentials, AnUnreachableAuthorityIsReported) {
  auto s = settings();
  s.upstream.auth.authority = config::origin_of("https://127.0.0.1:1");  // nothing listens on port 1
  running_proxy proxy(s);
  ASSERT_TRUE(eventually([&] { return refreshes(proxy.admin_port(), "unreachable") >= 1.0; }, 10s));
  const auto res = http_get(proxy.port(), usage);
  EXPECT_EQ(res.status, 502);
  EXPECT_THAT(res.body, HasSubstr("cannot reach the token endpoint https://127.0.0.1:1/" + tenant));
  EXPECT_THAT(http_get(proxy.admin_port(), "/readyz").body, HasSubstr("check upstream.auth.authority"));
}

TEST_F(Credentials, NoSecretAppearsInAnyOutput) {
  // The real binary with debug logging, through a success, a refused token and a failure.
  const std::vector<std::string> env = {
      "PCPROXY_UPSTREAM_CA_FILE=" + write_temp_file("ca.pem", pki.ca_cert_pem),
      "PCPROXY_UPSTREAM_AUTH_MODE=refresh_token",
      "PCPROXY_UPSTREAM_AUTH_TENANT=" + tenant,
      "PCPROXY_UPSTREAM_AUTH_CLIENT_ID=fake-client-id",
      "PCPROXY_UPSTREAM_AUTH_CLIENT_SECRET_FILE=" + secret_file,
      "PCPROXY_UPSTREAM_AUTH_REFRESH_TOKEN_FILE=" + refresh_file,
      "PCPROXY_UPSTREAM_AUTH_AUTHORITY=" + fake->url()};
  std::string seen;
  {
    child_process check(PCPROXY_BINARY, {"--check-config", "--upstream", fake->url()}, env);
    EXPECT_EQ(check.wait(10s), 0);
    EXPECT_THAT(check.output(), HasSubstr("\"mode\": \"refresh_token\""));
    seen += check.output();
  }
  auto p = start_pcproxy({"--upstream", fake->url(), "--log-level", "debug"}, env);
  ASSERT_TRUE(eventually([&] { return ready(p.admin); }, 10s)) << p.process->output();
  for (const auto& target : {usage, usage, std::string("/v1/customers/x")}) seen += http_get(p.port, target).body;
  fake->revoke_access_tokens();
  fake->set_identity_mode(identity_mode::invalid_client);
  const auto failed = http_get(p.port, "/v1/customers/y");  // 401, the refresh fails
  EXPECT_EQ(failed.status, 502);
  seen += failed.body;
  fake->set_identity_mode(identity_mode::normal);  // recovers after a pause
  ASSERT_TRUE(eventually([&] { return ready(p.admin); }, 10s));
  const auto recovered = http_get(p.port, "/v1/customers/z");
  EXPECT_EQ(recovered.status, 200);
  seen += recovered.body;
  seen += http_get(p.admin, "/metrics").body;
  seen += http_get(p.admin, "/admin/cache").body;
  seen += http_get(p.admin, "/readyz").body;
  p.process->signal(SIGTERM);
  EXPECT_EQ(p.process->wait(10s), 0);
  seen += p.process->output();

  EXPECT_THAT(seen, HasSubstr("the app's credentials were rejected"));  // the failure was logged
  EXPECT_EQ(token_requests(), 3u);
  EXPECT_THAT(seen, Not(HasSubstr("fake-client-secret")));
  EXPECT_THAT(seen, Not(HasSubstr("fake-refresh-token-")));
  const auto issued = fake->issued_access_tokens();
  ASSERT_EQ(issued.size(), 2u);
  for (const auto& token : issued) {
    const auto signature = token.substr(token.rfind('.') + 1);  // what makes a JWT usable
    EXPECT_THAT(seen, Not(HasSubstr(signature)));
  }
}

}  // namespace
}  // namespace pcproxy::testing
