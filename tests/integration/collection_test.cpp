// Whole collections through pcproxy with the fake Partner Center: a 12-page collection
// in JSON, NDJSON and CSV against the records the fake sends (byte-exact items, a BOM on
// every page, 22-digit money values, fields that only later pages have), a repeat that
// asks upstream nothing, the collection ETag and its 304, a walk cut off mid-way, the
// item limit, and next-page prefetch for clients paging by hand.
#include "proxy/service.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/fake_partner_center.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/log_capture.hpp"
#include "tests/support/running_proxy.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_pki.hpp"

#include <rapidjson/document.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <unistd.h>
#include <thread>

namespace pcproxy::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string usage = "/v1/customers/usagerecords";
const std::string collection = "/pcproxy/collection" + usage + "?size=5";
const header_list alice = {{"Authorization", "Bearer alice-token"}};
constexpr std::size_t customers = 60;  // 12 pages of 5
constexpr std::size_t late_from = 30;  // from page 7 on, records have two fields more

// RFC 4180 rows (CRLF, quoted fields with doubled quotes).
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1, std::vector<std::string>(1));
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') rows.back().back() += '"', ++i;
      else if (c == '"') quoted = false;
      else rows.back().back() += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().emplace_back();
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      rows.emplace_back(1);
      ++i;
    } else {
      rows.back().back() += c;
    }
  }
  if (rows.back().size() == 1 && rows.back()[0].empty()) rows.pop_back();
  return rows;
}

// A record's leaves as the CSV should show them: numbers as their literal text, strings
// decoded, arrays as JSON text.
void leaves(const rapidjson::Value& v, const std::string& prefix, std::vector<std::pair<std::string, std::string>>& out) {
  if (v.IsObject()) {
    for (const auto& m : v.GetObject())
      leaves(m.value, prefix.empty() ? m.name.GetString() : prefix + "." + m.name.GetString(), out);
  } else if (v.IsString()) {  // numbers too: parsed with kParseNumbersAsStringsFlag
    out.emplace_back(prefix, std::string(v.GetString(), v.GetStringLength()));
  } else if (v.IsBool()) {
    out.emplace_back(prefix, v.GetBool() ? "true" : "false");
  } else if (v.IsNull()) {
    out.emplace_back(prefix, "");
  } else if (v.IsArray()) {
    out.emplace_back(prefix, "<array>");
  }
}

class Collections : public ::testing::Test {
protected:
  std::string record(std::size_t i) {
    page_style style;
    style.late_field_from = late_from;
    return usage_record(caller_id("Bearer alice-token"), i, style);
  }

  fake_partner_center fake{fake_options{.customers = customers, .page_size = 5, .bom = true, .late_field_from = late_from}};
  running_proxy proxy{test_config(fake.url())};
};

TEST_F(Collections, JsonHasEveryItemExactlyAsUpstreamSentIt) {
  const auto res = http_get(proxy.port(), collection, alice);
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(res.header("Content-Type"), "application/json; charset=utf-8");
  EXPECT_EQ(res.header("Transfer-Encoding"), "chunked");
  std::string expected = "{\"items\":[";
  for (std::size_t i = 0; i < customers; ++i) expected += (i ? "," : "") + record(i);
  expected += "],\"totalCount\":60,\"attributes\":{\"objectType\":\"Collection\"}}";
  EXPECT_EQ(res.body, expected);
  EXPECT_THAT(res.body, HasSubstr("\"totalCost\":"));  // with its 19 fraction digits
  EXPECT_EQ(fake.count(usage), 12u);
  EXPECT_EQ(res.header("Pcproxy-Collection"), "pages=12; items=60; hits=0; fetched=12");
}

TEST_F(Collections, NdjsonIsOneItemPerLine) {
  const auto res = http_get(proxy.port(), collection, {{"Authorization", "Bearer alice-token"}, {"Accept", "application/x-ndjson"}});
  ASSERT_EQ(res.status, 200);
  EXPECT_EQ(res.header("Content-Type"), "application/x-ndjson");
  std::string expected;
  for (std::size_t i = 0; i < customers; ++i) expected += record(i) + "\n";  // the fake's JSON has no spaces to drop
  EXPECT_EQ(res.body, expected);
  // Upstream was asked for JSON, whatever the client's Accept chose.
  for (const auto& r : fake.requests()) EXPECT_NE(r.header("Accept"), "application/x-ndjson");
}

TEST_F(Collections, CsvHasAColumnPerLeafOfTheFirstPageAndTheRestInExtra) {
  const auto res = http_get(proxy.port(), "/pcproxy/collection" + usage + "?format=csv&size=5", alice);
  ASSERT_EQ(res.status, 200);
  EXPECT_THAT(res.header("Content-Type"), HasSubstr("text/csv"));
  const auto rows = parse_csv(res.body);
  ASSERT_EQ(rows.size(), customers + 1);
  const auto& header = rows[0];
  EXPECT_EQ(header.back(), "extra");
  // Columns in order of first appearance on the first page.
  std::vector<std::string> expected_columns;
  for (std::size_t i = 0; i < 5; ++i) {
    rapidjson::Document d;
    d.Parse<rapidjson::kParseNumbersAsStringsFlag>(record(i).c_str());
    std::vector<std::pair<std::string, std::string>> l;
    leaves(d, "", l);
    for (const auto& [path, value] : l)
      if (std::find(expected_columns.begin(), expected_columns.end(), path) == expected_columns.end())
        expected_columns.push_back(path);
  }
  expected_columns.push_back("extra");
  EXPECT_EQ(header, expected_columns);
  for (std::size_t i = 0; i < customers; ++i) {
    const auto& row = rows[i + 1];
    ASSERT_EQ(row.size(), header.size()) << i;
    rapidjson::Document d;
    d.Parse<rapidjson::kParseNumbersAsStringsFlag>(record(i).c_str());
    std::vector<std::pair<std::string, std::string>> l;
    leaves(d, "", l);
    for (const auto& [path, value] : l) {
      const auto column = std::find(header.begin(), header.end(), path);
      if (column == header.end()) continue;  // in extra
      EXPECT_EQ(row[static_cast<std::size_t>(column - header.begin())], value) << path << " of record " << i;
    }
    // Every leaf the header lacks is in extra, with its value; nothing else is.
    std::set<std::string> missing;
    for (const auto& [path, value] : l)
      if (std::find(header.begin(), header.end(), path) == header.end()) missing.insert(path);
    if (missing.empty()) {
      EXPECT_EQ(row.back(), "") << i;
      continue;
    }
    rapidjson::Document extra;
    extra.Parse<rapidjson::kParseNumbersAsStringsFlag>(row.back().c_str());
    ASSERT_TRUE(extra.IsObject()) << row.back();
    std::set<std::string> in_extra;
    for (const auto& m : extra.GetObject()) in_extra.insert(m.name.GetString());
    EXPECT_EQ(in_extra, missing) << i;
    if (i >= late_from) {
      EXPECT_TRUE(missing.count("tags") && missing.count("review.state")) << i;
      EXPECT_EQ(std::string(extra["review.state"].GetString()), "open");
      EXPECT_EQ(std::string(extra["review.since"].GetString()), "2026");
      EXPECT_EQ(std::string(extra["tags"][1].GetString()), "a, \"quoted\" tag");
    }
  }
  // A money value keeps every digit: the record's literal text, not a double's.
  const auto cost = std::find(header.begin(), header.end(), "totalCost") - header.begin();
  const auto literal = record(0).substr(record(0).find("\"totalCost\":") + 12);
  EXPECT_EQ(rows[1][static_cast<std::size_t>(cost)], literal.substr(0, literal.find(',')));
  EXPECT_GE(rows[1][static_cast<std::size_t>(cost)].size(), 21u);
}

TEST_F(Collections, ARepeatAsksUpstreamNothingAndCarriesAnEtagThatGets304) {
  const auto first = http_get(proxy.port(), collection, alice);
  EXPECT_TRUE(first.header("ETag").empty());  // its pages were not cached before it
  ASSERT_EQ(fake.count(usage), 12u);
  const auto second = http_get(proxy.port(), collection, alice);
  EXPECT_EQ(second.body, first.body);
  EXPECT_EQ(fake.count(usage), 12u);
  EXPECT_EQ(second.header("Pcproxy-Collection"), "pages=12; items=60; hits=12; fetched=0");
  const auto etag = second.header("ETag");
  ASSERT_FALSE(etag.empty());
  const auto unchanged = http_get(proxy.port(), collection, {{"Authorization", "Bearer alice-token"}, {"If-None-Match", etag}});
  EXPECT_EQ(unchanged.status, 304);
  EXPECT_TRUE(unchanged.body.empty());
  EXPECT_EQ(fake.count(usage), 12u);
  // Another format is another representation: another tag.
  const auto csv = http_get(proxy.port(), "/pcproxy/collection" + usage + "?format=csv&size=5", alice);
  EXPECT_NE(csv.header("ETag"), etag);
  // A client paging by hand shares the entries the collection stored.
  EXPECT_EQ(http_get(proxy.port(), usage + "?size=5", alice).header("X-Cache"), "HIT");
}

TEST_F(Collections, AFailureMidWalkCutsTheResponseOffAndIsLogged) {
  log_capture logs;
  // Pages 1 to 3 come, page 4 fails three times: every attempt pcproxy makes.
  const auto fail_page_four = [&] {
    fake.script(usage, {fault{}, fault{}, fault{}, fault{.status = 500}, fault{.status = 500}, fault{.status = 500}},
                false);
  };
  fail_page_four();
  const auto raw = raw_exchange(proxy.port(), "GET " + collection +
                                                  " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice-token\r\n\r\n");
  EXPECT_EQ(status_of(raw), 200u);
  EXPECT_THAT(raw, HasSubstr("Transfer-Encoding: chunked"));
  EXPECT_THAT(raw, HasSubstr(record(14)));   // page 3 arrived
  EXPECT_THAT(raw, Not(HasSubstr(record(15))));
  EXPECT_THAT(raw, Not(HasSubstr("\r\n0\r\n")));  // no last chunk: an incomplete transfer
  fail_page_four();
  EXPECT_THROW(http_get(proxy.port(), "/pcproxy/collection" + usage + "?size=5&again=1", alice), std::exception)
      << "an HTTP client takes the cut-off response for a complete one";
  EXPECT_THAT(logs.text(), HasSubstr("cut off after pages=3; items=15"));
  EXPECT_THAT(logs.text(), HasSubstr("\"collection\":{\"format\":\"json\",\"pages\":3,\"items\":15"));
}

TEST_F(Collections, AFailureBeforeTheFirstByteIsThePagesOwnAnswer) {
  fake.script(usage, {fault{.status = 404}}, false);
  const auto res = http_get(proxy.port(), collection, alice);
  EXPECT_EQ(res.status, 404);
  EXPECT_THAT(res.body, HasSubstr("\"source\":\"PartnerFD\""));
  EXPECT_EQ(http_get(proxy.port(), collection, {}).status, 401);  // no credentials: pcproxy's own 401
  EXPECT_EQ(http_get(proxy.port(), "/pcproxy/collection/v1/customers", alice).status, 502);  // not a collection
  EXPECT_EQ(http_get(proxy.port(), "/pcproxy/collection" + usage + "?format=xml", alice).status, 400);
}

TEST(CollectionLimits, APastTheItemLimitCollectionIsCutOff) {
  fake_partner_center fake{fake_options{.customers = customers, .page_size = 5}};
  auto settings = test_config(fake.url());
  settings.limits.max_collection_items = 12;
  running_proxy proxy(settings);
  const auto raw = raw_exchange(proxy.port(), "GET " + collection +
                                                  " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice-token\r\n\r\n");
  EXPECT_EQ(status_of(raw), 200u);
  EXPECT_THAT(raw, Not(HasSubstr("\r\n0\r\n")));
  EXPECT_LE(fake.count(usage), 4u);  // it stopped, and one page ahead at most
}

class Prefetch : public ::testing::Test {
protected:
  Prefetch() {
    auto settings = test_config(fake.url());
    settings.routes[0].prefetch_next = true;
    proxy = std::make_unique<running_proxy>(settings);
  }
  // Waits until `n` pages are stored (a prefetch's answer lands after upstream sent it).
  bool stored(std::size_t n) {
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (proxy->service().store()->memory().stats().entries < n) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }
  // The next page's request, as a client paging by hand makes it from `body`.
  static std::pair<std::string, header_list> next_of(const std::string& body) {
    rapidjson::Document d;
    d.Parse(body.starts_with("\xEF\xBB\xBF") ? body.c_str() + 3 : body.c_str());
    const auto& next = d["links"]["next"];
    return {next["uri"].GetString(),
            {{"Authorization", "Bearer alice-token"}, {"MS-ContinuationToken", next["headers"][0]["value"].GetString()}}};
  }

  fake_partner_center fake{fake_options{.customers = customers, .page_size = 5}};
  std::unique_ptr<running_proxy> proxy;
};

TEST_F(Prefetch, TheNextPageIsAlreadyAHitForAClientPagingByHand) {
  const auto first = http_get(proxy->port(), usage + "?size=5", alice);
  ASSERT_EQ(first.header("X-Cache"), "MISS");
  ASSERT_TRUE(stored(2));  // page 2, fetched ahead
  auto [target, headers] = next_of(first.body);
  const auto second = http_get(proxy->port(), target, headers);
  EXPECT_EQ(second.header("X-Cache"), "HIT");
  EXPECT_THAT(second.header("Cache-Status"), HasSubstr("pcproxy; hit; detail=prefetched"));
  ASSERT_TRUE(stored(3));  // and the walk stays one ahead
  auto [third_target, third_headers] = next_of(second.body);
  EXPECT_THAT(http_get(proxy->port(), third_target, third_headers).header("Cache-Status"), HasSubstr("detail=prefetched"));
  // A second read of a prefetched page is an ordinary hit.
  EXPECT_THAT(http_get(proxy->port(), target, headers).header("Cache-Status"), Not(HasSubstr("prefetched")));
}

TEST_F(Prefetch, NothingIsFetchedAheadWhileUpstreamHoldsTheCallerBack) {
  const auto first = http_get(proxy->port(), usage + "?size=5", alice);
  ASSERT_TRUE(stored(2));
  fake.script(usage, {fault{.status = 429, .retry_after = "30"}}, false);
  EXPECT_EQ(http_get(proxy->port(), usage + "?size=9", alice).status, 429);  // upstream's: alice is held now
  const auto asked = fake.count(usage);
  auto [target, headers] = next_of(first.body);
  EXPECT_THAT(http_get(proxy->port(), target, headers).header("Cache-Status"), HasSubstr("detail=prefetched"));
  std::this_thread::sleep_for(200ms);  // a prefetch, were one started, would have reached the fake by now
  EXPECT_EQ(fake.count(usage), asked);
}

// ---- pcproxy export: the command-line client of the endpoint ----

class Export : public Collections {
protected:
  std::string proxy_url() { return "http://127.0.0.1:" + std::to_string(proxy.port()); }
  temp_dir dir;
  std::string token = write_temp_file("export-token", "alice-token\n");
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST_F(Export, WritesTheWholeCollectionAndRenamesItOnlyWhenComplete) {
  const auto out = dir / "usage.csv";
  child_process p(PCPROXY_BINARY, {"export", usage + "?size=5", "--format", "csv", "--output", out, "--proxy",
                                   proxy_url(), "--token-file", token});
  EXPECT_EQ(p.wait(30s), 0) << p.output();
  EXPECT_EQ(read_file(out), http_get(proxy.port(), "/pcproxy/collection" + usage + "?size=5&format=csv", alice).body);
  EXPECT_FALSE(std::filesystem::exists(out + ".partial"));
  // Not a terminal: one summary line, with what the trailer says of the pages.
  EXPECT_THAT(p.output(), HasSubstr("60 items"));
  EXPECT_THAT(p.output(), HasSubstr("(pages=12; items=60; hits=0; fetched=12) -> " + out));
}

TEST_F(Export, ACutOffCollectionExitsNonZeroAndLeavesNoFile) {
  fake.script(usage, {fault{}, fault{}, fault{.status = 500}, fault{.status = 500}, fault{.status = 500}}, false);
  const auto out = dir / "usage.json";
  child_process p(PCPROXY_BINARY, {"export", usage + "?size=5", "--output", out, "--proxy", proxy_url(),
                                   "--token-file", token});
  EXPECT_EQ(p.wait(30s), 1);
  EXPECT_THAT(p.output(), HasSubstr("the collection was cut off after 10 items"));
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_FALSE(std::filesystem::exists(out + ".partial"));
}

TEST_F(Export, ErrorsAndUsageHaveTheirOwnExitCodes) {
  const auto out = dir / "x.json";
  child_process refused(PCPROXY_BINARY, {"export", usage, "--output", out, "--proxy", proxy_url()});  // no token
  EXPECT_EQ(refused.wait(30s), 1);
  EXPECT_THAT(refused.output(), HasSubstr("pcproxy answered 401"));
  EXPECT_FALSE(std::filesystem::exists(out + ".partial"));
  child_process no_output(PCPROXY_BINARY, {"export", usage});
  EXPECT_EQ(no_output.wait(10s), 2);
  EXPECT_THAT(no_output.output(), HasSubstr("--output FILE is required"));
  child_process help(PCPROXY_BINARY, {"export", "--help"});
  EXPECT_EQ(help.wait(10s), 0);
  EXPECT_THAT(help.output(), HasSubstr("--token-file F"));
}

TEST_F(Export, OnATerminalAProgressLineIsRedrawn) {
  if (::access("/usr/bin/script", X_OK) != 0) GTEST_SKIP() << "script(1) from util-linux gives the child a terminal";
  const auto out = dir / "usage.ndjson";
  fake.set_delay(usage, 250ms);  // slow enough for a redraw or two
  const std::string command = std::string(PCPROXY_BINARY) + " export '" + usage + "?size=5' --format ndjson --output " +
                              out + " --proxy " + proxy_url() + " --token-file " + token;
  child_process p("/usr/bin/script", {"-qefc", command, "/dev/null"});
  EXPECT_EQ(p.wait(60s), 0) << p.output();
  EXPECT_THAT(p.output(), HasSubstr("\r"));
  EXPECT_THAT(p.output(), HasSubstr("items/s"));
  const auto written = read_file(out);
  EXPECT_EQ(std::count(written.begin(), written.end(), '\n'), 60);
}

}  // namespace
}  // namespace pcproxy::testing
