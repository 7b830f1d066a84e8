#include "core/error_body.hpp"
#include "core/http_date.hpp"
#include "core/json_text.hpp"
#include "core/log.hpp"
#include "core/sha256.hpp"

#include <rapidjson/document.h>

#include <gtest/gtest.h>

#include <sched.h>

#include <filesystem>
#include <fstream>
#include <thread>

namespace pcproxy::core {
namespace {

using namespace std::chrono;

TEST(JsonText, EscapesWhatJsonRequires) {
  std::string out;
  append_json_string(out, "a\"b\\c\n\t\x01 \xE2\x82\xAC");
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\n\\t\\u0001 \xE2\x82\xAC\"");
}

TEST(JsonText, InvalidUtf8BecomesReplacementCharacters) {
  std::string out;
  append_json_string(out, "x\xFF\xC3");
  EXPECT_EQ(out, "\"x\xEF\xBF\xBD\xEF\xBF\xBD\"");
  rapidjson::Document doc;
  doc.Parse(out.c_str());
  EXPECT_FALSE(doc.HasParseError());
}

TEST(ErrorBody, HasPartnerCentersShapeAndTheIds) {
  const auto body = error_body(error_code_number::bad_gateway, "upstream \"down\"", "corr", "req");
  rapidjson::Document doc;
  doc.Parse(body.c_str());
  ASSERT_FALSE(doc.HasParseError()) << body;
  EXPECT_EQ(doc["code"].GetInt(), 5020);
  EXPECT_STREQ(doc["description"].GetString(), "upstream \"down\"");
  EXPECT_TRUE(doc["data"].IsArray());
  EXPECT_STREQ(doc["source"].GetString(), "pcproxy");
  EXPECT_STREQ(doc["correlationId"].GetString(), "corr");
  EXPECT_STREQ(doc["requestId"].GetString(), "req");
  EXPECT_FALSE(rapidjson::Document().Parse(error_body(error_code_number::internal, "x").c_str()).HasMember("requestId"));
}

TEST(HttpDate, FormatsImfFixdateAndParsesTheThreeForms) {
  const auto t = sys_days{year{1994} / November / 6} + hours{8} + minutes{49} + seconds{37};
  EXPECT_EQ(format_http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), t);
  EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), t);  // rfc850-date
  EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994"), t);        // asctime-date
  EXPECT_EQ(parse_http_date("Thursday, 01-Jan-26 00:00:00 GMT"), sys_days{year{2026} / January / 1});
  EXPECT_FALSE(parse_http_date("Sun, 31 Feb 1994 08:49:37 GMT"));
  EXPECT_FALSE(parse_http_date("Sun, 06 Nov 1994 25:49:37 GMT"));
  EXPECT_FALSE(parse_http_date("Sun, 06 Nov 1994 -1:49:37 GMT"));
  EXPECT_FALSE(parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC"));
  EXPECT_FALSE(parse_http_date("0"));
}

// Found by dates_and_retry_after_fuzz: a year past 2262 overflowed sys_time's nanoseconds.
TEST(HttpDate, FarDatesAreBoundedNeverOverflowing) {
  const auto end_of_2200 = sys_days{year{2200} / December / 31} + hours{23} + minutes{59} + seconds{59};
  EXPECT_EQ(parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT"), end_of_2200);
  EXPECT_EQ(parse_http_date("Mon, 01 Jan 4000 00:00:00 GMT"), end_of_2200);
  EXPECT_FALSE(parse_http_date("Mon, 01 Jan 0995 00:00:00 GMT"));
  EXPECT_FALSE(parse_http_date("Mon, 01 Jan 1899 00:00:00 GMT"));
  const auto now = floor<seconds>(std::chrono::system_clock::now());
  EXPECT_EQ(parse_http_date(format_http_date(now)), now);
}

TEST(Sha256, KnownVector) {
  EXPECT_EQ(to_hex(sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(to_hex(sha256("abc"), 4), "ba7816bf");
}

// The thread that writes log lines must not preempt the io thread that queues them
// (core/log.cpp): it runs under SCHED_BATCH, and is named for `top -H`.
TEST(Logging, TheLogThreadIsABatchThreadNamedPcproxyLog) {
  logger("core-test");  // the log thread starts with the first logger
  int policy = -1;
  for (int tries = 0; tries < 200 && policy == -1; ++tries) {
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
      std::ifstream comm(task.path() / "comm");
      std::string name;
      std::getline(comm, name);
      if (name == "pcproxy-log") policy = sched_getscheduler(std::stoi(task.path().filename().string()));
    }
    if (policy == -1) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(policy, SCHED_BATCH);
}

}  // namespace
}  // namespace pcproxy::core
