// The collection converters: a page as upstream sends it (items, links.next with its
// uri and headers), turned into JSON, NDJSON and CSV; minified items and the next
// page's target. Items keep their bytes: the JSON output holds each one as sent.
#include "proxy/collection_format.hpp"
#include "tests/fuzz/fuzz_input.hpp"

using namespace pcproxy;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto body = fuzz::as_text(data, size);
  std::string why;
  const auto page = proxy::read_collection_page(body, why);
  if (!page) {
    fuzz::require(!why.empty());
    return 0;
  }
  if (page->next) {
    if (const auto target = proxy::next_target(page->next->uri)) fuzz::require(!target->empty() && target->front() == '/');
  }
  for (const auto format : {proxy::collection_format::json, proxy::collection_format::ndjson, proxy::collection_format::csv}) {
    proxy::collection_writer writer(format);
    std::string out = writer.begin();
    out += writer.page(page->items);
    out += writer.page(page->items);  // a second page: CSV's "extra" column for new leaves
    out += writer.end();
    fuzz::require(writer.items() == 2 * page->items.size());
    if (format == proxy::collection_format::json)
      for (const auto item : page->items) fuzz::require(out.find(item) != std::string::npos);
  }
  for (const auto item : page->items) {
    const auto small = proxy::minify_json(item);
    fuzz::require(small.size() <= item.size() && proxy::minify_json(small) == small);
  }
  return 0;
}
