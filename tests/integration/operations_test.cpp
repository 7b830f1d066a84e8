// Operations: metrics after known traffic (checked by a strict format reader), JSON
// access logs, redaction of secrets, Server-Timing and debug headers, readiness,
// live reload on SIGHUP and the --probe health check.
#include "tests/integration/pcproxy_process.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/fake_partner_center.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/log_capture.hpp"
#include "tests/support/prometheus_checker.hpp"
#include "tests/support/running_proxy.hpp"
#include "tests/support/test_pki.hpp"

#include <rapidjson/document.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <future>

namespace pcproxy::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

const std::string usage = "/v1/customers/usagerecords";
const header_list alice = {{"Authorization", "Bearer alice-token"}};

TEST(Metrics, AScrapeIsValidAndCountsKnownTraffic) {
  fake_partner_center fake;
  fake.script("/v1/customers", parse_script("500"));  // one retry on the pass route
  running_proxy proxy(test_config(fake.url()));
  http_get(proxy.port(), usage, alice);            // MISS
  http_get(proxy.port(), usage, alice);            // HIT
  http_get(proxy.port(), "/v1/customers", alice);  // BYPASS after a retry
  http_get(proxy.port(), usage);                   // 401 from pcproxy

  const auto res = http_get(proxy.admin_port(), "/metrics");
  ASSERT_EQ(res.status, 200);
  EXPECT_EQ(res.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  const auto m = check_exposition(res.body);
  ASSERT_TRUE(m.errors.empty()) << ::testing::PrintToString(m.errors) << "\n" << res.body;

  const auto req = [&](const std::string& route, const std::string& cls, const std::string& cache) {
    return m.value("pcproxy_requests_total",
                   {{"route", route}, {"method", "GET"}, {"status_class", cls}, {"cache", cache}});
  };
  EXPECT_EQ(req(usage, "2xx", "MISS"), 1.0);
  EXPECT_EQ(req(usage, "2xx", "HIT"), 1.0);
  EXPECT_EQ(req(usage, "4xx", "BYPASS"), 1.0);
  EXPECT_EQ(req("/*", "2xx", "BYPASS"), 1.0);
  EXPECT_EQ(m.value("pcproxy_cache_hits_total", {{"route", usage}}), 1.0);
  EXPECT_EQ(m.value("pcproxy_cache_misses_total", {{"route", usage}}), 1.0);
  EXPECT_EQ(m.value("pcproxy_cache_entries", {{"route", usage}}), 1.0);
  EXPECT_GT(*m.value("pcproxy_cache_bytes", {{"route", usage}}), 1000.0);
  EXPECT_EQ(m.value("pcproxy_upstream_attempts_total", {{"outcome", "2xx"}}), 2.0);
  EXPECT_EQ(m.value("pcproxy_upstream_attempts_total", {{"outcome", "5xx"}}), 1.0);
  EXPECT_EQ(m.value("pcproxy_retries_total"), 1.0);
  EXPECT_EQ(m.value("pcproxy_upstream_requests_total"), 2.0);
  EXPECT_EQ(m.value("pcproxy_upstream_duration_seconds_count"), 3.0);
  EXPECT_EQ(m.value("pcproxy_request_duration_seconds_count", {{"route", usage}}), 3.0);
  EXPECT_EQ(m.value("pcproxy_circuit_state", {{"upstream", "partner-center"}, {"state", "closed"}}), 1.0);
  EXPECT_EQ(m.value("pcproxy_circuit_state", {{"upstream", "partner-center"}, {"state", "open"}}), 0.0);
  EXPECT_EQ(m.value("pcproxy_single_flight_waiters"), 0.0);
  EXPECT_EQ(m.value("pcproxy_build_info", {{"version", "0.1.0"}}), 1.0);
  EXPECT_GE(*m.value("pcproxy_open_connections"), 0.0);
  EXPECT_EQ(m.types.at("pcproxy_request_duration_seconds"), "histogram");
}

TEST(Metrics, TheAdminTokenGuardsMetricsButNotProbes) {
  fake_partner_center fake;
  auto settings = test_config(fake.url());
  settings.admin.token_file = write_temp_file("admin", "scrape-token");
  running_proxy proxy(settings);
  EXPECT_EQ(http_get(proxy.admin_port(), "/metrics").status, 401);
  EXPECT_EQ(http_get(proxy.admin_port(), "/metrics", {{"Authorization", "Bearer scrape-token"}}).status, 200);
  EXPECT_EQ(http_get(proxy.admin_port(), "/healthz").status, 200);
}

TEST(AccessLog, OneJsonLinePerRequestWithTheFields) {
  log_capture logs(core::log_format::json);
  fake_partner_center fake;
  running_proxy proxy(test_config(fake.url()));
  const auto miss = http_get(proxy.port(), usage, alice);
  const auto hit = http_get(proxy.port(), usage, alice);

  std::vector<rapidjson::Document> access;
  for (const auto& line : logs.lines()) {
    rapidjson::Document doc;
    doc.Parse(line.c_str());
    ASSERT_FALSE(doc.HasParseError()) << "not JSON: " << line;
    if (std::string_view(doc["logger"].GetString()) == "access") access.push_back(std::move(doc));
  }
  ASSERT_EQ(access.size(), 2u);
  const auto& first = access[0];
  for (const char* field : {"time", "level", "method", "path", "status", "cache", "route", "attempts", "bytes",
                            "duration_ms", "upstream_ms", "correlation_id", "request_id", "cv", "client"})
    EXPECT_TRUE(first.HasMember(field)) << field;
  EXPECT_STREQ(first["method"].GetString(), "GET");
  EXPECT_STREQ(first["path"].GetString(), usage.c_str());
  EXPECT_EQ(first["status"].GetInt(), 200);
  EXPECT_STREQ(first["cache"].GetString(), "MISS");
  EXPECT_EQ(first["upstream_status"].GetInt(), 200);
  EXPECT_EQ(first["attempts"].GetInt(), 1);
  EXPECT_EQ(first["bytes"].GetUint64(), miss.body.size());
  EXPECT_STREQ(first["correlation_id"].GetString(), miss.header("MS-CorrelationId").c_str());
  EXPECT_STREQ(first["request_id"].GetString(), miss.header("MS-RequestId").c_str());
  EXPECT_STREQ(first["cv"].GetString(), miss.header("MS-CV").c_str());
  EXPECT_THAT(first["client"].GetString(), HasSubstr("127.0.0.1:"));
  EXPECT_STREQ(access[1]["cache"].GetString(), "HIT");
  EXPECT_EQ(access[1]["attempts"].GetInt(), 0);
  EXPECT_FALSE(access[1].HasMember("upstream_status"));
  EXPECT_STREQ(access[1]["correlation_id"].GetString(), hit.header("MS-CorrelationId").c_str());
}

TEST(AccessLog, CanBeSwitchedOff) {
  log_capture logs;
  fake_partner_center fake;
  auto settings = test_config(fake.url());
  settings.log.access = false;
  running_proxy proxy(settings);
  http_get(proxy.port(), usage, alice);
  EXPECT_THAT(logs.text(), Not(HasSubstr("\"logger\":\"access\"")));
}

TEST(Redaction, SecretsNeverReachLogsMetricsOrAdminOutput) {
  log_capture logs(core::log_format::json, spdlog::level::trace);
  fake_partner_center fake;
  fake.script(usage, parse_script("503,reset"));
  auto settings = test_config(fake.url());
  settings.upstream.token_file = write_temp_file("token", "file-secret-xyz");
  running_proxy proxy(settings);
  const std::string token = "Bearer header-secret-abc";
  const auto walk_token = continuation_token(caller_id(token), 10);
  http_get(proxy.port(), usage, {{"Authorization", token}});
  http_get(proxy.port(), usage + "?size=10&seekOperation=Next",
           {{"Authorization", token}, {"MS-ContinuationToken", walk_token}});
  http_get(proxy.port(), usage + "?size=10&seekOperation=Next",
           {{"Authorization", token}, {"MS-ContinuationToken", "forged/token,=="}});  // upstream 400
  http_get(proxy.port(), usage);  // the token file's credential
  http_request(proxy.port(), "POST", "/v1/customers", {{"Authorization", token}}, "{}");

  const auto scraped = http_get(proxy.admin_port(), "/metrics").body + http_get(proxy.admin_port(), "/admin/cache").body;
  const auto logged = logs.text();
  for (const auto& secret : std::vector<std::string>{"header-secret-abc", "file-secret-xyz", walk_token, "forged/token"}) {
    EXPECT_THAT(logged, Not(HasSubstr(secret))) << secret;
    EXPECT_THAT(scraped, Not(HasSubstr(secret))) << secret;
  }
  EXPECT_THAT(logged, HasSubstr("\"logger\":\"access\""));  // there was plenty to log
  EXPECT_THAT(logged, HasSubstr("attempt 1/3"));
}

TEST(ServerTiming, EveryResponseSaysWhereTheTimeWent) {
  fake_partner_center fake;
  running_proxy proxy(test_config(fake.url()));
  const auto miss = http_get(proxy.port(), usage, alice);
  EXPECT_THAT(miss.header("Server-Timing"),
              MatchesRegex(R"(cache;desc="MISS", upstream;dur=[0-9]+\.[0-9]{3};desc="1 attempt", total;dur=[0-9]+\.[0-9]{3})"));
  const auto hit = http_get(proxy.port(), usage, alice);
  EXPECT_THAT(hit.header("Server-Timing"), MatchesRegex(R"(cache;desc="HIT", total;dur=[0-9]+\.[0-9]{3})"));
  EXPECT_THAT(http_get(proxy.port(), usage).header("Server-Timing"), HasSubstr("cache;desc=\"BYPASS\""));
}

TEST(DebugHeaders, OnRequestFromLoopback) {
  fake_partner_center fake;
  running_proxy proxy(test_config(fake.url()));
  const auto plain = http_get(proxy.port(), "/v1/customers", alice);
  EXPECT_FALSE(plain.has_header("Pcproxy-Debug-Route"));
  fake.script(usage, parse_script("503"));
  const auto debug = http_get(proxy.port(), usage, {{"Authorization", "Bearer alice-token"}, {"Pcproxy-Debug", "1"}});
  EXPECT_EQ(debug.header("Pcproxy-Debug-Route"), usage + "; policy=cache");
  EXPECT_THAT(debug.header("Pcproxy-Debug-Scope"), MatchesRegex("c-[0-9a-f]{32}"));
  EXPECT_THAT(debug.header("Pcproxy-Debug-Key"), MatchesRegex("[0-9a-f]{16}"));
  EXPECT_THAT(debug.header("Pcproxy-Debug-Attempts"),
              MatchesRegex(R"(#1 503 [0-9.]+ms cv=\S+ request-id=\S+, #2 200 [0-9.]+ms cv=\S+ request-id=\S+)"));
  EXPECT_THAT(debug.header("Pcproxy-Debug-Scope"), Not(HasSubstr("alice")));
  // The debug header is pcproxy's: it never reaches upstream.
  for (const auto& r : fake.requests()) EXPECT_FALSE(r.has_header("Pcproxy-Debug"));
  const auto hit = http_get(proxy.port(), usage, {{"Authorization", "Bearer alice-token"}, {"Pcproxy-Debug", "1"}});
  EXPECT_EQ(hit.header("Pcproxy-Debug-Attempts"), "none (answered without upstream)");
}

TEST(Readiness, OptionallyNotReadyWhileTheCircuitIsOpenAndNothingIsCached) {
  auto settings = test_config("http://127.0.0.1:1");  // nothing listens there
  settings.circuit.failure_threshold = 1;
  settings.retry.max_attempts = 1;
  settings.admin.not_ready_while_circuit_open = true;
  running_proxy proxy(settings);
  EXPECT_EQ(http_get(proxy.admin_port(), "/readyz").status, 200);
  EXPECT_EQ(http_get(proxy.port(), usage, alice).status, 502);  // opens the circuit
  const auto not_ready = http_get(proxy.admin_port(), "/readyz");
  EXPECT_EQ(not_ready.status, 503);
  EXPECT_THAT(not_ready.body, HasSubstr("circuit is open"));
  EXPECT_EQ(http_get(proxy.admin_port(), "/healthz").status, 200);  // alive all the same
}

// ---- the real binary: drain, reload, probe ----

TEST(Readiness, NotReadyWhileDraining) {
  fake_partner_center fake;
  fake.set_delay(usage, 1s);
  auto p = start_pcproxy({"--upstream", fake.url()});
  EXPECT_EQ(http_get(p.admin, "/readyz").status, 200);
  auto slow = std::async(std::launch::async, [&] { return http_get(p.port, usage, alice).status; });
  ASSERT_TRUE(fake.wait_for_requests(1, 10s));
  p.process->signal(SIGTERM);
  ASSERT_TRUE(p.process->wait_for_line(std::regex("shutting down"), 5s));  // logged once draining has begun
  const auto draining = http_get(p.admin, "/readyz");
  EXPECT_EQ(draining.status, 503);
  EXPECT_THAT(draining.body, HasSubstr("draining"));
  EXPECT_EQ(http_get(p.admin, "/healthz").status, 200);
  EXPECT_EQ(slow.get(), 200u);
  EXPECT_EQ(p.process->wait(10s), 0);
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

TEST(Reload, SighupAppliesATtlChangeAndRefusesABrokenFile) {
  fake_partner_center fake;
  const auto file = write_temp_file("reload.json", "");
  const auto with = [&](int ttl, const std::string& listen) {
    return R"({"listen":")" + listen + R"(","admin_listen":"127.0.0.1:0","upstream":{"url":")" + fake.url() +
           R"("},"log":{"format":"text"},"routes":[{"path":")" + usage + R"(","policy":"cache","ttl_s":)" +
           std::to_string(ttl) + R"(},{"path":"/*","policy":"pass"}]})";
  };
  const auto with_ttl = [&](int ttl) { return with(ttl, "127.0.0.1:0"); };
  write_file(file, with_ttl(3600));
  auto p = start_pcproxy({"--config", file}, {}, false);
  http_get(p.port, usage + "?size=1", alice);
  EXPECT_EQ(http_get(p.port, usage + "?size=1", alice).header("X-Cache"), "HIT");

  write_file(file, with_ttl(0));  // pages are no longer fresh once stored
  p.process->signal(SIGHUP);
  ASSERT_TRUE(p.process->wait_for_line(std::regex("configuration reloaded; applied: routes"), 10s)) << p.process->output();
  http_get(p.port, usage + "?size=2", alice);
  EXPECT_NE(http_get(p.port, usage + "?size=2", alice).header("X-Cache"), "HIT");

  write_file(file, "{ this is not json");
  p.process->signal(SIGHUP);
  ASSERT_TRUE(p.process->wait_for_line(std::regex("reload refused, keeping the running configuration"), 10s));
  EXPECT_THAT(p.process->output(), HasSubstr("is not valid JSON"));
  EXPECT_EQ(http_get(p.port, usage + "?size=3", alice).status, 200);  // still serving, as before

  write_file(file, with(0, "127.0.0.1:1"));
  p.process->signal(SIGHUP);
  ASSERT_TRUE(p.process->wait_for_line(std::regex("listen changed, which takes effect only after a restart"), 10s));
  EXPECT_EQ(http_get(p.port, usage, alice).status, 200);  // still on the old port
  p.process->signal(SIGTERM);
  EXPECT_EQ(p.process->wait(10s), 0);
}

TEST(Reload, SighupChangesTheLogLevelAndFormat) {
  fake_partner_center fake;
  const auto file = write_temp_file("level.json", R"({"log":{"level":"info","format":"text"}})");
  auto p = start_pcproxy({"--config", file, "--upstream", fake.url()});
  write_file(file, R"({"log":{"level":"debug","format":"json"}})");
  p.process->signal(SIGHUP);
  ASSERT_TRUE(p.process->wait_for_line(std::regex("applied: log.level, log.format"), 10s)) << p.process->output();
  http_get(p.port, "/v1/customers", alice);
  EXPECT_TRUE(p.process->wait_for_line(
      std::regex(R"(\{"time":"[^"]+","level":"debug","logger":"server","msg":"connection \d+ from 127\.0\.0\.1)"), 10s))
      << p.process->output();
  EXPECT_TRUE(p.process->wait_for_line(std::regex(R"("logger":"access","method":"GET","path":"/v1/customers")"), 10s));
  p.process->signal(SIGTERM);
  EXPECT_EQ(p.process->wait(10s), 0);
}

TEST(Probe, ExitCodesForHealthyUnhealthyUnreachableAndBadUrls) {
  fake_partner_center fake;
  running_proxy proxy(test_config(fake.url()));
  const auto admin = "http://127.0.0.1:" + std::to_string(proxy.admin_port());
  auto run = [](const std::string& url) {
    child_process probe(PCPROXY_BINARY, {"--probe", url});
    return probe.wait(10s);
  };
  EXPECT_EQ(run(admin + "/healthz"), 0);
  EXPECT_EQ(run(admin + "/nope"), 1);                // answered, not 2xx
  EXPECT_EQ(run("http://127.0.0.1:1/healthz"), 1);  // nothing listens
  EXPECT_EQ(run("https://127.0.0.1:1/healthz"), 2);
  EXPECT_EQ(run("http://nohostport/healthz"), 2);
}

}  // namespace
}  // namespace pcproxy::testing
