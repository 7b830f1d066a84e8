// The real pcproxy binary: start-up errors, SIGTERM with requests in flight, exit codes.
#include "tests/integration/pcproxy_process.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/fake_partner_center.hpp"
#include "tests/support/http_client.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <future>
#include <thread>

namespace pcproxy::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

const header_list alice = {{"Authorization", "Bearer alice-token"}};

pcproxy_process start_pcproxy(const std::string& upstream, std::vector<std::string> extra_args = {},
                              std::vector<std::string> env = {}) {
  std::vector<std::string> args = {"--upstream", upstream};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  return testing::start_pcproxy(args, env);
}

TEST(Shutdown, SigtermLetsTheRequestInFlightFinishAndExitsZero) {
  fake_partner_center fake;
  fake.set_delay("/v1/customers/usagerecords", 700ms);
  auto proxy = start_pcproxy(fake.url());
  auto slow = std::async(std::launch::async, [&] {
    return http_get(proxy.port, "/v1/customers/usagerecords", alice);
  });
  ASSERT_TRUE(fake.wait_for_requests(1, 10s));  // the request is now in flight upstream
  proxy.process->signal(SIGTERM);

  const auto res = slow.get();
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.header("Connection"), "close");
  EXPECT_EQ(proxy.process->wait(10s), 0);
  EXPECT_THAT(proxy.process->output(), HasSubstr("stopped cleanly"));
  EXPECT_THROW(http_get(proxy.port, "/v1/customers"), std::exception);  // no longer accepting
}

TEST(Shutdown, IdleKeepAliveConnectionsDoNotHoldUpTheStop) {
  fake_partner_center fake;
  auto proxy = start_pcproxy(fake.url());
  http_connection idle(proxy.port);
  EXPECT_EQ(idle.request("GET", "/v1/customers", alice).status, 200);
  const auto started = std::chrono::steady_clock::now();
  proxy.process->signal(SIGINT);
  EXPECT_EQ(proxy.process->wait(10s), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);  // not the 60 s idle timeout
  EXPECT_TRUE(idle.closed_by_peer(2s));
}

TEST(Shutdown, TheGracePeriodBoundsTheStop) {
  fake_partner_center fake;
  fake.set_delay("/v1/customers/usagerecords", 20s);
  auto proxy = start_pcproxy(fake.url(), {}, {"PCPROXY_LIMITS_SHUTDOWN_GRACE_MS=300"});
  auto stuck = std::async(std::launch::async, [&] {
    try {
      return http_get(proxy.port, "/v1/customers/usagerecords", alice).status;
    } catch (const std::exception&) {
      return 0u;  // the connection was cut: expected
    }
  });
  ASSERT_TRUE(fake.wait_for_requests(1, 10s));
  proxy.process->signal(SIGTERM);
  EXPECT_EQ(proxy.process->wait(10s), 0);
  EXPECT_THAT(proxy.process->output(), HasSubstr("grace period over"));
  EXPECT_EQ(stuck.get(), 0u);
}

TEST(StartUp, AnInvalidConfigurationExitsTwoAndSaysWhy) {
  child_process p(PCPROXY_BINARY, {"--listen", "nope", "--upstream", "ftp://x"});
  EXPECT_EQ(p.wait(10s), 2);
  EXPECT_THAT(p.output(), HasSubstr("listen: \"nope\" is not HOST:PORT (from --listen)"));
  EXPECT_THAT(p.output(), HasSubstr("upstream.url: \"ftp://x\" must start with https:// or http://"));
}

TEST(StartUp, APortInUseExitsOneAndSaysWhich) {
  fake_partner_center fake;  // its port is taken
  child_process p(PCPROXY_BINARY, {"--listen", "127.0.0.1:" + std::to_string(fake.port()), "--admin-listen",
                                   "127.0.0.1:0", "--upstream", fake.url()});
  EXPECT_EQ(p.wait(10s), 1);
  EXPECT_THAT(p.output(), HasSubstr("cannot listen on 127.0.0.1:" + std::to_string(fake.port())));
}

TEST(StartUp, CheckConfigPrintsTheEffectiveConfiguration) {
  child_process p(PCPROXY_BINARY, {"--check-config", "--upstream", "http://127.0.0.1:1"},
                  {"PCPROXY_CACHE_MAX_BYTES=4096"});
  EXPECT_EQ(p.wait(10s), 0);
  EXPECT_THAT(p.output(), HasSubstr("\"url\": \"http://127.0.0.1:1\""));
  EXPECT_THAT(p.output(), HasSubstr("\"max_bytes\": 4096"));
  EXPECT_THAT(p.output(), HasSubstr("configuration OK"));
}

}  // namespace
}  // namespace pcproxy::testing
