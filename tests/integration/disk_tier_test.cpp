// The disk tier through the real binary: warm restarts, SIGKILL, corrupt and foreign
// databases, unwritable directories, scopes, purges, encryption at rest, and a memory
// tier far smaller than the disk tier. The fake Partner Center is the upstream.
#include "tests/integration/pcproxy_process.hpp"
#include "tests/support/fake_partner_center.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_pki.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

namespace pcproxy::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

const std::string usage = "/v1/customers/usagerecords";
const header_list alice = {{"Authorization", "Bearer alice-token"}};
const header_list bob = {{"Authorization", "Bearer bob-token"}};

std::string page(int size) { return usage + "?size=" + std::to_string(size); }

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class DiskTierProcess : public ::testing::Test {
protected:
  pcproxy_process start(std::vector<std::string> extra = {}, std::vector<std::string> env = {}) {
    std::vector<std::string> args = {"--upstream", fake.url(), "--cache-disk-path", cache_dir};
    args.insert(args.end(), extra.begin(), extra.end());
    // Without the month boundary, so that a run across midnight at a month's end holds.
    env.push_back(R"(PCPROXY_ROUTES=[{"path":"/v1/customers/usagerecords","policy":"cache","ttl_s":3600},)"
                  R"({"path":"/*","policy":"pass"}])");
    return start_pcproxy(args, env);
  }
  static void stop(pcproxy_process& p) {
    p.process->signal(SIGTERM);
    ASSERT_EQ(p.process->wait(10s), 0) << p.process->output();
  }
  // What the fake sends for a page, asked directly.
  std::string direct(const std::string& target, const header_list& who = alice) {
    return http_get(fake.port(), target, who).body;
  }

  fake_partner_center fake{fake_options{.customers = 40, .bom = true}};
  temp_dir dir;
  std::string cache_dir = dir / "cache";
};

TEST_F(DiskTierProcess, AfterARestartEveryFreshPageIsAHitFromDiskWithItsBytesAndItsAge) {
  auto first = start();
  std::map<int, std::string> bodies;
  for (int size : {3, 5, 7}) {
    const auto res = http_get(first.port, page(size), alice);
    ASSERT_EQ(res.header("X-Cache"), "MISS");
    bodies[size] = res.body;
  }
  stop(first);
  fake.clear();
  std::this_thread::sleep_for(1100ms);  // so that Age shows the time since the fetch

  auto second = start();
  for (int size : {3, 5, 7}) {
    const auto res = http_get(second.port, page(size), alice);
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.header("X-Cache"), "HIT");
    EXPECT_THAT(res.header("Cache-Status"), HasSubstr("pcproxy; hit; detail=disk; ttl="));
    EXPECT_GE(std::stoi(res.header("Age")), 1);
    EXPECT_EQ(res.body, bodies[size]);  // the BOM and every digit
  }
  EXPECT_EQ(fake.count(), 0u);
  const auto again = http_get(second.port, page(3), alice);  // promoted into memory
  EXPECT_EQ(again.header("X-Cache"), "HIT");
  EXPECT_THAT(again.header("Cache-Status"), Not(HasSubstr("detail=disk")));
  stop(second);
}

TEST_F(DiskTierProcess, AKillDuringABurstOfMissesNeverLeadsToAWrongByte) {
  fake.set_delay(usage, 30ms);
  auto first = start();
  std::vector<std::future<void>> burst;
  for (int size = 1; size <= 40; ++size)
    burst.push_back(std::async(std::launch::async, [&, size] {
      try {
        http_get(first.port, page(size), alice);
      } catch (const std::exception&) {  // cut off by the kill: expected
      }
    }));
  ASSERT_TRUE(fake.wait_for_requests(20, 10s));
  first.process->signal(SIGKILL);
  for (auto& f : burst) f.get();
  first.process->wait(10s);

  auto second = start();
  int hits = 0;
  for (int size = 1; size <= 40; ++size) {
    const auto res = http_get(second.port, page(size), alice);
    ASSERT_EQ(res.status, 200) << size;
    EXPECT_EQ(res.body, direct(page(size))) << size;
    if (res.header("X-Cache") == "HIT") ++hits;
  }
  RecordProperty("hits_after_kill", hits);
  stop(second);
}

TEST_F(DiskTierProcess, ACorruptDatabaseIsMovedAsideLoggedAndServingGoesOn) {
  fs::create_directories(cache_dir);
  std::ofstream(cache_dir + "/cache.db", std::ios::binary) << std::string(20000, '\x13');
  auto p = start();
  // Logged before the listeners open.
  EXPECT_TRUE(std::regex_search(p.process->output(), std::regex("was moved aside to [^ ]*cache\\.db\\.corrupt-\\d{8}T\\d{6}Z "
                                                                   "because it is not a readable SQLite database.*the tier starts empty")))
      << p.process->output();
  EXPECT_EQ(http_get(p.port, page(4), alice).header("X-Cache"), "MISS");
  EXPECT_EQ(http_get(p.port, page(4), alice).header("X-Cache"), "HIT");
  stop(p);
}

TEST_F(DiskTierProcess, AnUnusableDirectoryIsAStartUpErrorNamingThePathAndTheReason) {
  const auto file = dir / "not-a-directory";
  std::ofstream(file) << "x";
  child_process p(PCPROXY_BINARY, {"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--upstream", fake.url(),
                                   "--cache-disk-path", file + "/cache"});
  EXPECT_EQ(p.wait(10s), 1);
  EXPECT_THAT(p.output(), HasSubstr("cannot start: cache.disk.path: cannot create"));
  EXPECT_THAT(p.output(), HasSubstr(file + "/cache"));
  EXPECT_THAT(p.output(), HasSubstr("Not a directory"));
}

TEST_F(DiskTierProcess, ScopesStayApartAcrossARestart) {
  auto first = start();
  const auto alices = http_get(first.port, page(6), alice).body;
  stop(first);
  auto second = start();
  const auto bobs = http_get(second.port, page(6), bob);
  EXPECT_EQ(bobs.header("X-Cache"), "MISS");
  EXPECT_EQ(bobs.body, direct(page(6), bob));
  EXPECT_NE(bobs.body, alices);
  EXPECT_EQ(http_get(second.port, page(6), alice).body, alices);
  stop(second);
}

TEST_F(DiskTierProcess, APurgeReachesTheDiskAndStaysPurgedAfterARestart) {
  auto first = start();
  http_get(first.port, page(2), alice);
  http_get(first.port, page(9), alice);
  const auto purged = http_request(first.admin, "DELETE", "/admin/cache?prefix=/v1/customers");
  EXPECT_EQ(purged.body, R"({"purged":2,"tiers":{"memory":2,"disk":2}})");
  stop(first);
  auto second = start();
  EXPECT_EQ(http_get(second.port, page(2), alice).header("X-Cache"), "MISS");
  EXPECT_EQ(http_get(second.port, page(9), alice).header("X-Cache"), "MISS");
  stop(second);
}

TEST_F(DiskTierProcess, EncryptedAtRestAndAnotherKeyOnlyMisses) {
  const auto key = write_temp_file("disk-key", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n");
  const auto other = write_temp_file("disk-key-2", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh4=");
  auto first = start({}, {"PCPROXY_CACHE_DISK_ENCRYPTION_KEY_FILE=" + key});
  const auto body = http_get(first.port, page(8), alice).body;
  ASSERT_NE(body.find("\"currencyCode\""), std::string::npos);
  stop(first);
  for (const auto& f : fs::directory_iterator(cache_dir)) {
    const auto bytes = read_all(f.path());
    EXPECT_EQ(bytes.find("currencyCode"), std::string::npos) << f.path();
    EXPECT_EQ(bytes.find("alice"), std::string::npos) << f.path();
  }
  auto wrong = start({}, {"PCPROXY_CACHE_DISK_ENCRYPTION_KEY_FILE=" + other});
  const auto res = http_get(wrong.port, page(8), alice);
  EXPECT_EQ(res.header("X-Cache"), "MISS");
  EXPECT_EQ(res.body, body);
  stop(wrong);
}

TEST_F(DiskTierProcess, AMemoryTierFarSmallerThanTheDiskStillAnswersEveryPageFromDisk) {
  auto p = start({}, {"PCPROXY_CACHE_MAX_BYTES=12000"});  // about one page in memory
  std::map<int, std::string> bodies;
  for (int size = 2; size <= 12; ++size) bodies[size] = http_get(p.port, page(size), alice).body;
  const auto fetched = fake.count();
  int from_disk = 0;
  for (int size = 2; size <= 12; ++size) {
    const auto res = http_get(p.port, page(size), alice);
    EXPECT_EQ(res.header("X-Cache"), "HIT") << size;
    EXPECT_EQ(res.body, bodies[size]);
    if (res.header("Cache-Status").find("detail=disk") != std::string::npos) ++from_disk;
  }
  EXPECT_EQ(fake.count(), fetched);
  EXPECT_GE(from_disk, 9);
  const auto metrics = http_get(p.admin, "/metrics").body;
  EXPECT_THAT(metrics, HasSubstr("pcproxy_cache_tier_entries{tier=\"disk\"} 11"));
  EXPECT_THAT(metrics, HasSubstr("pcproxy_cache_tier_reads_total{tier=\"disk\",result=\"hit\"}"));
  stop(p);
}

}  // namespace
}  // namespace pcproxy::testing
