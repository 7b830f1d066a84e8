#include "cache/tiered.hpp"

namespace pcproxy::cache {

tiered::tiered(std::shared_ptr<memory_tier> memory, std::vector<std::shared_ptr<tier>> lower)
    : memory_(std::move(memory)), lower_(std::move(lower)) {}

awaitable<tiered::found> tiered::lookup(const cache_key& key) {
  if (auto hit = memory_->find(key)) co_return found{std::move(hit), memory_.get()};
  const auto purges_before = purges_.load();
  for (std::size_t i = 0; i < lower_.size(); ++i) {
    auto result = co_await lower_[i]->lookup(key);
    if (!result.found) continue;
    if (purges_.load() != purges_before) co_return found{};
    memory_->put(key, result.found);
    for (std::size_t above = 0; above < i; ++above) co_await lower_[above]->insert(key, result.found);
    co_return found{std::move(result.found), lower_[i].get()};
  }
  co_return found{};
}

awaitable<bool> tiered::insert(const cache_key& key, std::shared_ptr<const entry> e, bool everywhere) {
  bool taken = memory_->put(key, e);
  for (const auto& t : lower_) {
    if (!everywhere && t->shared()) continue;
    const auto failure = co_await t->insert(key, e);
    taken = taken || failure == tier_failure::none;
  }
  co_return taken;
}

awaitable<std::vector<tiered::purged>> tiered::purge(purge_filter filter, bool everywhere) {
  ++purges_;
  std::vector<purged> out;
  out.push_back({memory_.get(), purge_result{memory_->erase(filter)}});
  for (const auto& t : lower_) {
    if (!everywhere && t->shared()) continue;
    auto result = co_await t->purge(filter);
    out.push_back({t.get(), result});
  }
  co_return out;
}

awaitable<void> tiered::flush() {
  for (const auto& t : lower_) co_await t->flush();
}

std::vector<const tier*> tiered::tiers() const {
  std::vector<const tier*> out{memory_.get()};
  for (const auto& t : lower_) out.push_back(t.get());
  return out;
}

}  // namespace pcproxy::cache
