#include "cache/memory_tier.hpp"

#include <cstring>
#include <limits>

namespace pcproxy::cache {
namespace {

std::chrono::steady_clock::rep now_tick() { return std::chrono::steady_clock::now().time_since_epoch().count(); }

constexpr std::size_t hit_counter = 0;
constexpr std::size_t miss_counter = 1;

}  // namespace

memory_tier::memory_tier(std::size_t max_bytes, std::shared_ptr<const core::clock> clock, std::size_t shard_count)
    : max_bytes_(max_bytes), clock_(std::move(clock)), shards_(shard_count == 0 ? 1 : shard_count) {}

memory_tier::shard& memory_tier::shard_for(const cache_key& key) {
  std::uint64_t h;  // other digest bytes than the index hash uses
  std::memcpy(&h, key.digest.data() + 8, sizeof h);
  return shards_[h % shards_.size()];
}

std::shared_ptr<const entry> memory_tier::find(const cache_key& key) {
  auto& s = shard_for(key);
  std::lock_guard lock(s.mutex);
  auto it = s.index.find(key);
  if (it == s.index.end()) {
    lookups_.add(miss_counter);
    return nullptr;
  }
  if (clock_->now() >= retention_end(*it->second->value)) {
    erase_locked(s, it->second);
    lookups_.add(miss_counter);
    return nullptr;
  }
  s.lru.splice(s.lru.begin(), s.lru, it->second);
  it->second->last_used = now_tick();
  lookups_.add(hit_counter);
  return it->second->value;
}

bool memory_tier::put(const cache_key& key, std::shared_ptr<const entry> e) {
  const auto bytes = charged_bytes(*e);
  auto& s = shard_for(key);
  {
    std::lock_guard lock(s.mutex);
    if (auto it = s.index.find(key); it != s.index.end()) erase_locked(s, it->second);
    if (bytes > max_bytes_) return false;
    account(*e, bytes, true);
    s.lru.push_front(node{key, std::move(e), bytes, now_tick()});
    s.index.emplace(key, s.lru.begin());
  }
  ++writes_;
  evict_to_fit();
  return true;
}

void memory_tier::evict_to_fit() {
  // Never holds two shard locks: look for the shard with the oldest tail, then evict
  // it under that shard's lock alone.
  while (bytes_.load() > max_bytes_) {
    shard* victim = nullptr;
    auto oldest = std::numeric_limits<std::chrono::steady_clock::rep>::max();
    for (auto& s : shards_) {
      std::lock_guard lock(s.mutex);
      if (!s.lru.empty() && s.lru.back().last_used < oldest) {
        oldest = s.lru.back().last_used;
        victim = &s;
      }
    }
    if (!victim) return;
    std::lock_guard lock(victim->mutex);
    if (victim->lru.empty() || bytes_.load() <= max_bytes_) continue;
    erase_locked(*victim, std::prev(victim->lru.end()));
    ++evictions_;
  }
}

std::size_t memory_tier::erase(const purge_filter& filter) {
  std::size_t erased = 0;
  for (auto& s : shards_) {
    std::lock_guard lock(s.mutex);
    for (auto it = s.lru.begin(); it != s.lru.end();) {
      auto next = std::next(it);
      if (filter.matches(*it->value)) {
        erase_locked(s, it);
        ++erased;
      }
      it = next;
    }
  }
  return erased;
}

std::vector<memory_tier::listed> memory_tier::list(std::size_t limit) const {
  std::vector<listed> out;
  for (const auto& s : shards_) {
    std::lock_guard lock(s.mutex);
    for (const auto& n : s.lru) {
      if (out.size() >= limit) return out;
      out.push_back({n.key, n.value});
    }
  }
  return out;
}

std::map<std::string, memory_tier::route_usage> memory_tier::usage_by_route() const {
  std::lock_guard lock(usage_mutex_);
  return {usage_.begin(), usage_.end()};
}

void memory_tier::account(const entry& e, std::size_t bytes, bool added) {
  if (added) {
    bytes_ += bytes;
    ++entries_;
  } else {
    bytes_ -= bytes;
    --entries_;
  }
  std::lock_guard lock(usage_mutex_);
  auto it = usage_.find(e.route);
  if (it == usage_.end()) it = usage_.emplace(e.route, route_usage{}).first;
  if (added) {
    it->second.entries += 1;
    it->second.bytes += bytes;
  } else {
    it->second.entries -= 1;
    it->second.bytes -= bytes;
    if (it->second.entries == 0) usage_.erase(it);
  }
}

void memory_tier::erase_locked(shard& s, lru_list::iterator it) {
  account(*it->value, it->bytes, false);
  s.index.erase(it->key);
  s.lru.erase(it);
}

awaitable<lookup_result> memory_tier::lookup(const cache_key& key) { co_return lookup_result{find(key)}; }

awaitable<tier_failure> memory_tier::insert(const cache_key& key, std::shared_ptr<const entry> e) {
  co_return put(key, std::move(e)) ? tier_failure::none : tier_failure::too_large;
}

awaitable<purge_result> memory_tier::purge(purge_filter filter) { co_return purge_result{erase(filter)}; }

awaitable<void> memory_tier::flush() { co_return; }

tier_stats memory_tier::stats() const {
  tier_stats out;
  out.entries = entries_.load();
  out.bytes = bytes_.load();
  out.max_bytes = max_bytes_;
  out.evictions = evictions_.load();
  out.hits = lookups_.value(hit_counter);
  out.misses = lookups_.value(miss_counter);
  out.writes = writes_.load();
  return out;
}

}  // namespace pcproxy::cache
