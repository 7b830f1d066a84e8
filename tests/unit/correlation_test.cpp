#include "upstream/correlation.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <thread>

namespace pcproxy::upstream {
namespace {

// A predictable "random" source: 0, 1, 2, ...
random_source counting() {
  return [n = 0u](unsigned char* out, std::size_t len) mutable {
    for (std::size_t i = 0; i < len; ++i) out[i] = static_cast<unsigned char>(n++);
  };
}

TEST(CorrelationVector, SeedMakesASixteenCharacterBaseAndZero) {
  const auto cv = seed_vector(counting());
  EXPECT_EQ(cv, "ABCDEFGHIJKLMNOP.0");
  EXPECT_TRUE(is_valid_vector(cv));
}

TEST(CorrelationVector, ExtendAndIncrementFollowTheSpec) {
  EXPECT_EQ(extend_vector("PmvzQKgYek6Sdk/T5sWaqw.1"), "PmvzQKgYek6Sdk/T5sWaqw.1.0");
  EXPECT_EQ(increment_vector("PmvzQKgYek6Sdk/T5sWaqw.0"), "PmvzQKgYek6Sdk/T5sWaqw.1");
  EXPECT_EQ(increment_vector("e8iECJiOvUGPvOVtchxG9g.1.23"), "e8iECJiOvUGPvOVtchxG9g.1.24");
  EXPECT_EQ(increment_vector("UGInjBojP0y0mAqo.9"), "UGInjBojP0y0mAqo.10");
}

TEST(CorrelationVector, TerminatesInsteadOfExceedingTheLengthLimit) {
  // v1: 63 characters at most.
  std::string cv = "UGInjBojP0y0mAqo";
  while (cv.size() + 2 <= 63) cv += ".1";
  ASSERT_EQ(cv.size(), 62u);
  EXPECT_EQ(extend_vector(cv), cv + "!");                      // 64 would be too long
  const std::string full = cv.substr(0, 61) + ".9";             // 63 chars, ends in .9
  ASSERT_EQ(full.size(), 63u);
  EXPECT_EQ(increment_vector(full), full + "!");                // .10 would not fit
  EXPECT_EQ(increment_vector(full + "!"), full + "!");          // terminated: immutable
  EXPECT_EQ(extend_vector(full + "!"), full + "!");
  EXPECT_EQ(increment_vector("UGInjBojP0y0mAqo.4294967295"), "UGInjBojP0y0mAqo.4294967295!");
}

TEST(CorrelationVector, Validation) {
  EXPECT_TRUE(is_valid_vector("UGInjBojP0y0mAqo.0"));
  EXPECT_TRUE(is_valid_vector("PmvzQKgYek6Sdk/T5sWaqw.1.15.3226329855"));
  EXPECT_TRUE(is_valid_vector("UGInjBojP0y0mAqo.1!"));
  EXPECT_FALSE(is_valid_vector(""));
  EXPECT_FALSE(is_valid_vector("short.0"));
  EXPECT_FALSE(is_valid_vector("UGInjBojP0y0mAqo"));
  EXPECT_FALSE(is_valid_vector("UGInjBojP0y0mAqo."));
  EXPECT_FALSE(is_valid_vector("UGInjBojP0y0mAqo.x"));
  EXPECT_FALSE(is_valid_vector("UGInjBojP0y0mA-o.0"));
  EXPECT_FALSE(is_valid_vector("UGInjBojP0y0mAqo.99999999999"));
}

TEST(Correlation, IncomingIdsPassThroughAndTheVectorIsExtended) {
  const auto c = correlation_for_request("0f8fad5b-d9cb-469f-a165-70867728950e",
                                         "7c9e6679-7425-40de-944b-e07fc1f90ae7", "UGInjBojP0y0mAqo.3",
                                         counting());
  EXPECT_EQ(c.correlation_id, "0f8fad5b-d9cb-469f-a165-70867728950e");
  EXPECT_EQ(c.request_id, "7c9e6679-7425-40de-944b-e07fc1f90ae7");
  EXPECT_EQ(c.vector, "UGInjBojP0y0mAqo.3.0");
}

TEST(Correlation, MissingOrMalformedIdsAreGenerated) {
  const auto c = correlation_for_request("", "not-a-uuid", "garbage", counting());
  EXPECT_TRUE(is_uuid(c.correlation_id));
  EXPECT_TRUE(is_uuid(c.request_id));
  EXPECT_NE(c.correlation_id, c.request_id);
  EXPECT_TRUE(is_valid_vector(c.vector));
  EXPECT_TRUE(c.vector.ends_with(".0"));
}

TEST(Correlation, FastIdsAreUniqueAcrossThreads) {
  std::vector<std::string> ids;
  std::mutex m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      const auto random = id_random();
      std::vector<std::string> mine;
      for (int i = 0; i < 5000; ++i) mine.push_back(new_uuid(random));
      std::lock_guard lock(m);
      ids.insert(ids.end(), mine.begin(), mine.end());
    });
  for (auto& t : threads) t.join();
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::adjacent_find(ids.begin(), ids.end()), ids.end());
  EXPECT_TRUE(is_uuid(ids.front()));
}

TEST(Correlation, GeneratedUuidsAreVersion4) {
  const auto random = system_random();
  const auto id = new_uuid(random);
  ASSERT_TRUE(is_uuid(id));
  EXPECT_EQ(id[14], '4');
  EXPECT_TRUE(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b');
  EXPECT_NE(new_uuid(random), id);
}

}  // namespace
}  // namespace pcproxy::upstream
