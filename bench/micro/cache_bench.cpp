// Micro-benchmarks of the cache-hit path: key derivation, store lookups, and a whole
// hit through the request pipeline (lookup, response assembly, wire serialisation),
// for a Partner Center-sized small page (4 KiB) and a large one (1 MiB), on 1 and 2
// threads. Figures go to bench/RESULTS.md.
#include "cache/entry_codec.hpp"
#include "cache/key.hpp"
#include "cache/memory_tier.hpp"
#include "cache/validator.hpp"
#include "config/config.hpp"
#include "proxy/service.hpp"
#include "server/wire.hpp"
#include "tests/support/scripted_upstream.hpp"
#include "upstream/correlation.hpp"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

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
                                                "size=100&seekOperation=Next", continuation, "application/json",
                                                "en-US"}));
}
BENCHMARK(BM_DeriveKey);

void BM_CorrelationForRequest(benchmark::State& state) {
  const auto random = upstream::id_random();
  for (auto _ : state)
    benchmark::DoNotOptimize(upstream::correlation_for_request("0f8fad5b-d9cb-469f-a165-70867728950e", "",
                                                               "UGInjBojP0y0mAqo.3", random));
}
BENCHMARK(BM_CorrelationForRequest);

// A shared memory tier of entries with `body_bytes` bodies; every thread looks them up.
void BM_StoreHit(benchmark::State& state) {
  static std::unique_ptr<cache::memory_tier> store;
  static std::vector<cache::cache_key> keys;
  if (state.thread_index() == 0) {
    const auto clock = std::make_shared<core::system_clock>();
    store = std::make_unique<cache::memory_tier>(std::size_t{1} << 32, clock);
    keys.clear();
    for (int i = 0; i < 256; ++i) {
      auto e = std::make_shared<cache::entry>();
      e->header_block = cache::header_block({{"Content-Type", "application/json"}});
      e->body = std::make_shared<const std::string>(static_cast<std::size_t>(state.range(0)), 'x');
      e->revalidated_at = e->stored_at = clock->now();
      e->rules.ttl = std::chrono::hours(24);
      keys.push_back(cache::derive_key({"c-x", "GET", "/v1/customers/usagerecords", std::to_string(i), "", "", ""}));
      store->put(keys.back(), e);
    }
  }
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 97;
  for (auto _ : state) {
    auto hit = store->find(keys[i++ % keys.size()]);
    benchmark::DoNotOptimize(hit->body->data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StoreHit)->Arg(4096)->Arg(1 << 20)->Threads(1)->Threads(2)->UseRealTime();

// A Partner Center-shaped usage-records page of about `bytes` bytes: records with their
// own tenant ids, names and money values (as compressible as real pages, no more).
std::string usage_page(std::size_t bytes) {
  std::uint64_t x = 0x9E3779B97F4A7C15ull;
  const auto next = [&x] {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return x;
  };
  const auto guid = [&] {
    const auto a = next(), b = next();
    return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xffff, a & 0xffff, b >> 48,
                       b & 0xffffffffffffull);
  };
  static const char* names[] = {"Northwind AG", "Contoso Ltd", "Fabrikam Inc", "Adventure Works", "Tailspin Toys",
                                "Wide World Importers", "Litware GmbH", "Proseware"};
  std::string page = "{\"totalCount\":20,\"items\":[";
  while (page.size() < bytes) {
    const auto id = guid();
    const auto cost = next() % 10000000;
    page += fmt::format(
        R"({{"id":"{0}","name":"{1} {2}","resourceId":"{0}","resourceName":"{1} {2}","totalCost":{3}.{4:019},)"
        R"("usdTotalCost":{5}.{6:019},"currencyCode":"EUR","currencyLocale":"de-DE","currencySymbol":"€",)"
        R"("isUpgraded":true,"lastModifiedDate":"2026-11-{7:02}T{8:02}:30:36.{9:07}Z","percentUsed":{10}.{11},)"
        R"("budget":{{"amount":{12}.0}},"attributes":{{"objectType":"CustomerMonthlyUsageRecord"}}}},)",
        id, names[next() % 8], next() % 1000, cost / 100, next() % 10000000000000000000ull, cost / 90,
        next() % 10000000000000000000ull, 1 + next() % 28, next() % 24, next() % 10000000, next() % 100,
        next() % 100, next() % 5 * 1000);
  }
  page.back() = ']';
  page += R"(,"links":{"next":{"uri":"/customers/usagerecords?size=20","method":"GET",)"
          R"("headers":[{"key":"MS-ContinuationToken","value":"cT0/4f3a2b1c_10,9e8f7a=="}]}},)"
          R"("attributes":{"objectType":"Collection"}})";
  return page;
}

// What a miss does to the body before storing it: one pass that checks it is JSON and
// looks for attributes.etag, then (no etag found, as with the harness's pages) the
// body's hash as the validator. A Partner Center-shaped page of ~10 KB.
void BM_MissBodyChecks(benchmark::State& state) {
  const auto page = usage_page(10000);
  for (auto _ : state) {
    auto scan = cache::scan_json(page);
    benchmark::DoNotOptimize(cache::validator_of("", scan.etag, page));
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(page.size()));
}
BENCHMARK(BM_MissBodyChecks);

// A stored entry with a usage page of `bytes` bytes, as the disk and shared tiers get it.
cache::entry stored_page(std::size_t bytes) {
  cache::entry e;
  e.header_block = cache::header_block({{"Content-Type", "application/json; charset=utf-8"}, {"ETag", "\"5eadaefa5b556509f6ae33a29f07dea8\""}});
  e.body = std::make_shared<const std::string>(usage_page(bytes));
  e.validator = "\"5eadaefa5b556509f6ae33a29f07dea8\"";
  e.scope = "c-3f1d0c6ab1a94e52e0f1c3f0e4b8a7d2";
  e.path = e.route = "/v1/customers/usagerecords";
  return e;
}

// Serialising an entry for a lower tier at zstd level range(0) (range(1) = 1: encrypted
// too); the counter "ratio" is body bytes per stored byte. bench/ANALYSIS.md chooses
// entry_codec::default_compression_level from these.
void BM_EncodeEntry(benchmark::State& state) {
  const auto e = stored_page(10000);
  const auto key = cache::derive_key({"c-x", "GET", "/v1/customers/usagerecords", "", "", "", ""});
  std::optional<cache::encryption_key> encryption;
  if (state.range(1) == 1) encryption = cache::encryption_key{};
  const cache::entry_codec codec(encryption, static_cast<int>(state.range(0)));
  std::size_t size = 0;
  for (auto _ : state) size = codec.encode(key, e).size();
  state.counters["ratio"] = static_cast<double>(e.body->size()) / static_cast<double>(size);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(e.body->size()));
}
BENCHMARK(BM_EncodeEntry)->ArgsProduct({{-5, -1, 1, 3, 6}, {0}})->Args({1, 1});

void BM_DecodeEntry(benchmark::State& state) {
  const auto e = stored_page(10000);
  const auto key = cache::derive_key({"c-x", "GET", "/v1/customers/usagerecords", "", "", "", ""});
  std::optional<cache::encryption_key> encryption;
  if (state.range(1) == 1) encryption = cache::encryption_key{};
  const cache::entry_codec codec(encryption, static_cast<int>(state.range(0)));
  const auto bytes = codec.encode(key, e);
  for (auto _ : state) benchmark::DoNotOptimize(codec.decode(key, bytes));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(e.body->size()));
}
BENCHMARK(BM_DecodeEntry)->ArgsProduct({{-5, 1, 3}, {0}})->Args({1, 1});

// A whole cache hit as a session sees it: pipeline.handle() on a stored page, then the
// wire buffers for the response. Only the socket write is missing.
void BM_PipelineHit(benchmark::State& state) {
  static std::unique_ptr<proxy::service> service;
  auto request = [] {
    server::request req{beast::http::verb::get, "/v1/customers/usagerecords?size=100", 11};
    req.set(beast::http::field::host, "127.0.0.1:8080");
    req.set(beast::http::field::authorization, token);
    req.set(beast::http::field::accept, "application/json");
    req.set("MS-CorrelationId", "0f8fad5b-d9cb-469f-a165-70867728950e");
    return req;
  };
  if (state.thread_index() == 0) {
    auto upstream = std::make_shared<testing::scripted_upstream>();
    const auto body_bytes = static_cast<std::size_t>(state.range(0));
    upstream->fallback = [body_bytes](const pcproxy::upstream::request&) {
      return testing::scripted_upstream::ok(std::string(body_bytes, 'x'));
    };
    // Access log off, as in bench/compare: the figure is the pipeline, not log formatting.
    config::config settings;
    settings.log.access = false;
    service = std::make_unique<proxy::service>(settings, upstream, std::make_shared<core::system_clock>());
    // The coroutine takes its arguments by reference: they must outlive it.
    const auto warm_request = request();
    const server::request_info warm_info;
    net::io_context warm;
    net::co_spawn(warm, service->proxy_handler()->handle(warm_request, warm_info), net::detached);
    warm.run();
  }
  net::io_context ioc;
  const auto req = request();
  const server::request_info info;
  std::string scratch;
  std::size_t bytes = 0;
  net::co_spawn(ioc, [&]() -> awaitable<void> {
    server::request_handler* handler = nullptr;
    for (auto _ : state) {
      if (!handler) handler = service->proxy_handler().get();  // after the start barrier
      auto res = co_await handler->handle(req, info);
      const auto buffers = server::serialise(res, false, true, 11, scratch);
      for (const auto& b : buffers) bytes += b.size();
    }
  }, net::detached);
  ioc.run();
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_PipelineHit)->Arg(4096)->Arg(1 << 20)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
