// Micro-benchmarks of the cache's hot path: key derivation and hit lookups.
#include "cache/key.hpp"
#include "cache/store.hpp"

#include <benchmark/benchmark.h>

namespace {

using namespace pcproxy;

const std::string token = "Bearer eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJ0aWQiOiJ0ZW5hbnQtYSJ9.c2lnbmF0dXJl";
const std::string continuation = "cT0/4f3a2b1c_10,9e8f7a==";

void BM_CredentialScope(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(cache::credential_scope(token));
}
BENCHMARK(BM_CredentialScope);

void BM_DeriveKey(benchmark::State& state) {
  const auto scope = cache::credential_scope(token);
  for (auto _ : state)
    benchmark::DoNotOptimize(cache::derive_key({scope, "GET", "/v1/customers/usagerecords",
                                                "size=100&seekOperation=Next", continuation,
                                                "application/json", "en-US"}));
}
BENCHMARK(BM_DeriveKey);

// A shared store of entries with `body_bytes` bodies; every thread looks one up.
void BM_StoreHit(benchmark::State& state) {
  static std::unique_ptr<cache::store> store;
  static std::vector<cache::cache_key> keys;
  const auto body_bytes = static_cast<std::size_t>(state.range(0));
  if (state.thread_index() == 0) {
    store = std::make_unique<cache::store>(std::size_t{1} << 32);
    keys.clear();
    for (int i = 0; i < 256; ++i) {
      auto e = std::make_shared<cache::entry>();
      e->header_block = std::make_shared<const std::string>("Content-Type: application/json\r\n");
      e->body = std::make_shared<const std::string>(body_bytes, 'x');
      keys.push_back(cache::derive_key({"c-x", "GET", "/v1/customers/usagerecords", std::to_string(i), "", "", ""}));
      store->insert(keys.back(), e);
    }
  }
  std::size_t i = static_cast<std::size_t>(state.thread_index());
  for (auto _ : state) {
    auto hit = store->find(keys[i++ % keys.size()]);
    benchmark::DoNotOptimize(hit->body->data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StoreHit)->Arg(4096)->Arg(1 << 20)->Threads(1)->Threads(2);

}  // namespace
