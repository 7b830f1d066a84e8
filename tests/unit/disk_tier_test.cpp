// The disk tier beyond the tier contract: what survives a reopen, what happens to a
// database that is not one, permissions, keys, the sweep, the write queue's bound and
// close(). Real SQLite files in a temporary directory.
#include "tiers/disk_tier.hpp"
#include "tests/support/manual_clock.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/tier_factories.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <csignal>
#include <sys/resource.h>
#include <sys/stat.h>

namespace pcproxy::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

cache::cache_key key_of(int n) {
  return cache::derive_key({"c-a", "GET", "/v1/customers/usagerecords", std::to_string(n), "", "", ""});
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

class DiskTier : public ::testing::Test {
protected:
  std::shared_ptr<tiers::disk_tier> open(std::optional<char> key = std::nullopt, std::size_t max_queued_bytes = 64 << 20) {
    tiers::disk_settings s;
    s.directory = dir / "cache";
    s.max_bytes = std::size_t{64} << 20;
    s.max_queued_write_bytes = max_queued_bytes;
    if (key) {
      s.encryption = cache::encryption_key{};
      s.encryption->bytes.fill(static_cast<unsigned char>(*key));
    }
    return std::make_shared<tiers::disk_tier>(s, clock);
  }

  std::shared_ptr<const cache::entry> page(std::string body, std::chrono::seconds ttl = 3600s) {
    auto e = std::make_shared<cache::entry>();
    e->header_block = cache::header_block({{"Content-Type", "application/json"}});
    e->body = std::make_shared<const std::string>(std::move(body));
    e->stored_at = e->revalidated_at = clock->now();
    e->rules = {ttl, 0s, 60s, false};
    e->scope = "c-a";
    e->path = "/v1/customers/usagerecords";
    return e;
  }

  std::shared_ptr<manual_clock> clock = std::make_shared<manual_clock>();
  temp_dir dir;
  tier_runner run;
};

TEST_F(DiskTier, EntriesAndTotalsSurviveAReopen) {
  {
    auto tier = open();
    for (int i = 0; i < 5; ++i) run(tier->insert(key_of(i), page("{\"page\":" + std::to_string(i) + "}")));
    run(tier->flush());
  }
  auto tier = open();
  EXPECT_EQ(tier->stats().entries, 5u);  // from the totals row: no entry is read at start
  EXPECT_GT(tier->stats().bytes, 0u);
  const auto got = run(tier->lookup(key_of(3)));
  ASSERT_TRUE(got.found);
  EXPECT_EQ(*got.found->body, "{\"page\":3}");
}

TEST_F(DiskTier, TheDirectoryIsCreatedPrivateAndTheFilesAreTheOwnersOnly) {
  auto tier = open();
  run(tier->insert(key_of(1), page("{}")));
  run(tier->flush());
  EXPECT_EQ(fs::status(dir / "cache").permissions() & fs::perms::all, fs::perms::owner_all);
  for (const auto& name : names_in(dir / "cache")) {
    const auto perms = fs::status(dir / ("cache/" + name)).permissions() & fs::perms::all;
    EXPECT_EQ(perms, fs::perms::owner_read | fs::perms::owner_write) << name;
  }
}

TEST_F(DiskTier, AFileThatIsNotADatabaseIsMovedAsideAndTheTierStartsEmpty) {
  fs::create_directories(dir / "cache");
  {
    std::ofstream out(dir / "cache/cache.db", std::ios::binary);
    out << std::string(8192, '\x5a');
  }
  auto tier = open();
  EXPECT_EQ(tier->stats().entries, 0u);
  run(tier->insert(key_of(1), page("{\"fresh\":1}")));
  run(tier->flush());
  EXPECT_TRUE(run(tier->lookup(key_of(1))).found);
  const auto names = names_in(dir / "cache");
  const auto aside = std::find_if(names.begin(), names.end(), [](const auto& n) { return n.starts_with("cache.db.corrupt-"); });
  ASSERT_NE(aside, names.end()) << ::testing::PrintToString(names);
  EXPECT_EQ(read_all(dir / ("cache/" + *aside)), std::string(8192, '\x5a'));  // kept for a post-mortem
}

TEST_F(DiskTier, ADatabaseOfAnotherFormatIsMovedAside) {
  fs::create_directories(dir / "cache");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "cache/cache.db").c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "CREATE TABLE entries (x); INSERT INTO entries VALUES (1); PRAGMA application_id = 42;", nullptr,
               nullptr, nullptr);
  sqlite3_close(db);
  auto tier = open();
  EXPECT_EQ(tier->stats().entries, 0u);
  EXPECT_THAT(::testing::PrintToString(names_in(dir / "cache")), HasSubstr("cache.db.corrupt-"));
  run(tier->insert(key_of(1), page("{}")));
  run(tier->flush());
  EXPECT_TRUE(run(tier->lookup(key_of(1))).found);
}

TEST_F(DiskTier, ADirectoryThatCannotBeCreatedOrWrittenIsAStartUpErrorNamingThePath) {
  const auto file = dir / "plain-file";
  std::ofstream(file) << "x";
  tiers::disk_settings s;
  s.directory = file + "/cache";
  try {
    tiers::disk_tier tier(s, clock);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("cache.disk.path: cannot create \"" + s.directory + "\""));
    EXPECT_THAT(e.what(), HasSubstr("Not a directory"));
  }
  s.directory = file;
  EXPECT_THROW(tiers::disk_tier(s, clock), std::runtime_error);
  if (::geteuid() != 0) {  // root writes through permission bits
    fs::create_directories(dir / "locked");
    fs::permissions(dir / "locked", fs::perms::owner_read | fs::perms::owner_exec);
    s.directory = dir / "locked";
    try {
      tiers::disk_tier tier(s, clock);
      FAIL() << "no error";
    } catch (const std::runtime_error& e) {
      EXPECT_THAT(e.what(), HasSubstr("cannot write in \"" + s.directory + "\": Permission denied"));
    }
  }
}

TEST_F(DiskTier, EncryptedFilesHoldNoBodyTextAndAnotherKeyReadsNothing) {
  const std::string marker = "Northwind-Traders-120.5682999999995904716";
  {
    auto tier = open('k');
    for (int i = 0; i < 20; ++i) run(tier->insert(key_of(i), page("{\"name\":\"" + marker + std::to_string(i) + "\"}")));
    run(tier->flush());
  }
  for (const auto& name : names_in(dir / "cache")) {
    const auto bytes = read_all(dir / ("cache/" + name));
    EXPECT_EQ(bytes.find(marker), std::string::npos) << name;
    EXPECT_EQ(bytes.find("application/json"), std::string::npos) << name;
  }
  {
    auto other = open('j');
    const auto got = run(other->lookup(key_of(1)));
    EXPECT_FALSE(got.found);
    EXPECT_EQ(got.failure, cache::tier_failure::corrupt);
    EXPECT_GE(other->stats().errors, 1u);
    run(other->flush());
    EXPECT_EQ(other->stats().entries, 19u);  // the unreadable entry was dropped
  }
  auto same = open('k');
  EXPECT_TRUE(run(same->lookup(key_of(2))).found);
  auto none = open();
  EXPECT_FALSE(run(none->lookup(key_of(3))).found);
}

TEST_F(DiskTier, TheSweepRemovesEntriesPastTheirLastWindow) {
  auto tier = open();
  run(tier->insert(key_of(1), page("{}", 10s)));
  run(tier->insert(key_of(2), page("{}", 3600s)));
  run(tier->flush());
  clock->advance(10s + 60s);  // key 1: past its TTL and stale-if-error
  EXPECT_EQ(run(tier->sweep()), 1u);
  EXPECT_EQ(tier->stats().entries, 1u);
  EXPECT_TRUE(run(tier->lookup(key_of(2))).found);
}

TEST_F(DiskTier, AWriteThatDoesNotFitTheQueueIsDroppedAndCounted) {
  auto tier = open(std::nullopt, 1000);  // room for small pages only
  EXPECT_EQ(run(tier->insert(key_of(1), page(std::string(5000, 'x')))), cache::tier_failure::busy);
  EXPECT_EQ(run(tier->insert(key_of(2), page("{}"))), cache::tier_failure::none);
  run(tier->flush());
  const auto stats = tier->stats();
  EXPECT_EQ(stats.dropped_writes, 1u);
  EXPECT_EQ(stats.writes, 1u);
  EXPECT_FALSE(run(tier->lookup(key_of(1))).found);
}

TEST_F(DiskTier, CloseWritesWhatIsQueuedBeforeItStops) {
  {
    auto tier = open();
    for (int i = 0; i < 200; ++i) run(tier->insert(key_of(i), page("{\"n\":" + std::to_string(i) + "}")));
    tier->close(std::chrono::steady_clock::now() + 10s);
    EXPECT_EQ(tier->stats().writes, 200u);
    EXPECT_EQ(run(tier->insert(key_of(999), page("{}"))), cache::tier_failure::busy);  // closed
  }
  auto tier = open();
  EXPECT_EQ(tier->stats().entries, 200u);
  EXPECT_EQ(*run(tier->lookup(key_of(199))).found->body, "{\"n\":199}");
}

TEST_F(DiskTier, AFullDiskIsCountedAndReportedAndTheTierRecoversWhenThereIsRoomAgain) {
  auto tier = open();
  run(tier->insert(key_of(0), page("{}")));
  run(tier->flush());
  std::uintmax_t largest = 0;
  for (const auto& name : names_in(dir / "cache")) largest = std::max(largest, fs::file_size(dir / ("cache/" + name)));
  // A file size limit stands in for a full disk: writes past it fail with EFBIG.
  std::string noise(20000, '\0');
  std::uint64_t x = 88172645463325252ull;
  for (auto& c : noise) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c = static_cast<char>(x);
  }
  rlimit old{};
  ::getrlimit(RLIMIT_FSIZE, &old);
  const auto previous_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit tight{static_cast<rlim_t>(largest + 4096), old.rlim_max};
  ::setrlimit(RLIMIT_FSIZE, &tight);
  for (int i = 1; i <= 8; ++i) run(tier->insert(key_of(i), page(noise + std::to_string(i))));
  run(tier->flush());
  ::setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, previous_handler);

  auto stats = tier->stats();
  EXPECT_GE(stats.errors, 1u);
  EXPECT_THAT(stats.state, HasSubstr("failing: "));
  EXPECT_TRUE(run(tier->lookup(key_of(0))).found);  // what was stored is still served

  run(tier->insert(key_of(9), page("{\"after\":1}")));
  run(tier->flush());
  EXPECT_EQ(tier->stats().state, "ok");
  EXPECT_TRUE(run(tier->lookup(key_of(9))).found);
}

}  // namespace
}  // namespace pcproxy::testing
