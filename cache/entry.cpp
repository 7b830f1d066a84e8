#include "cache/entry.hpp"

#include "cache/key.hpp"
#include "core/text.hpp"

#include <algorithm>

namespace pcproxy::cache {

const std::string* find_header(const header_list& headers, std::string_view name) noexcept {
  for (const auto& h : headers)
    if (core::iequals(h.name, name)) return &h.value;
  return nullptr;
}

void seal(entry& e) {
  std::size_t size = 0;
  for (const auto& h : e.headers) size += h.name.size() + h.value.size() + 4;
  std::string block;
  block.reserve(size);
  for (const auto& h : e.headers) {
    block += h.name;
    block += ": ";
    block += h.value;
    block += "\r\n";
  }
  e.header_block = std::make_shared<const std::string>(std::move(block));
}

std::size_t charged_bytes(const entry& e) noexcept {
  // The index node, the LRU node and the entry with its shared_ptr control blocks;
  // allocation headers are rounded into the constant.
  static constexpr std::size_t overhead = sizeof(entry) + sizeof(cache_key) * 2 + 192;
  const auto len = [](const std::shared_ptr<const std::string>& s) { return s ? s->size() : 0; };
  std::size_t headers = e.headers.capacity() * sizeof(header);
  for (const auto& h : e.headers) headers += h.name.size() + h.value.size();
  return overhead + headers + len(e.header_block) + len(e.body) + e.validator.size() + e.scope.size() +
         e.path.size() + e.route.size();
}

core::sys_time retention_end(const entry& e) noexcept {
  return e.revalidated_at + e.rules.ttl + std::max(e.rules.stale_while_revalidate, e.rules.stale_if_error);
}

}  // namespace pcproxy::cache
