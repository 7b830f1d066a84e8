#include "tiers/shared_tier.hpp"

#include "core/log.hpp"
#include "core/log_limiter.hpp"
#include "core/sha256.hpp"
#include "core/text.hpp"
#include "core/wakeup.hpp"

#include <openssl/rand.h>

namespace pcproxy::tiers {

using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

const std::shared_ptr<spdlog::logger>& log() {
  static const auto l = core::logger("shared");
  return l;
}

std::string new_instance_id() {
  std::array<unsigned char, 8> bytes{};
  RAND_bytes(bytes.data(), static_cast<int>(bytes.size()));
  return core::to_hex(bytes);
}

cache::tier_failure failure_of(const redis_result& r) {
  switch (r.failure) {
    case redis_failure::none: return cache::tier_failure::none;
    case redis_failure::unavailable: return cache::tier_failure::unavailable;
    case redis_failure::timeout: return cache::tier_failure::timeout;
    case redis_failure::io:
    case redis_failure::refused: break;
  }
  return cache::tier_failure::io;
}

// A purge filter in an announcement: one line per field, "-" unset or "=" and the value.
std::string encode_filter(const cache::purge_filter& f) {
  std::string out;
  for (const auto* field : {&f.scope, &f.path_prefix, &f.path}) {
    out += *field ? "=" + **field : std::string("-");
    out += '\n';
  }
  return out;
}

std::optional<cache::purge_filter> decode_filter(std::string_view text) {
  cache::purge_filter f;
  for (auto* field : {&f.scope, &f.path_prefix, &f.path}) {
    const auto end = text.find('\n');
    if (end == std::string_view::npos) return std::nullopt;
    const auto line = text.substr(0, end);
    text.remove_prefix(end + 1);
    if (line.starts_with('=')) *field = std::string(line.substr(1));
    else if (line != "-") return std::nullopt;
  }
  return f;
}

// Whether a page of `path` falls under the filter's path conditions (its scope is
// already chosen).
bool path_matches(const cache::purge_filter& f, std::string_view path) {
  return (!f.path_prefix || path.starts_with(*f.path_prefix)) && (!f.path || path == *f.path);
}

constexpr std::string_view release_script =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

core::log_limiter& decode_log() {
  static core::log_limiter limiter;
  return limiter;
}

}  // namespace

shared_tier::shared_tier(net::any_io_executor executor, shared_settings settings,
                         std::shared_ptr<const core::clock> clock)
    : settings_(std::move(settings)),
      clock_(std::move(clock)),
      codec_(settings_.encryption),
      instance_(new_instance_id()),
      executor_(executor),
      redis_(std::make_shared<redis_client>(executor, settings_.redis)) {}

shared_tier::~shared_tier() { close(); }

void shared_tier::start(std::weak_ptr<cache::fleet_events> events) {
  events_ = std::move(events);
  // The subscription's loop may outlive this tier by a message or two: it asks first.
  subscriber_ = std::make_unique<redis_subscriber>(
      executor_, settings_.redis, std::vector<std::string>{settings_.key_prefix + "events"},
      [weak = weak_from_this()](const std::string&, const std::string& message) {
        if (auto self = weak.lock()) self->on_message(message);
      });
  subscriber_->start();
  log()->info("shared tier at {}{}: keys under \"{}\", instance {}", config::to_string(settings_.redis.url),
              codec_.encrypts() ? ", encrypted" : "", settings_.key_prefix, instance_);
}

void shared_tier::close() {
  if (subscriber_) subscriber_->close();
  redis_->close();
}

std::string shared_tier::key(std::string_view kind, const cache::cache_key& k) const {
  return settings_.key_prefix + std::string(kind) + ":" + core::to_hex(k.digest);
}

awaitable<cache::lookup_result> shared_tier::lookup(const cache::cache_key& k) {
  std::vector<std::string> command = {"GET", key("e", k)};
  auto r = co_await redis_->command(std::move(command));
  if (!r.ok() || r.reply.kind != redis_reply::type::string) {
    ++misses_;
    co_return cache::lookup_result{nullptr, failure_of(r)};
  }
  auto decoded = codec_.decode(k, r.reply.text);
  if (!decoded.value) {
    // Written by another version, with another key, or by someone else: never served.
    ++misses_;
    ++errors_;
    std::uint64_t suppressed = 0;
    if (decode_log().allow(suppressed))
      log()->warn("shared tier: a page failed its checks ({}) and was treated as a miss ({} more not logged); is "
                  "every instance on the same encryption key and version?",
                  cache::to_string(decoded.error), suppressed);
    co_return cache::lookup_result{nullptr, cache::tier_failure::corrupt};
  }
  if (clock_->now() >= cache::retention_end(*decoded.value)) {
    ++misses_;
    co_return cache::lookup_result{};
  }
  ++hits_;
  co_return cache::lookup_result{std::move(decoded.value), cache::tier_failure::none};
}

awaitable<cache::tier_failure> shared_tier::insert(const cache::cache_key& k, std::shared_ptr<const cache::entry> e) {
  const auto left = cache::retention_end(*e) - clock_->now();
  if (left <= decltype(left)::zero()) co_return cache::tier_failure::none;  // nothing left to share
  if (!redis_->up()) {  // the breaker is open: not even the encoding is spent
    ++dropped_;
    co_return cache::tier_failure::unavailable;
  }
  const auto ms = std::to_string(std::max<long long>(1, std::chrono::ceil<milliseconds>(left).count()));
  const auto index = settings_.key_prefix + "i:" + e->scope;
  // In order on one connection, before any release() of the page's lease.
  if (!redis_->send({"SET", key("e", k), codec_.encode(k, *e), "PX", ms})) {
    ++dropped_;
    co_return cache::tier_failure::busy;
  }
  redis_->send({"HSET", index, core::to_hex(k.digest), e->path});
  redis_->send({"PEXPIRE", index, ms});
  redis_->send({"SADD", settings_.key_prefix + "scopes", e->scope});
  ++writes_;
  co_return cache::tier_failure::none;
}

awaitable<cache::purge_result> shared_tier::purge(cache::purge_filter filter) {
  std::vector<std::string> scopes;
  if (filter.scope) {
    scopes.push_back(*filter.scope);
  } else {
    std::vector<std::string> command = {"SMEMBERS", settings_.key_prefix + "scopes"};
    auto members = co_await redis_->command(std::move(command));
    if (!members.ok()) co_return cache::purge_result{0, failure_of(members)};
    for (const auto& m : members.reply.elements) scopes.push_back(m.text);
  }
  std::size_t purged = 0;
  const bool whole_scope = !filter.path_prefix && !filter.path;
  for (const auto& scope : scopes) {
    const auto index = settings_.key_prefix + "i:" + scope;
    std::vector<std::string> command = {"HGETALL", index};
    auto pages = co_await redis_->command(std::move(command));
    if (!pages.ok()) co_return cache::purge_result{purged, failure_of(pages)};
    std::vector<std::string> entries = {"DEL"};
    std::vector<std::string> fields = {"HDEL", index};
    const auto& e = pages.reply.elements;
    for (std::size_t i = 0; i + 1 < e.size(); i += 2) {
      if (!path_matches(filter, e[i + 1].text)) continue;
      entries.push_back(settings_.key_prefix + "e:" + e[i].text);
      fields.push_back(e[i].text);
    }
    if (entries.size() > 1) {
      auto removed = co_await redis_->command(entries);
      if (!removed.ok()) co_return cache::purge_result{purged, failure_of(removed)};
      purged += static_cast<std::size_t>(std::max<long long>(0, removed.reply.integer));
      redis_->send(whole_scope ? std::vector<std::string>{"DEL", index} : fields);
    }
    if (whole_scope) redis_->send({"SREM", settings_.key_prefix + "scopes", scope});
  }
  // Every other instance drops the same pages from its memory and disk.
  redis_->send({"PUBLISH", settings_.key_prefix + "events", "purge " + instance_ + "\n" + encode_filter(filter)});
  co_return cache::purge_result{purged, cache::tier_failure::none};
}

awaitable<void> shared_tier::flush() {
  // Replies come in order: when PING's arrives, every command sent before it is done.
  std::vector<std::string> command = {"PING"};
  co_await redis_->command(std::move(command));
}

cache::tier_stats shared_tier::stats() const {
  cache::tier_stats s;
  s.hits = hits_.load();
  s.misses = misses_.load();
  s.writes = writes_.load();
  s.dropped_writes = dropped_.load();
  s.errors = errors_.load() + redis_->failures();
  s.timeouts = redis_->timeouts();
  s.state = redis_->state();
  if (s.state == "ok" && subscriber_ && !subscriber_->subscribed())
    s.state = "ok; not subscribed yet: purges and holds from other instances wait for it";
  return s;
}

awaitable<cache::fleet::lease> shared_tier::acquire(const cache::cache_key& k) {
  std::vector<std::string> command = {"SET", key("l", k), instance_, "NX", "PX", std::to_string(settings_.lock.count())};
  auto r = co_await redis_->command(std::move(command));
  if (!r.ok()) co_return lease::unavailable;
  if (r.reply.kind == redis_reply::type::nil) co_return lease::taken;
  ++leases_taken_;
  co_return lease::mine;
}

awaitable<std::shared_ptr<const cache::entry>> shared_tier::stored(const cache::cache_key& k) {
  auto page = co_await lookup(k);
  co_return page.found;
}

awaitable<std::shared_ptr<const cache::entry>> shared_tier::wait_for(const cache::cache_key& k,
                                                                     steady::time_point until) {
  ++lease_waits_;
  const auto digest = core::to_hex(k.digest);
  const auto executor = co_await net::this_coro::executor;
  std::shared_ptr<const cache::entry> found;
  while (steady::now() < until) {
    auto woken = core::wakeup::on(executor);
    {
      std::lock_guard lock(waiters_mutex_);
      waiters_.emplace(digest, woken);
    }
    const auto page = co_await lookup(k);
    bool go_on = !page.found && page.failure == cache::tier_failure::none;
    if (page.found) {
      found = page.found;
    } else if (go_on) {
      // No page yet: is someone still fetching it? A lease given up or lapsed without a
      // page sends the caller back to acquire().
      std::vector<std::string> command = {"EXISTS", key("l", k)};
      const auto holder = co_await redis_->command(std::move(command));
      go_on = holder.ok() && holder.reply.integer > 0;
    }
    if (go_on) co_await woken->wait_until(std::min(until, steady::now() + settings_.poll));
    {
      std::lock_guard lock(waiters_mutex_);
      for (auto [it, end] = waiters_.equal_range(digest); it != end; ++it)
        if (it->second.lock() == woken) {
          waiters_.erase(it);
          break;
        }
    }
    if (!go_on) break;
  }
  if (found) ++waits_filled_;
  co_return found;
}

void shared_tier::release(const cache::cache_key& k) {
  redis_->send({"EVAL", std::string(release_script), "1", key("l", k), instance_});
  redis_->send({"PUBLISH", settings_.key_prefix + "events", "fill " + core::to_hex(k.digest)});
}

void shared_tier::announce_hold(const std::string& scope, milliseconds wait) {
  redis_->send({"PUBLISH", settings_.key_prefix + "events",
                "hold " + instance_ + " " + scope + " " + std::to_string(wait.count())});
}

void shared_tier::wake(const std::string& digest) {
  std::vector<std::shared_ptr<core::wakeup>> ready;
  {
    std::lock_guard lock(waiters_mutex_);
    for (auto [it, end] = waiters_.equal_range(digest); it != end; ++it)
      if (auto w = it->second.lock()) ready.push_back(std::move(w));
  }
  for (auto& w : ready) w->wake();
}

void shared_tier::on_message(const std::string& message) {
  const std::string_view text = message;
  if (text.starts_with("fill ")) return wake(std::string(text.substr(5)));
  if (text.starts_with("purge ")) {
    const auto newline = text.find('\n');
    if (newline == std::string_view::npos || text.substr(6, newline - 6) == instance_) return;
    auto events = events_.lock();
    if (auto filter = decode_filter(text.substr(newline + 1)); filter && events) {
      ++purges_received_;
      events->purged(*filter);
    }
    return;
  }
  if (text.starts_with("hold ")) {
    // "hold <instance> <scope> <ms>"
    const auto rest = text.substr(5);
    const auto a = rest.find(' ');
    const auto b = a == std::string_view::npos ? a : rest.find(' ', a + 1);
    if (b == std::string_view::npos || rest.substr(0, a) == instance_) return;
    const auto ms = core::parse_number<long long>(rest.substr(b + 1));
    auto events = events_.lock();
    if (ms && *ms > 0 && events) {
      ++holds_received_;
      events->held(std::string(rest.substr(a + 1, b - a - 1)), milliseconds(*ms));
    }
  }
}

shared_tier::fleet_statistics shared_tier::fleet_stats() const {
  fleet_statistics s;
  s.leases_taken = leases_taken_.load();
  s.lease_waits = lease_waits_.load();
  s.waits_filled = waits_filled_.load();
  s.purges_received = purges_received_.load();
  s.holds_received = holds_received_.load();
  s.subscribed = subscriber_ && subscriber_->subscribed();
  return s;
}

}  // namespace pcproxy::tiers
