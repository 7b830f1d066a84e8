#include "proxy/credentials.hpp"

#include "core/log.hpp"
#include "core/secret_file.hpp"
#include "core/wakeup.hpp"

#include <rapidjson/document.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <unistd.h>

namespace pcproxy::proxy {

namespace http = beast::http;
using steady = std::chrono::steady_clock;

namespace {

const std::shared_ptr<spdlog::logger>& log() {
  static const auto l = core::logger("credentials");
  return l;
}

void append_form(std::string& out, std::string_view name, std::string_view value) {
  static constexpr char hex[] = "0123456789ABCDEF";
  if (!out.empty()) out += '&';
  out += name;
  out += '=';
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
}

std::string member(const rapidjson::Document& d, const char* name) {
  const auto it = d.FindMember(name);
  if (it == d.MemberEnd()) return {};
  if (it->value.IsString()) return {it->value.GetString(), it->value.GetStringLength()};
  if (it->value.IsInt64()) return std::to_string(it->value.GetInt64());
  return {};
}

}  // namespace

const char* credential_provider::to_string(result r) noexcept {
  switch (r) {
    case result::ok: return "ok";
    case result::invalid_grant: return "invalid_grant";
    case result::invalid_client: return "invalid_client";
    case result::timeout: return "timeout";
    case result::unreachable: return "unreachable";
    case result::error: return "error";
  }
  return "error";
}

credential_provider::credential_provider(const config::auth_config& settings,
                                         std::shared_ptr<upstream::transport> token_endpoint,
                                         std::shared_ptr<const core::clock> clock)
    : settings_(settings),
      endpoint_(std::move(token_endpoint)),
      clock_(std::move(clock)),
      client_secret_(core::read_secret_file(settings.client_secret_file, "upstream.auth.client_secret_file")),
      refresh_token_(core::read_secret_file(settings.refresh_token_file, "upstream.auth.refresh_token_file")) {}

void credential_provider::start(net::any_io_executor executor) {
  strand_.emplace(net::make_strand(executor));
  timer_.emplace(*strand_);
  net::co_spawn(*strand_, [self = shared_from_this()]() -> awaitable<void> { co_await self->keep_fresh(); },
                net::detached);
}

void credential_provider::stop() {
  stopped_ = true;
  replan();
}

void credential_provider::replan() {
  if (!strand_) return;
  net::post(*strand_, [self = shared_from_this()] { self->timer_->cancel(); });
}

awaitable<void> credential_provider::keep_fresh() {
  while (!stopped_) {
    co_await authorization();  // refreshes when the token is due
    std::chrono::steady_clock::duration pause{};
    {
      std::lock_guard lock(mutex_);
      const auto now = clock_->now();
      const auto next = valid(now) ? std::max(token_.refresh_after, retry_at_) : retry_at_;
      if (next > now) pause = next - now;
    }
    // Looked at again at least every minute: the clock may jump (a suspended VM).
    pause = std::clamp<std::chrono::steady_clock::duration>(pause, std::chrono::milliseconds(100),
                                                            std::chrono::minutes(1));
    // The state was read and the timer armed in one turn of the strand: a replan()
    // posted after a change finds the timer waiting.
    timer_->expires_after(pause);
    co_await timer_->async_wait(use_nothrow);
  }
}

awaitable<credential_provider::outcome> credential_provider::authorization() {
  const auto executor = co_await net::this_coro::executor;
  std::shared_ptr<core::wakeup> woken;
  {
    std::lock_guard lock(mutex_);
    const auto now = clock_->now();
    const bool backing_off = now < retry_at_;
    if (valid(now) && (now < token_.refresh_after || refreshing_ || backing_off))
      co_return outcome{token_.authorization, {}};
    if (!valid(now) && !refreshing_ && backing_off) co_return outcome{nullptr, last_failure_};
    if (refreshing_) {
      woken = core::wakeup::on(executor);
      waiters_.push_back(woken);
    } else {
      refreshing_ = true;  // this request leads the refresh
    }
  }
  if (!woken) co_return co_await refresh();
  // The refresh has its own deadline (upstream.deadline_ms); this one only bounds a lost wake-up.
  co_await woken->wait_until(steady::now() + std::chrono::minutes(5));
  std::lock_guard lock(mutex_);
  if (valid(clock_->now())) co_return outcome{token_.authorization, {}};
  co_return outcome{nullptr, last_failure_.empty() ? "the token refresh did not finish in time" : last_failure_};
}

bool credential_provider::rejected(const std::string& authorization) {
  std::lock_guard lock(mutex_);
  if (!token_.authorization || *token_.authorization != authorization) return true;  // already replaced
  if (token_.forced && clock_->now() - token_.obtained < std::chrono::minutes(1)) return false;
  token_.refresh_after = token_.expires = {};
  force_pending_ = true;
  retry_at_ = {};
  return true;
}

awaitable<credential_provider::outcome> credential_provider::refresh() {
  std::string refresh_token;
  {
    std::lock_guard lock(mutex_);
    // After invalid_grant the operator replaces the file: read it again.
    if (last_result_ == result::invalid_grant) {
      try {
        refresh_token_ = core::read_secret_file(settings_.refresh_token_file, "upstream.auth.refresh_token_file");
      } catch (const std::runtime_error&) {
        // Keeps the token held; the failure below says what to do.
      }
    }
    refresh_token = refresh_token_;
  }
  upstream::request req;
  req.method = http::verb::post;
  req.target = "/" + settings_.tenant + "/oauth2/token";
  req.headers.set(http::field::content_type, "application/x-www-form-urlencoded");
  req.headers.set(http::field::accept, "application/json");
  append_form(req.body, "grant_type", "refresh_token");
  append_form(req.body, "refresh_token", refresh_token);
  append_form(req.body, "client_id", settings_.client_id);
  append_form(req.body, "client_secret", client_secret_);
  append_form(req.body, "resource", settings_.resource);
  const auto where = settings_.authority.base_url + req.target;

  // A resend on a keep-alive connection found closed is safe: a token request that
  // never arrived redeemed nothing.
  const auto ids = upstream::correlation_for_request({}, {}, {}, upstream::id_random());
  const auto r = co_await endpoint_->send(req, ids, true);
  outcome out;
  if (!r.answer) {
    switch (r.error) {
      case upstream::failure::timeout:
      case upstream::failure::deadline:
        out = fail(result::timeout, "the token endpoint " + where +
                                        " did not answer in time; pcproxy tries again shortly (is "
                                        "upstream.auth.authority reachable from here?)");
        break;
      case upstream::failure::connect:
      case upstream::failure::tls:
      case upstream::failure::connection_lost:
        out = fail(result::unreachable, "cannot reach the token endpoint " + where + ": " + r.detail +
                                            "; check upstream.auth.authority, upstream.ca_file and the network");
        break;
      default:
        out = fail(result::error, "the token endpoint " + where + " sent no usable answer: " + r.detail);
    }
  } else {
    rapidjson::Document d;
    d.Parse(r.answer->body.c_str());
    const bool json = !d.HasParseError() && d.IsObject();
    const auto error = json ? member(d, "error") : std::string{};
    const auto access = json ? member(d, "access_token") : std::string{};
    const auto lifetime = json ? std::atoll(member(d, "expires_in").c_str()) : 0;
    if (r.answer->status == 200 && !access.empty() && lifetime > 0) {
      out = succeed(access, std::chrono::seconds(lifetime), member(d, "refresh_token"), refresh_token);
    } else if (error == "invalid_grant") {
      out = fail(result::invalid_grant, "the refresh token was rejected (invalid_grant): it expired or was revoked; "
                                        "run the consent flow again and replace the refresh token file " +
                                            settings_.refresh_token_file);
    } else if (error == "invalid_client" || error == "unauthorized_client") {
      out = fail(result::invalid_client, "the app's credentials were rejected (" + error +
                                             "): check upstream.auth.client_id and the secret in " +
                                             settings_.client_secret_file + " (has the secret expired?)");
    } else {
      out = fail(result::error, "the token endpoint " + where + " answered " + std::to_string(r.answer->status) +
                                    (error.empty() ? std::string{} : " (" + error + ")") +
                                    "; pcproxy tries again shortly");
    }
  }
  std::vector<std::shared_ptr<core::wakeup>> waiting;
  {
    std::lock_guard lock(mutex_);
    refreshing_ = false;
    waiting.swap(waiters_);
  }
  for (auto& w : waiting) w->wake();
  co_return out;
}

credential_provider::outcome credential_provider::succeed(const std::string& access, std::chrono::seconds lifetime,
                                                          const std::string& rotated, const std::string& redeemed) {
  ++counts_[static_cast<std::size_t>(result::ok)];
  const auto now = clock_->now();
  const auto early = std::min<std::chrono::seconds>(std::chrono::minutes(5), lifetime / 5);
  bool recovered = false;
  outcome out;
  {
    std::lock_guard lock(mutex_);
    token_ = {std::make_shared<const std::string>("Bearer " + access), now, now + lifetime, now + lifetime - early,
              force_pending_};
    force_pending_ = false;
    if (!rotated.empty()) refresh_token_ = rotated;
    recovered = !last_failure_.empty();
    last_failure_.clear();
    last_result_ = result::ok;
    attempted_ = true;
    failures_in_a_row_ = 0;
    retry_at_ = {};
    out.authorization = token_.authorization;
  }
  if (!rotated.empty() && rotated != redeemed) write_refresh_token(rotated);
  if (recovered) log()->info("Partner Center access token redeemed again; requests without Authorization go on");
  return out;
}

credential_provider::outcome credential_provider::fail(result r, std::string why) {
  ++counts_[static_cast<std::size_t>(r)];
  outcome out{nullptr, std::move(why)};
  {
    std::lock_guard lock(mutex_);
    last_failure_ = out.failure;
    last_result_ = r;
    attempted_ = true;
    force_pending_ = false;
    const auto pause = std::chrono::seconds(1LL << std::min(failures_in_a_row_++, 6u));
    retry_at_ = clock_->now() + std::min<std::chrono::seconds>(pause, std::chrono::minutes(1));
    // A valid token still held keeps serving until it expires.
    if (valid(clock_->now())) out.authorization = token_.authorization;
  }
  replan();
  std::uint64_t suppressed = 0;
  if (failure_log_.allow(suppressed))
    log()->error("Partner Center credentials: {} ({} more failures not logged)", out.failure, suppressed);
  return out;
}

void credential_provider::write_refresh_token(const std::string& token) {
  // Temporary file, fsync, rename, fsync of the directory: the file is always either
  // the old token or the new one, and survives a crash right after.
  const auto& path = settings_.refresh_token_file;
  const auto temporary = path + ".tmp-" + std::to_string(::getpid());
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  bool ok = fd >= 0;
  if (ok) {
    ::fchmod(fd, 0600);
    const auto line = token + "\n";
    ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
    ok = ::close(fd) == 0 && ok;
  }
  ok = ok && ::rename(temporary.c_str(), path.c_str()) == 0;
  if (ok) {
    const auto dir = std::filesystem::path(path).parent_path();
    const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
    return;
  }
  ::unlink(temporary.c_str());
  log()->error("cannot write the rotated refresh token to {}: {}; it is kept in memory, but after a restart the "
               "old token is no longer valid: run the consent flow again then",
               path, std::strerror(errno));
}

std::string credential_provider::not_ready_reason() const {
  std::lock_guard lock(mutex_);
  if (valid(clock_->now())) return {};
  if (!attempted_) return "redeeming the Partner Center refresh token";
  return "no valid Partner Center access token: " + (last_failure_.empty() ? "refreshing it" : last_failure_);
}

std::vector<std::pair<credential_provider::result, std::uint64_t>> credential_provider::refreshes() const {
  std::vector<std::pair<result, std::uint64_t>> out;
  for (std::size_t i = 0; i < result_count; ++i) out.emplace_back(static_cast<result>(i), counts_[i].load());
  return out;
}

}  // namespace pcproxy::proxy
