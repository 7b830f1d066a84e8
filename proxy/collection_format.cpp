#include "proxy/collection_format.hpp"

#include <rapidjson/document.h>

namespace pcproxy::proxy {
namespace {

// Nesting deeper than this is not flattened into columns (it stays JSON text): a page
// cannot make the converter recurse without bound.
constexpr int max_flatten_depth = 32;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Byte positions in one JSON text, read without building anything.
struct scanner {
  std::string_view text;
  std::size_t pos = 0;

  void skip_space() {
    while (pos < text.size() && is_space(text[pos])) ++pos;
  }
  bool at(char c) {
    skip_space();
    return pos < text.size() && text[pos] == c;
  }
  // A string starting at pos (a '"'); pos ends after its closing quote.
  bool skip_string() {
    if (pos >= text.size() || text[pos] != '"') return false;
    for (++pos; pos < text.size(); ++pos) {
      if (text[pos] == '\\') {
        ++pos;
      } else if (text[pos] == '"') {
        ++pos;
        return true;
      }
    }
    return false;
  }
  // One value starting at pos (after spaces); its bytes are [start, pos).
  bool skip_value(std::size_t& start) {
    skip_space();
    start = pos;
    if (pos >= text.size()) return false;
    const char c = text[pos];
    if (c == '"') return skip_string();
    if (c == '{' || c == '[') {
      std::size_t depth = 0;
      while (pos < text.size()) {
        const char d = text[pos];
        if (d == '"') {
          if (!skip_string()) return false;
          continue;
        }
        if (d == '{' || d == '[') ++depth;
        if (d == '}' || d == ']') {
          if (--depth == 0) {
            ++pos;
            return true;
          }
        }
        ++pos;
      }
      return false;
    }
    // A number, true, false or null: up to the next structural character.
    while (pos < text.size() && !is_space(text[pos]) && text[pos] != ',' && text[pos] != '}' && text[pos] != ']')
      ++pos;
    return pos > start;
  }
};

// The members of the object in `text` (keys with their quotes, raw values).
std::optional<std::vector<std::pair<std::string_view, std::string_view>>> members_of(std::string_view text) {
  scanner s{text};
  std::vector<std::pair<std::string_view, std::string_view>> out;
  if (!s.at('{')) return std::nullopt;
  ++s.pos;
  if (s.at('}')) return out;
  for (;;) {
    s.skip_space();
    const auto key_start = s.pos;
    if (!s.skip_string()) return std::nullopt;
    const auto key = text.substr(key_start, s.pos - key_start);
    if (!s.at(':')) return std::nullopt;
    ++s.pos;
    std::size_t value_start = 0;
    if (!s.skip_value(value_start)) return std::nullopt;
    out.emplace_back(key, text.substr(value_start, s.pos - value_start));
    if (s.at(',')) {
      ++s.pos;
      continue;
    }
    if (s.at('}')) return out;
    return std::nullopt;
  }
}

std::optional<std::vector<std::string_view>> elements_of(std::string_view text) {
  scanner s{text};
  std::vector<std::string_view> out;
  if (!s.at('[')) return std::nullopt;
  ++s.pos;
  if (s.at(']')) return out;
  for (;;) {
    std::size_t start = 0;
    if (!s.skip_value(start)) return std::nullopt;
    out.push_back(text.substr(start, s.pos - start));
    if (s.at(',')) {
      ++s.pos;
      continue;
    }
    if (s.at(']')) return out;
    return std::nullopt;
  }
}

void append_utf8(std::string& out, unsigned cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::optional<unsigned> hex4(std::string_view s) {
  if (s.size() < 4) return std::nullopt;
  unsigned v = 0;
  for (char c : s.substr(0, 4)) {
    v <<= 4;
    if (c >= '0' && c <= '9') v |= static_cast<unsigned>(c - '0');
    else if (c >= 'a' && c <= 'f') v |= static_cast<unsigned>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= static_cast<unsigned>(c - 'A' + 10);
    else return std::nullopt;
  }
  return v;
}

// The text of a JSON string literal (with its quotes), escapes decoded.
std::string decode_string(std::string_view literal) {
  std::string out;
  const auto body = literal.substr(1, literal.size() >= 2 ? literal.size() - 2 : 0);
  for (std::size_t i = 0; i < body.size(); ++i) {
    if (body[i] != '\\' || i + 1 >= body.size()) {
      out += body[i];
      continue;
    }
    const char e = body[++i];
    switch (e) {
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        auto cp = hex4(body.substr(i + 1));
        if (!cp) {
          out += "\\u";
          break;
        }
        i += 4;
        if (*cp >= 0xD800 && *cp < 0xDC00 && body.substr(i + 1, 2) == "\\u") {
          if (const auto low = hex4(body.substr(i + 3)); low && *low >= 0xDC00 && *low < 0xE000) {
            *cp = 0x10000 + ((*cp - 0xD800) << 10) + (*low - 0xDC00);
            i += 6;
          }
        }
        append_utf8(out, *cp);
        break;
      }
      default: out += e; break;  // \" \\ \/
    }
  }
  return out;
}

struct leaf {
  std::string path;
  std::string_view raw;  // the value's JSON text
};

// The leaves of an object: nested objects become dotted paths; arrays, strings,
// numbers, booleans and null are leaves.
void flatten(std::string_view value, const std::string& prefix, int depth, std::vector<leaf>& out) {
  const auto members = depth < max_flatten_depth && !value.empty() && value.front() == '{' ? members_of(value)
                                                                                          : std::nullopt;
  if (!members) {
    if (!prefix.empty()) out.push_back({prefix, value});
    return;
  }
  for (const auto& [key, v] : *members) {
    const auto name = decode_string(key);
    flatten(v, prefix.empty() ? name : prefix + "." + name, depth + 1, out);
  }
}

// A leaf as a CSV cell's text.
std::string cell_text(std::string_view raw) {
  if (raw.empty()) return {};
  if (raw.front() == '"') return decode_string(raw);
  if (raw == "null") return {};
  if (raw.front() == '[' || raw.front() == '{') return minify_json(raw);
  return std::string(raw);  // numbers as their literal text; true, false
}

void append_cell(std::string& row, std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) {
    row += text;
    return;
  }
  row += '"';
  for (char c : text) {
    if (c == '"') row += '"';
    row += c;
  }
  row += '"';
}

std::string quoted_json(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      static constexpr char digits[] = "0123456789abcdef";
      out += "\\u00";
      out += digits[static_cast<unsigned char>(c) >> 4];
      out += digits[c & 0xF];
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string_view strip_bom(std::string_view body) {
  if (body.starts_with("\xEF\xBB\xBF")) body.remove_prefix(3);
  return body;
}

}  // namespace

std::optional<collection_page> read_collection_page(std::string_view body, std::string& why) {
  const auto members = members_of(strip_bom(body));
  if (!members) {
    why = "the page is not a JSON object";
    return std::nullopt;
  }
  collection_page page;
  bool has_items = false;
  for (const auto& [key, value] : *members) {
    if (key == "\"items\"") {
      auto items = elements_of(value);
      if (!items) {
        why = "its \"items\" is not an array";
        return std::nullopt;
      }
      page.items = std::move(*items);
      has_items = true;
    } else if (key == "\"links\"") {
      // Small: read with a document. links.next.uri, links.next.headers [{key, value}].
      rapidjson::Document links;
      links.Parse(value.data(), value.size());
      if (links.HasParseError() || !links.IsObject()) continue;
      const auto next = links.FindMember("next");
      if (next == links.MemberEnd() || !next->value.IsObject()) continue;
      const auto uri = next->value.FindMember("uri");
      if (uri == next->value.MemberEnd() || !uri->value.IsString()) continue;
      collection_link link;
      link.uri.assign(uri->value.GetString(), uri->value.GetStringLength());
      if (const auto headers = next->value.FindMember("headers");
          headers != next->value.MemberEnd() && headers->value.IsArray()) {
        for (const auto& h : headers->value.GetArray()) {
          if (!h.IsObject()) continue;
          const auto k = h.FindMember("key");
          const auto v = h.FindMember("value");
          if (k == h.MemberEnd() || v == h.MemberEnd() || !k->value.IsString() || !v->value.IsString()) continue;
          link.headers.emplace_back(std::string(k->value.GetString(), k->value.GetStringLength()),
                                    std::string(v->value.GetString(), v->value.GetStringLength()));
        }
      }
      page.next = std::move(link);
    }
  }
  if (!has_items) {
    why = "it has no \"items\" array";
    return std::nullopt;
  }
  return page;
}

std::string minify_json(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '"') {
      scanner s{value, i};
      const bool closed = s.skip_string();
      out.append(value.substr(i, s.pos - i));
      if (!closed) break;
      i = s.pos - 1;
    } else if (!is_space(c)) {
      out += c;
    }
  }
  return out;
}

std::optional<std::string> next_target(std::string_view uri) {
  if (uri.empty()) return std::nullopt;
  if (const auto scheme = uri.find("://"); scheme != std::string_view::npos && scheme < uri.find('/')) {
    const auto path = uri.find('/', scheme + 3);
    uri = path == std::string_view::npos ? std::string_view("/") : uri.substr(path);
  }
  if (uri.find_first_of(" \r\n\t#") != std::string_view::npos) return std::nullopt;
  if (uri.starts_with("/v1/") || uri == "/v1" || uri.starts_with("/v1?")) return std::string(uri);
  if (uri.starts_with('/')) return "/v1" + std::string(uri);
  return "/v1/" + std::string(uri);
}

const char* content_type(collection_format f) noexcept {
  switch (f) {
    case collection_format::json: return "application/json; charset=utf-8";
    case collection_format::ndjson: return "application/x-ndjson";
    case collection_format::csv: return "text/csv; charset=utf-8; header=present";
  }
  return "application/json; charset=utf-8";
}

collection_writer::collection_writer(collection_format format) : format_(format) {}

std::string collection_writer::begin() { return format_ == collection_format::json ? "{\"items\":[" : ""; }

std::string collection_writer::page(const std::vector<std::string_view>& items) {
  std::string out;
  if (format_ == collection_format::csv && !header_written_) {
    // The columns: every leaf of the first page, in order of first appearance.
    for (const auto& item : items) {
      std::vector<leaf> leaves;
      flatten(item, "", 0, leaves);
      for (auto& l : leaves)
        if (column_index_.emplace(l.path, columns_.size()).second) columns_.push_back(std::move(l.path));
    }
    for (const auto& c : columns_) {
      append_cell(out, c);
      out += ',';
    }
    out += "extra\r\n";
    header_written_ = true;
  }
  for (const auto& item : items) {
    switch (format_) {
      case collection_format::json:
        if (items_ > 0) out += ',';
        out += item;  // exactly as upstream sent it
        break;
      case collection_format::ndjson:
        out += minify_json(item);
        out += '\n';
        break;
      case collection_format::csv: out += csv_row(item); break;
    }
    ++items_;
  }
  return out;
}

std::string collection_writer::csv_row(std::string_view item) {
  std::vector<leaf> leaves;
  flatten(item, "", 0, leaves);
  std::vector<std::string> cells(columns_.size());
  std::string extra;
  for (const auto& l : leaves) {
    if (const auto it = column_index_.find(l.path); it != column_index_.end()) {
      cells[it->second] = cell_text(l.raw);
    } else {
      extra += extra.empty() ? "{" : ",";
      extra += quoted_json(l.path);
      extra += ':';
      extra += minify_json(l.raw);
    }
  }
  if (!extra.empty()) extra += '}';
  std::string row;
  for (const auto& c : cells) {
    append_cell(row, c);
    row += ',';
  }
  append_cell(row, extra);
  row += "\r\n";
  return row;
}

std::string collection_writer::end() {
  if (format_ == collection_format::json)
    return "],\"totalCount\":" + std::to_string(items_) + ",\"attributes\":{\"objectType\":\"Collection\"}}";
  if (format_ == collection_format::csv && !header_written_) return "extra\r\n";  // an empty collection
  return {};
}

}  // namespace pcproxy::proxy
