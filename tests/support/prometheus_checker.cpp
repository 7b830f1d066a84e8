#include "tests/support/prometheus_checker.hpp"

#include <algorithm>
#include <cmath>
#include <regex>
#include <set>
#include <sstream>

namespace pcproxy::testing {
namespace {

using label_list = std::vector<std::pair<std::string, std::string>>;

const std::regex metric_name("[a-zA-Z_:][a-zA-Z0-9_:]*");
const std::regex label_name("[a-zA-Z_][a-zA-Z0-9_]*");

std::string series_key(const std::string& name, label_list labels) {
  std::sort(labels.begin(), labels.end());
  std::string key = name + "{";
  for (std::size_t i = 0; i < labels.size(); ++i)
    key += (i ? "," : "") + labels[i].first + "=\"" + labels[i].second + "\"";
  return key + "}";
}

// Parses `{a="x",b="y"}` starting at text[at] == '{'; returns false on a syntax error.
bool parse_labels(const std::string& text, std::size_t& at, label_list& out, std::string& why) {
  ++at;  // '{'
  while (at < text.size() && text[at] != '}') {
    const auto eq = text.find('=', at);
    if (eq == std::string::npos) return why = "label without '='", false;
    const auto name = text.substr(at, eq - at);
    if (!std::regex_match(name, label_name)) return why = "bad label name '" + name + "'", false;
    at = eq + 1;
    if (at >= text.size() || text[at] != '"') return why = "label value not quoted", false;
    ++at;
    std::string value;
    while (at < text.size() && text[at] != '"') {
      if (text[at] == '\n') return why = "raw newline in a label value", false;
      if (text[at] == '\\') {
        if (at + 1 >= text.size()) return why = "dangling escape", false;
        const char e = text[at + 1];
        if (e == '\\') value += '\\';
        else if (e == '"') value += '"';
        else if (e == 'n') value += '\n';
        else return why = std::string("unknown escape \\") + e, false;
        at += 2;
        continue;
      }
      value += text[at++];
    }
    if (at >= text.size()) return why = "unterminated label value", false;
    ++at;  // closing quote
    out.emplace_back(name, value);
    if (at < text.size() && text[at] == ',') ++at;
  }
  if (at >= text.size()) return why = "unterminated label set", false;
  ++at;  // '}'
  return true;
}

bool parse_value(const std::string& s, double& v) {
  if (s == "+Inf") return v = INFINITY, true;
  if (s == "-Inf") return v = -INFINITY, true;
  if (s == "NaN") return v = NAN, true;
  try {
    std::size_t used = 0;
    v = std::stod(s, &used);
    return used == s.size();
  } catch (...) {
    return false;
  }
}

// The family a sample belongs to, given the TYPE lines seen.
std::string family_of(const std::string& name, const std::map<std::string, std::string>& types) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string s = suffix;
    if (name.size() > s.size() && name.ends_with(s)) {
      const auto base = name.substr(0, name.size() - s.size());
      if (auto it = types.find(base); it != types.end() && (it->second == "histogram" || it->second == "summary"))
        return base;
    }
  }
  return name;
}

}  // namespace

std::optional<double> scrape::value(const std::string& name, label_list labels) const {
  const auto it = samples.find(series_key(name, std::move(labels)));
  if (it == samples.end()) return std::nullopt;
  return it->second;
}

double scrape::sum(const std::string& name, label_list labels) const {
  double total = 0;
  const auto prefix = name + "{";
  for (const auto& [key, v] : samples) {
    if (!key.starts_with(prefix)) continue;
    bool all = true;
    for (const auto& [k, lv] : labels) all = all && key.find(k + "=\"" + lv + "\"") != std::string::npos;
    if (all) total += v;
  }
  return total;
}

scrape check_exposition(const std::string& text) {
  scrape out;
  std::istringstream in(text);
  std::set<std::string> helped, finished_families, seen_series;
  std::string current_family;
  std::map<std::string, std::vector<std::pair<double, double>>> buckets;  // family+labels -> (le, count)
  std::map<std::string, double> counts;
  int line_no = 0;
  auto error = [&](const std::string& what) { out.errors.push_back("line " + std::to_string(line_no) + ": " + what); };

  if (!text.empty() && text.back() != '\n') error("the text must end with a newline");
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (line.empty()) continue;
    if (line.starts_with("#")) {
      std::istringstream words(line);
      std::string hash, kind, name;
      words >> hash >> kind >> name;
      if (kind != "HELP" && kind != "TYPE") continue;  // a comment
      if (!std::regex_match(name, metric_name)) error("bad metric name '" + name + "'");
      if (kind == "HELP") {
        if (!helped.insert(name).second) error("second HELP for " + name);
      } else {
        std::string type;
        words >> type;
        static const std::set<std::string> types = {"counter", "gauge", "histogram", "summary", "untyped"};
        if (!types.count(type)) error("unknown type '" + type + "'");
        if (out.types.count(name)) error("second TYPE for " + name);
        if (finished_families.count(name) || seen_series.count(name)) error("TYPE for " + name + " after its samples");
        if (type == "counter" && !name.ends_with("_total")) error("counter " + name + " does not end in _total");
        out.types[name] = type;
      }
      continue;
    }
    // A sample: name[{labels}] value [timestamp]
    std::size_t at = 0;
    while (at < line.size() && line[at] != '{' && line[at] != ' ') ++at;
    const auto name = line.substr(0, at);
    if (!std::regex_match(name, metric_name)) {
      error("bad metric name '" + name + "'");
      continue;
    }
    label_list labels;
    std::string why;
    if (at < line.size() && line[at] == '{' && !parse_labels(line, at, labels, why)) {
      error(why);
      continue;
    }
    if (at >= line.size() || line[at] != ' ') {
      error("no value");
      continue;
    }
    std::istringstream rest(line.substr(at + 1));
    std::string value_text, timestamp;
    rest >> value_text >> timestamp;
    double value = 0;
    if (!parse_value(value_text, value)) error("bad value '" + value_text + "'");

    const auto family = family_of(name, out.types);
    if (!out.types.count(family)) error("sample of " + family + " without a TYPE line");
    if (family != current_family) {
      if (finished_families.count(family)) error("samples of " + family + " are not in one group");
      if (!current_family.empty()) finished_families.insert(current_family);
      current_family = family;
    }
    const auto key = series_key(name, labels);
    if (!seen_series.insert(key).second) error("duplicate series " + key);
    out.samples[key] = value;

    const auto type = out.types.count(family) ? out.types.at(family) : "";
    if (type == "histogram") {
      label_list without_le;
      std::optional<double> le;
      for (const auto& [k, v] : labels) {
        if (k == "le") {
          double bound = 0;
          if (!parse_value(v, bound)) error("bad le '" + v + "'");
          le = bound;
        } else {
          without_le.emplace_back(k, v);
        }
      }
      const auto group = series_key(family, without_le);
      if (name == family + "_bucket") {
        if (!le) error("bucket without le");
        else buckets[group].emplace_back(*le, value);
      } else if (name == family + "_count") {
        counts[group] = value;
      } else if (name != family + "_sum") {
        error("histogram " + family + " has a sample " + name);
      }
    } else if (type == "counter" && name != family) {
      error("counter sample " + name + " does not match its family " + family);
    }
  }
  for (const auto& [group, list] : buckets) {
    for (std::size_t i = 1; i < list.size(); ++i) {
      if (list[i].first <= list[i - 1].first) out.errors.push_back(group + ": le not increasing");
      if (list[i].second < list[i - 1].second) out.errors.push_back(group + ": buckets not cumulative");
    }
    if (list.empty() || !std::isinf(list.back().first)) out.errors.push_back(group + ": no +Inf bucket");
    else if (!counts.count(group) || counts.at(group) != list.back().second)
      out.errors.push_back(group + ": _count differs from the +Inf bucket");
  }
  return out;
}

}  // namespace pcproxy::testing
