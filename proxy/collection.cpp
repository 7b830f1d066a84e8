#include "proxy/collection.hpp"

#include "cache/entry.hpp"
#include "cache/key.hpp"
#include "cache/validator.hpp"
#include "core/json_text.hpp"
#include "core/log.hpp"
#include "core/sha256.hpp"
#include "core/text.hpp"
#include "core/wakeup.hpp"
#include "proxy/collection_format.hpp"
#include "upstream/correlation.hpp"

#include <boost/beast/core/string.hpp>

#include <mutex>
#include <set>

namespace pcproxy::proxy {

namespace http = beast::http;
using steady = std::chrono::steady_clock;

namespace {

const std::shared_ptr<spdlog::logger>& log() {
  static const auto l = core::logger("collection");
  return l;
}

// Fields a page request does not take from the collection request: conditions the
// collection answers itself, and what each page sets on its own.
bool dropped_for_pages(std::string_view name) {
  for (std::string_view n : {"if-none-match", "if-modified-since", "if-match", "if-unmodified-since", "if-range",
                             "range", "ms-continuationtoken", "ms-requestid", "ms-cv"})
    if (beast::iequals(name, n)) return true;
  return false;
}

// Fields a links.next may not set on the next page request.
bool refused_from_links(std::string_view name) {
  for (std::string_view n : {"authorization", "host", "connection", "content-length", "transfer-encoding",
                             "upgrade", "te", "trailer", "keep-alive", "proxy-authorization"})
    if (beast::iequals(name, n)) return true;
  return false;
}

struct parsed_target {
  std::string page_target;  // what the first page is asked as
  std::optional<std::string> format;
};

// "/pcproxy/collection/v1/x?format=csv&size=5" -> "/v1/x?size=5" and "csv": every
// other query parameter stays exactly as the client wrote it.
parsed_target split_target(std::string_view target) {
  target.remove_prefix(collection_prefix.size() - 1);  // keep the path's leading '/'
  const auto question = target.find('?');
  parsed_target out;
  out.page_target = std::string(target.substr(0, question));
  if (question == std::string_view::npos) return out;
  std::string rest;
  for (auto query = target.substr(question + 1); !query.empty();) {
    const auto amp = query.find('&');
    const auto piece = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const auto eq = piece.find('=');
    if (cache::percent_decode(piece.substr(0, eq)) == "format") {
      out.format = cache::percent_decode(eq == std::string_view::npos ? std::string_view{} : piece.substr(eq + 1));
      continue;
    }
    if (!rest.empty()) rest += '&';
    rest += piece;
  }
  if (!rest.empty()) out.page_target += "?" + rest;
  return out;
}

std::optional<collection_format> format_named(std::string_view name) {
  if (name == "json") return collection_format::json;
  if (name == "ndjson") return collection_format::ndjson;
  if (name == "csv") return collection_format::csv;
  return std::nullopt;
}

// The format an Accept asks for, if it names ours.
std::optional<collection_format> format_accepted(std::string_view accept) {
  if (accept.find("application/x-ndjson") != std::string_view::npos) return collection_format::ndjson;
  if (accept.find("text/csv") != std::string_view::npos) return collection_format::csv;
  return std::nullopt;
}

// What identifies a page request in one walk (a link back to an earlier page is a loop).
std::string page_identity(const server::request& req) {
  return core::to_hex(core::sha256(std::string(req.target()) + '\n' + std::string(req["MS-ContinuationToken"])), 16);
}

struct fetched_page {
  page_source::page page;
  std::optional<collection_page> parsed;
  std::string why;  // when not usable
};

// A page fetched ahead: set once by the fetch, awaited once by the stream.
class page_slot {
public:
  void set(fetched_page p) {
    std::vector<std::shared_ptr<core::wakeup>> waiting;
    {
      std::lock_guard lock(mutex_);
      result_ = std::move(p);
      waiting.swap(waiters_);
    }
    for (auto& w : waiting) w->wake();
  }

  awaitable<fetched_page> get() {
    auto woken = core::wakeup::on(co_await net::this_coro::executor);
    bool ready = false;
    {
      std::lock_guard lock(mutex_);
      ready = result_.has_value();
      if (!ready) waiters_.push_back(woken);
    }
    if (!ready) co_await woken->wait_until(steady::time_point::max());
    std::lock_guard lock(mutex_);
    co_return std::move(*result_);
  }

private:
  std::mutex mutex_;
  std::optional<fetched_page> result_;
  std::vector<std::shared_ptr<core::wakeup>> waiters_;
};

fetched_page checked(page_source::page page) {
  fetched_page out{std::move(page), std::nullopt, {}};
  const auto& res = out.page.response;
  if (res.status != 200) {
    out.why = "a page answered " + std::to_string(res.status);
    return out;
  }
  out.parsed = read_collection_page(res.body ? std::string_view(*res.body) : std::string_view{}, out.why);
  if (!out.parsed) out.why = "a page is not a Partner Center collection: " + out.why;
  return out;
}

class collection_stream final : public server::body_stream, public std::enable_shared_from_this<collection_stream> {
public:
  collection_stream(std::shared_ptr<page_source> pages, server::request first, const server::request_info& info,
                    collection_settings settings, collection_format format, fetched_page first_page,
                    std::string correlation_id)
      : pages_(std::move(pages)),
        request_(std::move(first)),
        info_(info),
        settings_(settings),
        format_(format),
        writer_(format),
        first_(std::move(first_page)),
        correlation_id_(std::move(correlation_id)),
        path_("/pcproxy/collection" + std::string(request_.target().substr(0, request_.target().find('?')))),
        started_at_(steady::now()) {
    visited_.insert(page_identity(request_));
  }

  ~collection_stream() override {
    if (!outcome_) finish("incomplete: the client went away");
  }

  awaitable<piece> next() override {
    if (outcome_) co_return piece{{}, piece::state::failed};
    fetched_page page;
    std::string out;
    if (!started_) {
      started_ = true;
      page = std::move(*first_);
      first_.reset();
      out = writer_.begin();
    } else if (next_) {
      auto slot = std::move(next_);
      page = co_await slot->get();
      if (!page.parsed) co_return fail(page.why);
    } else {
      out = writer_.end();
      finish("complete");
      co_return piece{std::move(out), piece::state::end};
    }
    count(page);
    out += writer_.page(page.parsed->items);
    if (writer_.items() > static_cast<std::size_t>(settings_.max_items))
      co_return fail("more than limits.max_collection_items (" + std::to_string(settings_.max_items) + ") items");
    if (page.parsed->next) {
      auto next = next_page_request(request_, *page.parsed->next);
      if (!next) co_return fail("links.next.uri \"" + page.parsed->next->uri + "\" is not a path pcproxy can follow");
      if (!visited_.insert(page_identity(*next)).second) co_return fail("links.next leads back to an earlier page");
      request_ = std::move(*next);
      next_ = std::make_shared<page_slot>();
      // One ahead: the next page is fetched while this one is being sent.
      const auto executor = co_await net::this_coro::executor;
      net::co_spawn(executor, fetch_into(next_, request_), net::detached);
    }
    co_return piece{std::move(out), piece::state::more};
  }

  std::string trailer_names() const override { return "Pcproxy-Collection"; }
  std::string trailers() override { return "Pcproxy-Collection: " + summary() + "\r\n"; }

private:
  awaitable<void> fetch_into(std::shared_ptr<page_slot> slot, server::request req) {
    auto self = shared_from_this();
    auto page = co_await pages_->serve_page(req, info_);
    slot->set(checked(std::move(page)));
  }

  void count(const fetched_page& page) {
    ++pages_seen_;
    if (page.page.label == cache_result::miss || page.page.label == cache_result::revalidated) ++fetched_;
    else ++hits_;
  }

  std::string summary() const {
    return "pages=" + std::to_string(pages_seen_) + "; items=" + std::to_string(writer_.items()) +
           "; hits=" + std::to_string(hits_) + "; fetched=" + std::to_string(fetched_);
  }

  piece fail(const std::string& why) {
    finish("incomplete: " + why);
    return piece{{}, piece::state::failed};
  }

  // One line per collection: how it went, for the access log (and a warning when cut off).
  void finish(std::string outcome) {
    outcome_ = std::move(outcome);
    const auto ms = std::chrono::duration<double, std::milli>(steady::now() - started_at_).count();
    if (!outcome_->starts_with("complete"))
      log()->warn("collection {} cut off after {} ({}); MS-CorrelationId={}", path(), summary(), *outcome_,
                  correlation_id_);
    if (!settings_.access_log) return;
    static const auto access = core::logger("access");
    if (!settings_.json_log) {
      access->info("GET {} collection {} {} {:.3f}ms {} MS-CorrelationId={}", path(), to_name(), summary(), ms,
                   *outcome_, correlation_id_);
      return;
    }
    std::string line = "\"method\":\"GET\",\"path\":";
    core::append_json_string(line, path());
    line += ",\"status\":200,\"collection\":{\"format\":\"" + std::string(to_name()) + "\",\"pages\":" +
            std::to_string(pages_seen_) + ",\"items\":" + std::to_string(writer_.items()) +
            ",\"hits\":" + std::to_string(hits_) + ",\"fetched\":" + std::to_string(fetched_) + ",\"outcome\":";
    core::append_json_string(line, *outcome_);
    line += "},\"duration_ms\":" + fmt::format("{:.3f}", ms) + ",\"correlation_id\":";
    core::append_json_string(line, correlation_id_);
    line += ",\"client\":";
    core::append_json_string(line, info_.peer.address().to_string() + ":" + std::to_string(info_.peer.port()));
    access->info("{}", line);
  }

  const std::string& path() const { return path_; }
  const char* to_name() const {
    return format_ == collection_format::csv ? "csv" : format_ == collection_format::ndjson ? "ndjson" : "json";
  }

  const std::shared_ptr<page_source> pages_;
  server::request request_;  // the latest page's request: the next is made from it
  const server::request_info info_;
  const collection_settings settings_;
  const collection_format format_;
  collection_writer writer_;
  std::optional<fetched_page> first_;
  std::shared_ptr<page_slot> next_;
  std::set<std::string> visited_;
  const std::string correlation_id_;
  const std::string path_;  // for logs: the collection's path, no query
  const steady::time_point started_at_;
  bool started_ = false;
  std::optional<std::string> outcome_;
  std::size_t pages_seen_ = 0, hits_ = 0, fetched_ = 0;
};

// The ETag of the whole collection, when every page is fresh in the cache: the pages'
// validators in order (and the format: another format is another representation).
awaitable<std::optional<std::string>> collection_etag(page_source& pages, server::request req,
                                                      collection_format format) {
  std::string validators = std::to_string(static_cast<int>(format));
  std::set<std::string> visited{page_identity(req)};
  for (;;) {
    auto cached = co_await pages.fresh_page(req);
    if (!cached || cached->validator.empty()) co_return std::nullopt;
    validators += '\n';
    validators += cached->validator;
    std::string why;
    const auto page = read_collection_page(*cached->body, why);
    if (!page) co_return std::nullopt;
    if (!page->next) break;
    auto next = next_page_request(req, *page->next);
    if (!next || !visited.insert(page_identity(*next)).second) co_return std::nullopt;
    req = std::move(*next);
  }
  co_return "\"pcc-" + core::to_hex(core::sha256(validators), 16) + "\"";
}

}  // namespace

std::optional<server::request> next_page_request(const server::request& previous, const collection_link& link) {
  const auto target = next_target(link.uri);
  if (!target) return std::nullopt;
  server::request next = previous;
  next.target(*target);
  next.erase("MS-ContinuationToken");
  for (const auto& [name, value] : link.headers) {
    if (refused_from_links(name) || !cache::valid_field_name(name) || !cache::valid_field_value(value)) continue;
    next.set(name, value);
  }
  return next;
}

awaitable<server::response> serve_collection(std::shared_ptr<page_source> pages, const server::request& req,
                                             const server::request_info& info, collection_settings settings) {
  upstream::correlation none;
  if (req.method() != http::verb::get) {
    auto res = error_response(405, core::error_code_number::method_not_allowed,
                              "the collection endpoint takes GET", none);
    res.fields.set(http::field::allow, "GET");
    co_return res;
  }
  const auto target = split_target(req.target());
  const auto accepted = format_accepted(req[http::field::accept]);
  auto format = target.format ? format_named(*target.format) : accepted.value_or(collection_format::json);
  if (!format)
    co_return error_response(400, core::error_code_number::bad_request,
                             "format=" + *target.format + " is not json, ndjson or csv", none);
  if (target.page_target.size() <= 1)
    co_return error_response(400, core::error_code_number::bad_request,
                             "name the collection after /pcproxy/collection/, e.g. "
                             "/pcproxy/collection/v1/customers/usagerecords",
                             none);

  // The first page is asked as a direct request would be; one correlation id for the walk.
  server::request first = req;
  first.target(target.page_target);
  for (auto it = first.begin(); it != first.end();) it = dropped_for_pages(it->name_string()) ? first.erase(it) : std::next(it);
  if (accepted) first.set(http::field::accept, "application/json");
  const auto correlation_id =
      upstream::correlation_for_request(req["MS-CorrelationId"], {}, {}, upstream::id_random()).correlation_id;
  first.set("MS-CorrelationId", correlation_id);

  auto etag = co_await collection_etag(*pages, first, *format);
  if (etag && cache::if_none_match_matches(req[http::field::if_none_match], *etag)) {
    server::response res;
    res.status = 304;
    res.fields.set(http::field::etag, *etag);
    res.fields.set("MS-CorrelationId", correlation_id);
    co_return res;
  }

  auto served = co_await pages->serve_page(first, info);
  auto page = checked(std::move(served));
  if (page.page.response.status != 200) co_return std::move(page.page.response);  // the first page's own answer
  if (!page.parsed) {
    upstream::correlation ids;
    ids.correlation_id = correlation_id;
    co_return error_response(502, core::error_code_number::bad_gateway,
                             page.why + "; /pcproxy/collection/ walks Partner Center collections (items and "
                                        "links.next)",
                             ids);
  }

  server::response res;
  res.status = 200;
  res.fields.set(http::field::content_type, content_type(*format));
  res.fields.set("MS-CorrelationId", correlation_id);
  if (etag) res.fields.set(http::field::etag, *etag);
  res.stream = std::make_shared<collection_stream>(std::move(pages), std::move(first), info, settings, *format,
                                                   std::move(page), correlation_id);
  co_return res;
}

}  // namespace pcproxy::proxy
