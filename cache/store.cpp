#include "cache/store.hpp"

namespace pcproxy::cache {

std::size_t charged_bytes(const entry& e) noexcept {
  // The index node, the LRU node and the entry with its two shared_ptr control blocks;
  // allocation headers are rounded into the constant.
  static constexpr std::size_t overhead = sizeof(entry) + sizeof(cache_key) * 2 + 192;
  const auto len = [](const std::shared_ptr<const std::string>& s) { return s ? s->size() : 0; };
  return overhead + len(e.header_block) + len(e.body) + e.validator.size() + e.scope.size() +
         e.path.size() + e.route.size();
}

store::store(std::size_t max_bytes) : max_bytes_(max_bytes) {}

std::shared_ptr<const entry> store::find(const cache_key& key) {
  std::lock_guard lock(mutex_);
  auto it = index_.find(key);
  if (it == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->value;
}

bool store::insert(const cache_key& key, std::shared_ptr<const entry> e) {
  const auto bytes = charged_bytes(*e);
  std::lock_guard lock(mutex_);
  if (auto it = index_.find(key); it != index_.end()) erase_locked(it->second);
  if (bytes > max_bytes_) return false;
  while (bytes_ + bytes > max_bytes_ && !lru_.empty()) {
    erase_locked(std::prev(lru_.end()));
    ++evictions_;
  }
  lru_.push_front(node{key, std::move(e), bytes});
  index_.emplace(key, lru_.begin());
  bytes_ += bytes;
  return true;
}

std::size_t store::erase_if(const std::function<bool(const entry&)>& pred) {
  std::lock_guard lock(mutex_);
  std::size_t erased = 0;
  for (auto it = lru_.begin(); it != lru_.end();) {
    auto next = std::next(it);
    if (pred(*it->value)) {
      erase_locked(it);
      ++erased;
    }
    it = next;
  }
  return erased;
}

store::statistics store::stats() const {
  std::lock_guard lock(mutex_);
  return {lru_.size(), bytes_, max_bytes_, evictions_};
}

void store::for_each(const std::function<void(const entry&)>& visit) const {
  std::lock_guard lock(mutex_);
  for (const auto& n : lru_) visit(*n.value);
}

void store::erase_locked(lru_list::iterator it) {
  bytes_ -= it->bytes;
  index_.erase(it->key);
  lru_.erase(it);
}

}  // namespace pcproxy::cache
