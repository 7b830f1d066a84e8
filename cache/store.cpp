#include "cache/store.hpp"

#include <cstring>
#include <limits>

namespace pcproxy::cache {
namespace {

std::chrono::steady_clock::rep now_tick() { return std::chrono::steady_clock::now().time_since_epoch().count(); }

}  // namespace

std::size_t charged_bytes(const entry& e) noexcept {
  // The index node, the LRU node and the entry with its two shared_ptr control blocks;
  // allocation headers are rounded into the constant.
  static constexpr std::size_t overhead = sizeof(entry) + sizeof(cache_key) * 2 + 192;
  const auto len = [](const std::shared_ptr<const std::string>& s) { return s ? s->size() : 0; };
  return overhead + len(e.header_block) + len(e.body) + e.validator.size() + e.scope.size() +
         e.path.size() + e.route.size();
}

store::store(std::size_t max_bytes, std::size_t shard_count)
    : max_bytes_(max_bytes), shards_(shard_count == 0 ? 1 : shard_count) {}

store::shard& store::shard_for(const cache_key& key) {
  std::uint64_t h;  // other digest bytes than the index hash uses
  std::memcpy(&h, key.digest.data() + 8, sizeof h);
  return shards_[h % shards_.size()];
}

std::shared_ptr<const entry> store::find(const cache_key& key) {
  auto& s = shard_for(key);
  std::lock_guard lock(s.mutex);
  auto it = s.index.find(key);
  if (it == s.index.end()) return nullptr;
  s.lru.splice(s.lru.begin(), s.lru, it->second);
  it->second->last_used = now_tick();
  return it->second->value;
}

bool store::insert(const cache_key& key, std::shared_ptr<const entry> e) {
  const auto bytes = charged_bytes(*e);
  auto& s = shard_for(key);
  {
    std::lock_guard lock(s.mutex);
    if (auto it = s.index.find(key); it != s.index.end()) erase_locked(s, it->second);
    if (bytes > max_bytes_) return false;
    s.lru.push_front(node{key, std::move(e), bytes, now_tick()});
    s.index.emplace(key, s.lru.begin());
    bytes_ += bytes;
  }
  evict_to_fit();
  return true;
}

void store::evict_to_fit() {
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

std::size_t store::erase_if(const std::function<bool(const entry&)>& pred) {
  std::size_t erased = 0;
  for (auto& s : shards_) {
    std::lock_guard lock(s.mutex);
    for (auto it = s.lru.begin(); it != s.lru.end();) {
      auto next = std::next(it);
      if (pred(*it->value)) {
        erase_locked(s, it);
        ++erased;
      }
      it = next;
    }
  }
  return erased;
}

store::statistics store::stats() const {
  statistics out;
  for (const auto& s : shards_) {
    std::lock_guard lock(s.mutex);
    out.entries += s.lru.size();
  }
  out.bytes = bytes_.load();
  out.max_bytes = max_bytes_;
  out.evictions = evictions_.load();
  return out;
}

void store::for_each(const std::function<void(const cache_key&, const entry&)>& visit) const {
  for (const auto& s : shards_) {
    std::lock_guard lock(s.mutex);
    for (const auto& n : s.lru) visit(n.key, *n.value);
  }
}

void store::erase_locked(shard& s, lru_list::iterator it) {
  bytes_ -= it->bytes;
  s.index.erase(it->key);
  s.lru.erase(it);
}

}  // namespace pcproxy::cache
