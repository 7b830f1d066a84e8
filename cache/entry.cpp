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

std::shared_ptr<const std::string> header_block(const header_list& headers) {
  std::size_t size = 0;
  for (const auto& h : headers) size += h.name.size() + h.value.size() + 4;
  std::string block;
  block.reserve(size);
  for (const auto& h : headers) {
    block += h.name;
    block += ": ";
    block += h.value;
    block += "\r\n";
  }
  return std::make_shared<const std::string>(std::move(block));
}

header_list headers(const entry& e) {
  header_list out;
  std::string_view rest = e.header_block ? std::string_view(*e.header_block) : std::string_view{};
  while (!rest.empty()) {
    const auto end = rest.find("\r\n");
    const auto line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 2);
    const auto colon = line.find(": ");
    if (colon == std::string_view::npos) continue;
    out.push_back({std::string(line.substr(0, colon)), std::string(line.substr(colon + 2))});
  }
  return out;
}

bool valid_field_name(std::string_view name) noexcept {
  constexpr std::string_view token_punctuation = "!#$%&'*+-.^_`|~";
  if (name.empty()) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          token_punctuation.find(c) != std::string_view::npos))
      return false;
  return true;
}

bool valid_field_value(std::string_view value) noexcept {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

void drop_field(header_list& headers, std::string_view name) {
  std::erase_if(headers, [&](const header& h) { return core::iequals(h.name, name); });
}

std::size_t charged_bytes(const entry& e) noexcept {
  // The index node, the LRU node and the entry with its shared_ptr control blocks;
  // allocation headers are rounded into the constant.
  static constexpr std::size_t overhead = sizeof(entry) + sizeof(cache_key) * 2 + 192;
  const auto len = [](const std::shared_ptr<const std::string>& s) { return s ? s->size() : 0; };
  std::size_t vary = 0;
  for (const auto& h : e.vary) vary += h.name.size() + h.value.size() + sizeof(header);
  return overhead + len(e.header_block) + len(e.body) + e.validator.size() + e.scope.size() +
         e.path.size() + e.route.size() + vary;
}

core::sys_time retention_end(const entry& e) noexcept {
  return e.revalidated_at - e.initial_age + e.rules.ttl +
         std::max(e.rules.stale_while_revalidate, e.rules.stale_if_error);
}

}  // namespace pcproxy::cache
