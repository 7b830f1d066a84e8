#include "config/loader.hpp"
#include "tests/support/test_pki.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

namespace pcproxy::config {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

struct fake_env {
  std::map<std::string, std::string> vars;
  env_lookup lookup() const {
    return [this](const std::string& name) -> std::optional<std::string> {
      auto it = vars.find(name);
      if (it == vars.end()) return std::nullopt;
      return it->second;
    };
  }
};

command_line load_args(std::vector<std::string> args, const fake_env& env = {}) {
  args.insert(args.begin(), "pcproxy");
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  return load(static_cast<int>(argv.size()), argv.data(), env.lookup());
}

std::vector<std::string> problems_of(std::vector<std::string> args, const fake_env& env = {}) {
  try {
    load_args(std::move(args), env);
  } catch (const config_error& e) {
    return e.problems();
  }
  return {};
}

TEST(Config, DefaultsMatchTheDesignReference) {
  const auto c = load_args({}).settings;
  EXPECT_EQ(to_string(c.listen), "127.0.0.1:8080");
  EXPECT_EQ(to_string(c.admin_listen), "127.0.0.1:9090");
  EXPECT_EQ(c.upstream.url.base_url, "https://api.partnercenter.microsoft.com");
  EXPECT_TRUE(c.upstream.tls_verify);
  EXPECT_EQ(c.upstream.deadline_ms, 120000);
  EXPECT_EQ(c.retry.statuses, (std::vector<int>{408, 429, 500, 502, 503, 504}));
  EXPECT_EQ(c.cache.scope, cache_scope::credential);
  ASSERT_EQ(c.routes.size(), 2u);
  EXPECT_EQ(c.routes[0].path, "/v1/customers/usagerecords");
  EXPECT_EQ(c.routes[0].policy, cache_policy::cache);
  EXPECT_TRUE(c.routes[0].month_boundary);
  EXPECT_EQ(c.routes[1].policy, cache_policy::pass);
  EXPECT_TRUE(validate(c).empty());
}

TEST(Config, PrecedenceIsFlagsThenEnvironmentThenFileThenDefaults) {
  const auto file = testing::write_temp_file(
      "precedence.json",
      R"({"listen":"127.0.0.1:1001","admin_listen":"127.0.0.1:2001","upstream":{"url":"http://file:1","deadline_ms":5},"log":{"level":"warn"}})");
  fake_env env;
  env.vars["PCPROXY_LISTEN"] = "127.0.0.1:1002";
  env.vars["PCPROXY_UPSTREAM_URL"] = "http://env:2";
  const auto c = load_args({"--config", file, "--listen", "127.0.0.1:1003"}, env).settings;
  EXPECT_EQ(to_string(c.listen), "127.0.0.1:1003");            // flag beats env and file
  EXPECT_EQ(c.upstream.url.base_url, "http://env:2");         // env beats file
  EXPECT_EQ(to_string(c.admin_listen), "127.0.0.1:2001");       // file beats default
  EXPECT_EQ(c.upstream.deadline_ms, 5);
  EXPECT_EQ(c.log.level, log_level::warn);
  EXPECT_EQ(c.upstream.connect_timeout_ms, 5000);    // default
}

TEST(Config, ConfigFileCanComeFromTheEnvironment) {
  const auto file = testing::write_temp_file("env.json", R"({"threads": 3})");
  fake_env env;
  env.vars["PCPROXY_CONFIG"] = file;
  EXPECT_EQ(load_args({}, env).settings.threads, 3);
}

TEST(Config, EveryKeyHasAnEnvironmentVariable) {
  fake_env env;
  env.vars["PCPROXY_CACHE_MAX_BYTES"] = "1234";
  env.vars["PCPROXY_UPSTREAM_TLS_VERIFY"] = "false";
  env.vars["PCPROXY_RETRY_BUDGET_RATIO"] = "0.5";
  env.vars["PCPROXY_RETRY_STATUSES"] = "429,503";
  env.vars["PCPROXY_CACHE_SCOPE"] = "tenant";
  env.vars["PCPROXY_ROUTES"] = R"([{"path":"/v1/*","policy":"http"}])";
  env.vars["PCPROXY_LIMITS_IDLE_TIMEOUT_MS"] = "7";
  const auto c = load_args({}, env).settings;
  EXPECT_EQ(c.cache.max_bytes, 1234);
  EXPECT_FALSE(c.upstream.tls_verify);
  EXPECT_DOUBLE_EQ(c.retry.budget_ratio, 0.5);
  EXPECT_EQ(c.retry.statuses, (std::vector<int>{429, 503}));
  EXPECT_EQ(c.cache.scope, cache_scope::tenant);
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].policy, cache_policy::http);
  EXPECT_EQ(c.limits.idle_timeout_ms, 7);
}

TEST(Config, ValidationNamesTheFieldTheValueAndTheSource) {
  EXPECT_THAT(problems_of({"--listen", "nope"}),
              ElementsAre("listen: \"nope\" is not HOST:PORT (from --listen)"));
  fake_env env;
  env.vars["PCPROXY_UPSTREAM_URL"] = "ftp://example.com";
  EXPECT_THAT(problems_of({}, env),
              ElementsAre(AllOf(HasSubstr("upstream.url"), HasSubstr("ftp://example.com"),
                                HasSubstr("PCPROXY_UPSTREAM_URL"))));
}

TEST(Config, EveryProblemIsReportedAtOnce) {
  const auto file = testing::write_temp_file(
      "many.json",
      R"({"threads":-1,"retry":{"max_attempts":0,"statuses":[401,503]},"cache":{"scope":"galaxy"},"bogus":1})");
  const auto problems = problems_of({"--config", file});
  EXPECT_EQ(problems.size(), 5u);
  EXPECT_THAT(problems, Contains(HasSubstr("cache.scope: \"galaxy\" is not")));
  EXPECT_THAT(problems, Contains(HasSubstr("bogus: unknown key")));
  EXPECT_THAT(problems, Contains(HasSubstr("threads: -1 must be between")));
  EXPECT_THAT(problems, Contains(HasSubstr("retry.max_attempts: 0")));
  EXPECT_THAT(problems, Contains(HasSubstr("retry.statuses: 401 is never retried")));
}

TEST(Config, TypeErrorsSayWhatWasExpected) {
  const auto file = testing::write_temp_file("types.json", R"({"upstream":{"connect_timeout_ms":"5s"},"listen":8080})");
  const auto problems = problems_of({"--config", file});
  EXPECT_THAT(problems, Contains(HasSubstr("upstream.connect_timeout_ms: expected an integer, got \"5s\"")));
  EXPECT_THAT(problems, Contains(HasSubstr("listen: expected a string, got 8080")));
}

TEST(Config, BrokenJsonGivesTheLine) {
  const auto file = testing::write_temp_file("broken.json", "{\n  \"listen\": \"127.0.0.1:1\",\n  oops\n}");
  EXPECT_THAT(problems_of({"--config", file}), ElementsAre(AllOf(HasSubstr("line 3"), HasSubstr("not valid JSON"))));
}

TEST(Config, MissingFileIsAClearError) {
  EXPECT_THAT(problems_of({"--config", "/nonexistent/pcproxy.json"}),
              ElementsAre(HasSubstr("cannot read \"/nonexistent/pcproxy.json\"")));
}

TEST(Config, RoutesAreCheckedEntryByEntry) {
  const auto file = testing::write_temp_file(
      "routes.json", R"({"routes":[{"path":"/a*b","policy":"cache"},{"path":"x","policy":"pass"},{"policy":"pass"}]})");
  EXPECT_THAT(problems_of({"--config", file}), ElementsAre(HasSubstr("routes: [2]: every route needs a \"path\"")));
  const auto file2 = testing::write_temp_file(
      "routes2.json", R"({"routes":[{"path":"/a*b","policy":"cache"},{"path":"x","policy":"magic"}]})");
  EXPECT_THAT(problems_of({"--config", file2}), ElementsAre(HasSubstr("routes: [1].policy: \"magic\" is not one of")));
  const auto file3 = testing::write_temp_file(
      "routes3.json", R"({"routes":[{"path":"/a*b","policy":"cache"},{"path":"x","policy":"pass","ttl_s":-1}]})");
  const auto p3 = problems_of({"--config", file3});
  EXPECT_THAT(p3, Contains(HasSubstr("routes[0].path: \"/a*b\" may contain * only at the end")));
  EXPECT_THAT(p3, Contains(HasSubstr("routes[1].path: \"x\" must start with /")));
  EXPECT_THAT(p3, Contains(HasSubstr("routes[1].ttl_s: must not be negative")));
}

TEST(Config, UpstreamUrlMustBeAnOriginWithoutCredentials) {
  EXPECT_THAT(problems_of({"--upstream", "https://user:pw@example.com"}),
              ElementsAre(HasSubstr("must not carry credentials")));
  EXPECT_THAT(problems_of({"--upstream", "https://example.com/v1"}), ElementsAre(HasSubstr("without a path")));
  EXPECT_THAT(problems_of({"--upstream", "https://example.com:99999"}), ElementsAre(HasSubstr("invalid port")));
  EXPECT_TRUE(problems_of({"--upstream", "https://example.com/"}).empty());
}

TEST(Config, UnreadableFilesAreStartUpErrors) {
  EXPECT_THAT(problems_of({"--upstream-ca-file", "/nonexistent/ca.pem"}),
              ElementsAre(HasSubstr("upstream.ca_file: cannot read \"/nonexistent/ca.pem\"")));
}

TEST(Config, CheckConfigOutputLoadsBackToTheSameConfig) {
  fake_env env;
  env.vars["PCPROXY_RETRY_STATUSES"] = "429,503";
  env.vars["PCPROXY_CACHE_SCOPE"] = "tenant";
  const auto first = load_args({"--check-config", "--listen", "127.0.0.1:7000"}, env);
  EXPECT_EQ(first.what, action::check_config);
  const auto printed = to_json(first.settings);
  const auto file = testing::write_temp_file("roundtrip.json", printed);
  const auto second = load_args({"--config", file}).settings;
  EXPECT_EQ(to_json(second), printed);
  EXPECT_EQ(to_string(second.listen), "127.0.0.1:7000");
  EXPECT_EQ(second.cache.scope, cache_scope::tenant);
}

TEST(Config, HelpAndVersionAreActions) {
  const auto help = load_args({"--help"});
  EXPECT_EQ(help.what, action::help);
  EXPECT_THAT(help.help_text, HasSubstr("--upstream"));
  EXPECT_THAT(help.help_text, HasSubstr("PCPROXY_"));
  EXPECT_EQ(load_args({"--version"}).what, action::version);
  EXPECT_THAT(problems_of({"--no-such-flag"}), ElementsAre(HasSubstr("command line")));
}

TEST(Config, ARouteLeftWithoutTtlGetsTheDocumentedDefault) {
  const auto file = testing::write_temp_file("route-defaults.json", R"({"routes":[{"path":"/v1/*","policy":"cache"}]})");
  const auto c = load_args({"--config", file}).settings;
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].ttl_s, 3600);
  EXPECT_EQ(c.routes[0].stale_while_revalidate_s, 0);
  EXPECT_FALSE(c.routes[0].month_boundary);
}

TEST(Config, TheDiskTierHasAFlagAnEnvironmentVariableAndAppearsInCheckConfig) {
  EXPECT_TRUE(load_args({}).settings.cache.disk.path.empty());  // off by default
  EXPECT_EQ(load_args({}).settings.cache.disk.max_bytes, 4294967296);
  fake_env env;
  env.vars["PCPROXY_CACHE_DISK_MAX_BYTES"] = "1048576";
  env.vars["PCPROXY_CACHE_DISK_PATH"] = "/from/env";
  const auto c = load_args({"--cache-disk-path", "/var/cache/pcproxy"}, env).settings;
  EXPECT_EQ(c.cache.disk.path, "/var/cache/pcproxy");  // the flag beats the environment
  EXPECT_EQ(c.cache.disk.max_bytes, 1048576);
  const auto printed = to_json(c);
  EXPECT_THAT(printed, HasSubstr("\"disk\": {"));
  EXPECT_THAT(printed, HasSubstr("\"path\": \"/var/cache/pcproxy\""));
  env.vars["PCPROXY_CACHE_DISK_MAX_BYTES"] = "0";
  EXPECT_THAT(problems_of({"--cache-disk-path", "/x"}, env),
              ElementsAre(HasSubstr("cache.disk.max_bytes: 0 must be greater than 0")));
  EXPECT_THAT(problems_of({}, fake_env{{{"PCPROXY_CACHE_DISK_ENCRYPTION_KEY_FILE", "/nonexistent/key"}}}),
              ElementsAre(HasSubstr("cache.disk.encryption_key_file: cannot read")));
}

TEST(Config, TheSharedTierTakesARedisUrlAndNeverPrintsItsPassword) {
  EXPECT_FALSE(load_args({}).settings.cache.shared.url);  // off by default
  EXPECT_EQ(load_args({}).settings.cache.shared.timeout_ms, 50);
  EXPECT_EQ(load_args({}).settings.cache.shared.key_prefix, "pcproxy:");
  fake_env env;
  env.vars["PCPROXY_CACHE_SHARED_URL"] = "rediss://ops:s3cret-key@cache.redis.cache.windows.net:6380/2";
  const auto c = load_args({}, env).settings;
  ASSERT_TRUE(c.cache.shared.url);
  EXPECT_TRUE(c.cache.shared.url->tls);
  EXPECT_EQ(c.cache.shared.url->host, "cache.redis.cache.windows.net");
  EXPECT_EQ(c.cache.shared.url->port, 6380);
  EXPECT_EQ(c.cache.shared.url->db, 2u);
  EXPECT_EQ(c.cache.shared.url->user, "ops");
  EXPECT_EQ(c.cache.shared.url->password, "s3cret-key");
  const auto printed = to_json(c);
  EXPECT_THAT(printed, HasSubstr("rediss://ops:***@cache.redis.cache.windows.net:6380/2"));
  EXPECT_THAT(printed, Not(HasSubstr("s3cret-key")));
  const auto plain = load_args({}, fake_env{{{"PCPROXY_CACHE_SHARED_URL", "redis://127.0.0.1"}}}).settings;
  EXPECT_EQ(plain.cache.shared.url->port, 6379);
  EXPECT_FALSE(plain.cache.shared.url->tls);
  EXPECT_THAT(problems_of({}, fake_env{{{"PCPROXY_CACHE_SHARED_URL", "http://127.0.0.1:6379"}}}),
              ElementsAre(HasSubstr("must start with redis:// or rediss://")));
  EXPECT_THAT(problems_of({}, fake_env{{{"PCPROXY_CACHE_SHARED_URL", "redis://127.0.0.1:6379/99"}}}),
              ElementsAre(HasSubstr("use a number from 0 to 15")));
  EXPECT_THAT(problems_of({}, fake_env{{{"PCPROXY_CACHE_SHARED_TIMEOUT_MS", "0"}}}),
              ElementsAre(HasSubstr("cache.shared.timeout_ms: 0 must be greater than 0")));
  EXPECT_THAT(problems_of({}, fake_env{{{"PCPROXY_CACHE_SHARED_PASSWORD_FILE", "/nonexistent/pw"}}}),
              ElementsAre(HasSubstr("cache.shared.password_file: cannot read")));
}

TEST(Config, CredentialsModesAreCheckedTogether) {
  const auto defaults = load_args({}).settings;
  EXPECT_EQ(defaults.upstream.auth.mode, auth_mode::none);
  EXPECT_EQ(defaults.upstream.auth.authority.base_url, "https://login.microsoftonline.com");
  EXPECT_EQ(defaults.upstream.auth.resource, "https://api.partnercenter.microsoft.com");
  EXPECT_EQ(effective_auth_mode(defaults.upstream), auth_mode::none);

  // upstream.token_file alone keeps its old meaning.
  const auto token = pcproxy::testing::write_temp_file("token", "Bearer abc");
  const auto alias = load_args({}, fake_env{{{"PCPROXY_UPSTREAM_TOKEN_FILE", token}}}).settings;
  EXPECT_EQ(effective_auth_mode(alias.upstream), auth_mode::token_file);
  EXPECT_THAT(problems_of({}, fake_env{{{"PCPROXY_UPSTREAM_AUTH_MODE", "token_file"}}}),
              ElementsAre(HasSubstr("upstream.auth.mode: token_file needs upstream.token_file")));
  EXPECT_THAT(problems_of({}, fake_env{{{"PCPROXY_UPSTREAM_AUTH_MODE", "oauth"}}}),
              ElementsAre(HasSubstr("is not one of none, token_file, refresh_token")));

  // refresh_token names each missing piece at once.
  EXPECT_THAT(problems_of({}, fake_env{{{"PCPROXY_UPSTREAM_AUTH_MODE", "refresh_token"}}}),
              ElementsAre(HasSubstr("upstream.auth.tenant"), HasSubstr("upstream.auth.client_id"),
                          HasSubstr("upstream.auth.client_secret_file"), HasSubstr("upstream.auth.refresh_token_file")));
  const auto secret = pcproxy::testing::write_temp_file("secret", "app-secret-value");
  const auto refresh = pcproxy::testing::write_temp_file("refresh", "refresh-token-value");
  fake_env env{{{"PCPROXY_UPSTREAM_AUTH_MODE", "refresh_token"},
                {"PCPROXY_UPSTREAM_AUTH_TENANT", "contoso.onmicrosoft.com"},
                {"PCPROXY_UPSTREAM_AUTH_CLIENT_ID", "11111111-2222-3333-4444-555555555555"},
                {"PCPROXY_UPSTREAM_AUTH_CLIENT_SECRET_FILE", secret},
                {"PCPROXY_UPSTREAM_AUTH_REFRESH_TOKEN_FILE", refresh}}};
  const auto c = load_args({}, env).settings;
  EXPECT_EQ(effective_auth_mode(c.upstream), auth_mode::refresh_token);
  const auto printed = to_json(c);
  EXPECT_THAT(printed, Not(HasSubstr("app-secret-value")));  // files are named, never read out
  EXPECT_THAT(printed, Not(HasSubstr("refresh-token-value")));
  EXPECT_FALSE(reloads_live("upstream.auth.mode"));

  auto both = env;
  both.vars["PCPROXY_UPSTREAM_TOKEN_FILE"] = token;
  EXPECT_THAT(problems_of({}, both), ElementsAre(HasSubstr("set it or upstream.auth.mode refresh_token, not both")));
  auto bad_tenant = env;
  bad_tenant.vars["PCPROXY_UPSTREAM_AUTH_TENANT"] = "contoso/../x";
  EXPECT_THAT(problems_of({}, bad_tenant), ElementsAre(HasSubstr("is not a tenant id or domain")));
  auto missing = env;
  missing.vars["PCPROXY_UPSTREAM_AUTH_REFRESH_TOKEN_FILE"] = "/nonexistent/refresh";
  EXPECT_THAT(problems_of({}, missing), ElementsAre(HasSubstr("upstream.auth.refresh_token_file: cannot read")));
  auto authority = env;
  authority.vars["PCPROXY_UPSTREAM_AUTH_AUTHORITY"] = "https://login.example/tenant";
  EXPECT_THAT(problems_of({}, authority), ElementsAre(HasSubstr("upstream.auth.authority")));
}

TEST(Config, TheLiveKeysAreDeclaredOnce) {
  EXPECT_TRUE(reloads_live("routes"));
  EXPECT_TRUE(reloads_live("retry.max_attempts"));
  EXPECT_TRUE(reloads_live("log.level"));
  EXPECT_TRUE(reloads_live("cache.scope"));
  EXPECT_FALSE(reloads_live("cache.max_bytes"));
  EXPECT_FALSE(reloads_live("cache.disk.path"));
  EXPECT_FALSE(reloads_live("listen"));
  EXPECT_FALSE(reloads_live("upstream.url"));
  EXPECT_FALSE(reloads_live("routesx"));
}

TEST(Config, TypedValuesAreParsedOnceAndNamedWhenWrong) {
  EXPECT_THAT(problems_of({"--log-level", "loud"}), ElementsAre(HasSubstr("log.level: \"loud\" is not one of")));
  EXPECT_THAT(problems_of({}, fake_env{{{"PCPROXY_LOG_FORMAT", "xml"}}}),
              ElementsAre(HasSubstr("log.format: \"xml\" is not \"json\" or \"text\"")));
  const auto c = load_args({"--listen", "[::1]:8181", "--upstream", "http://127.0.0.1:9"}).settings;
  EXPECT_EQ(c.listen, (host_port{"::1", 8181}));
  EXPECT_FALSE(c.upstream.url.tls);
  EXPECT_EQ(c.upstream.url.authority, "127.0.0.1:9");
  EXPECT_EQ(to_string(c.listen), "[::1]:8181");
}

TEST(Config, ParsesHostPortAndOrigins) {
  auto hp = parse_host_port("[::1]:8080");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "::1");
  EXPECT_EQ(hp->port, 8080);
  EXPECT_FALSE(parse_host_port("127.0.0.1"));
  EXPECT_FALSE(parse_host_port("127.0.0.1:x"));
  EXPECT_FALSE(parse_host_port("bad host:1"));
  std::string why;
  auto o = parse_origin("https://api.partnercenter.microsoft.com", why);
  ASSERT_TRUE(o);
  EXPECT_TRUE(o->tls);
  EXPECT_EQ(o->port, 443);
  EXPECT_EQ(o->authority, "api.partnercenter.microsoft.com");
  auto p = parse_origin("http://127.0.0.1:8081", why);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->authority, "127.0.0.1:8081");
  EXPECT_EQ(p->base_url, "http://127.0.0.1:8081");
}

TEST(Config, AConfigFilesTextIsReadWithoutAFile) {
  const auto c = from_json(R"({"listen": "127.0.0.1:9000", "cache": {"max_bytes": 1048576}})");
  EXPECT_EQ(c.listen.port, 9000);
  EXPECT_EQ(c.cache.max_bytes, 1048576);
  try {
    from_json("{\"listen\": \"nope\",\n\"threads\": -1,}\n{");
    ADD_FAILURE() << "a broken document was accepted";
  } catch (const config_error& e) {
    EXPECT_THAT(e.problems(), ElementsAre(AllOf(HasSubstr("line 3"), HasSubstr("not valid JSON"))));
  }
  try {
    from_json(R"({"listen": "nope", "threads": -1})");
    ADD_FAILURE() << "invalid values were accepted";
  } catch (const config_error& e) {
    EXPECT_THAT(e.problems(), Contains(HasSubstr("listen")));
    EXPECT_THAT(e.problems(), Contains(HasSubstr("threads")));
  }
}

}  // namespace
}  // namespace pcproxy::config
