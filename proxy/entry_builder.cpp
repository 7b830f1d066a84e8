#include "proxy/entry_builder.hpp"

#include "upstream/headers.hpp"

#include <boost/beast/core/string.hpp>

namespace pcproxy::proxy {

namespace http = beast::http;

namespace {

// Response fields that belong to one exchange and are never stored or relayed. (Age is
// read by the freshness rules first: the builder drops it, pcproxy sends its own.)
bool per_exchange_response_field(std::string_view name) {
  for (std::string_view n : {"ms-correlationid", "ms-requestid", "ms-cv", "set-cookie", "x-cache", "cache-status"})
    if (beast::iequals(name, n)) return true;
  return false;
}

}  // namespace

entry_builder::entry_builder(const config::config& settings)
    : upstream_base_url_(settings.upstream.url.base_url), public_base_url_(settings.public_base_url) {}

cache::header_list end_to_end_headers(const http::fields& fields) {
  http::fields kept;
  upstream::copy_end_to_end(fields, kept, per_exchange_response_field);
  cache::header_list out;
  for (const auto& f : kept) out.push_back({std::string(f.name_string()), std::string(f.value())});
  return out;
}

std::shared_ptr<cache::entry> entry_builder::build(unsigned status, cache::header_list headers, std::string body,
                                                   context ctx) const {
  auto e = std::make_shared<cache::entry>();
  e->status = status;
  cache::drop_field(headers, "Age");
  if (!ctx.validator.empty() && !cache::find_header(headers, "ETag")) headers.push_back({"ETag", ctx.validator});
  e->header_block = cache::header_block(headers);
  e->body = rewrite_links(std::move(body));
  e->validator = std::move(ctx.validator);
  e->stored_at = ctx.now;
  e->revalidated_at = ctx.now;
  e->initial_age = ctx.initial_age;
  e->rules = ctx.rules;
  e->scope = std::move(ctx.scope);
  e->path = std::move(ctx.path);
  e->route = std::move(ctx.route);
  return e;
}

std::shared_ptr<const std::string> entry_builder::rewrite_links(std::string body) const {
  // Links are relative in practice; an absolute one to the upstream origin would take a
  // client around the proxy, so it is pointed at public_base_url. No other byte changes.
  if (!public_base_url_.empty() && !upstream_base_url_.empty()) {
    const auto json_escaped = [](const std::string& url) {
      std::string out;  // the spelling JSON allows for '/': "https:\/\/host"
      for (char ch : url) {
        if (ch == '/') out += '\\';
        out += ch;
      }
      return out;
    };
    for (const auto& [from, to] : {std::pair{upstream_base_url_, public_base_url_},
                                   std::pair{json_escaped(upstream_base_url_), json_escaped(public_base_url_)}}) {
      for (auto at = body.find(from); at != std::string::npos; at = body.find(from, at + to.size()))
        body.replace(at, from.size(), to);
    }
  }
  return std::make_shared<const std::string>(std::move(body));
}

}  // namespace pcproxy::proxy
