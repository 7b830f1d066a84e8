#include "tests/support/page_walker.hpp"

#include <rapidjson/document.h>

#include <stdexcept>

namespace pcproxy::testing {

std::vector<std::string> walk_result::bodies() const {
  std::vector<std::string> out;
  for (const auto& p : pages) out.push_back(p.body);
  return out;
}

walk_result walk_pages(std::uint16_t port, const std::string& first_target, const header_list& headers,
                       std::size_t max_pages) {
  walk_result out;
  std::string target = first_target;
  header_list extra;
  while (out.pages.size() < max_pages) {
    header_list all = headers;
    all.insert(all.end(), extra.begin(), extra.end());
    auto page = http_get(port, target, all);
    if (page.status != 200)
      throw std::runtime_error("page " + std::to_string(out.pages.size()) + " answered " +
                               std::to_string(page.status) + ": " + page.body);
    std::string_view json = page.body;
    if (json.starts_with("\xEF\xBB\xBF")) json.remove_prefix(3);  // Partner Center may send a BOM
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    if (doc.HasParseError() || !doc.IsObject()) throw std::runtime_error("page is not JSON: " + page.body);
    out.pages.push_back(std::move(page));
    if (!doc.HasMember("links") || !doc["links"].HasMember("next")) break;
    const auto& next = doc["links"]["next"];
    target = next["uri"].GetString();
    extra.clear();
    for (const auto& h : next["headers"].GetArray())
      extra.emplace_back(h["key"].GetString(), h["value"].GetString());
  }
  return out;
}

}  // namespace pcproxy::testing
