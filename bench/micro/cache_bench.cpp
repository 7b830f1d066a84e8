// Micro-benchmarks of the cache-hit path: key derivation, store lookups, and a whole
// hit through the request pipeline (lookup, response assembly, wire serialisation),
// for a Partner Center-sized small page (4 KiB) and a large one (1 MiB), on 1 and 2
// threads. Figures go to bench/RESULTS.md.
#include "cache/key.hpp"
#include "cache/memory_tier.hpp"
#include "cache/validator.hpp"
#include "config/config.hpp"
#include "proxy/service.hpp"
#include "server/wire.hpp"
#include "tests/support/scripted_upstream.hpp"
#include "upstream/correlation.hpp"

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
      e->headers = {{"Content-Type", "application/json"}};
      cache::seal(*e);
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

// What a miss does to the body before storing it: one pass that checks it is JSON and
// looks for attributes.etag, then (no etag found, as with the harness's pages) the
// body's SHA-256 as the validator. A Partner Center-shaped page of ~10 KB.
void BM_MissBodyChecks(benchmark::State& state) {
  const std::string record =
      R"({"id":"2516dfd2-1929-4bfa-8318-47f120661789","name":"Northwind AG","resourceId":)"
      R"("2516dfd2-1929-4bfa-8318-47f120661789","resourceName":"Northwind AG","totalCost":2257.95,)"
      R"("usdTotalCost":2867.6,"currencyCode":"GBP","currencyLocale":"en-GB","currencySymbol":"£",)"
      R"("isUpgraded":true,"lastModifiedDate":"2024-10-05T21:30:36.5463560Z","percentUsed":0.0,)"
      R"("budget":{"amount":0.0},"attributes":{"objectType":"CustomerMonthlyUsageRecord"}})";
  std::string page = R"({"totalCount":20,"items":[)";
  while (page.size() < 10000) page += record + ",";
  page.back() = ']';
  page += R"(,"links":{"next":{"uri":"/customers/usagerecords?size=20","method":"GET"}},)"
          R"("attributes":{"objectType":"Collection"}})";
  for (auto _ : state) {
    auto scan = cache::scan_json(page);
    benchmark::DoNotOptimize(cache::validator_of("", scan.etag, page));
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(page.size()));
}
BENCHMARK(BM_MissBodyChecks);

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
