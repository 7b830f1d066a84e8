#include "proxy/service.hpp"

#include "cache/entry_codec.hpp"
#include "config/loader.hpp"
#include "core/secret_file.hpp"
#include "proxy/admin.hpp"
#include "proxy/credentials.hpp"
#include "proxy/pipeline.hpp"
#include "tiers/disk_tier.hpp"
#include "tiers/shared_tier.hpp"
#include "upstream/client.hpp"
#include "upstream/resilient_transport.hpp"


namespace pcproxy::proxy {

namespace {

// An admin listener others can reach needs a token for /admin/*.
bool admin_exposed(const config::config& settings) {
  const auto& host = settings.admin_listen.host;
  if (host == "localhost") return false;
  error_code ec;
  const auto address = net::ip::make_address(host, ec);
  return ec || !address.is_loopback();
}

// The key of cache.disk.encryption_key_file: the disk and shared tiers' encryption.
std::optional<cache::encryption_key> encryption_key(const config::config& settings) {
  const auto& file = settings.cache.disk.encryption_key_file;
  if (file.empty()) return std::nullopt;
  const auto text = core::read_secret_file(file, "cache.disk.encryption_key_file");
  std::string why;
  auto key = cache::parse_encryption_key(text, why);
  if (!key) throw std::runtime_error("cache.disk.encryption_key_file: \"" + file + "\": " + why);
  return key;
}

// The disk tier when cache.disk.path is set. Start-up errors name the key.
std::shared_ptr<tiers::disk_tier> disk_tier_for(const config::config& settings,
                                                std::shared_ptr<const core::clock> clock) {
  const auto& disk = settings.cache.disk;
  if (disk.path.empty()) return nullptr;
  tiers::disk_settings s;
  s.directory = disk.path;
  s.max_bytes = static_cast<std::size_t>(disk.max_bytes);
  s.encryption = encryption_key(settings);
  return std::make_shared<tiers::disk_tier>(std::move(s), std::move(clock));
}

// The shared tier when cache.shared.url is set (and an executor runs its connections).
std::shared_ptr<tiers::shared_tier> shared_tier_for(const config::config& settings,
                                                    std::shared_ptr<const core::clock> clock,
                                                    std::optional<net::any_io_executor> executor) {
  const auto& shared = settings.cache.shared;
  if (!shared.url || !executor) return nullptr;
  tiers::shared_settings s;
  s.redis.url = *shared.url;
  s.redis.password = shared.url->password;
  if (!shared.password_file.empty())
    s.redis.password = core::read_secret_file(shared.password_file, "cache.shared.password_file");
  s.redis.ca_file = shared.ca_file;
  s.redis.timeout = std::chrono::milliseconds(shared.timeout_ms);
  s.key_prefix = shared.key_prefix;
  s.lock = std::chrono::milliseconds(shared.lock_ms);
  s.encryption = encryption_key(settings);
  return std::make_shared<tiers::shared_tier>(*executor, std::move(s), std::move(clock));
}

std::vector<std::shared_ptr<cache::tier>> lower_tiers(std::shared_ptr<tiers::disk_tier> disk,
                                                      std::shared_ptr<tiers::shared_tier> shared) {
  std::vector<std::shared_ptr<cache::tier>> out;
  if (disk) out.push_back(std::move(disk));
  if (shared) out.push_back(std::move(shared));
  return out;
}

// What other instances announce, applied here: their purges to this instance's own
// tiers, their throttle holds to this instance's upstream client.
class fleet_listener final : public cache::fleet_events {
public:
  fleet_listener(std::shared_ptr<cache::tiered> store, net::any_io_executor executor,
                 std::shared_ptr<upstream::resilient_transport> resilience)
      : store_(std::move(store)), executor_(std::move(executor)), resilience_(std::move(resilience)) {}

  void purged(const cache::purge_filter& filter) override {
    net::co_spawn(executor_, store_->purge(filter, false), net::detached);
  }
  void held(const std::string& scope, std::chrono::milliseconds wait) override {
    if (resilience_) resilience_->hold(scope, wait);
  }

private:
  std::shared_ptr<cache::tiered> store_;
  net::any_io_executor executor_;
  std::shared_ptr<upstream::resilient_transport> resilience_;
};

// The credential provider for upstream.auth.mode refresh_token: its token requests go
// to upstream.auth.authority over a client with the upstream's TLS settings and timeouts.
std::shared_ptr<credential_provider> credentials_for(net::io_context& ioc, const config::config& settings,
                                                     std::shared_ptr<const core::clock> clock) {
  if (config::effective_auth_mode(settings.upstream) != config::auth_mode::refresh_token) return nullptr;
  auto endpoint = settings.upstream;
  endpoint.url = settings.upstream.auth.authority;
  endpoint.max_connections = 2;
  return std::make_shared<credential_provider>(settings.upstream.auth,
                                               std::make_shared<upstream::client>(ioc, endpoint, 1), std::move(clock));
}

}  // namespace

service::service(net::io_context& ioc, const config::config& settings, std::shared_ptr<const core::clock> clock)
    : service(settings,
              std::make_shared<upstream::resilient_transport>(
                  std::make_shared<upstream::client>(ioc, settings.upstream, config::io_threads(settings)), settings,
                  clock, upstream::system_uniform01(), upstream::id_random()),
              clock, ioc.get_executor(), credentials_for(ioc, settings, clock)) {}

service::service(const config::config& settings, std::shared_ptr<upstream::resilient_transport> resilient,
                 std::shared_ptr<const core::clock> clock, net::any_io_executor executor,
                 std::shared_ptr<credential_provider> credentials)
    : service(settings, std::static_pointer_cast<upstream::transport>(resilient), std::move(clock), executor,
              std::move(credentials)) {
  resilience_ = std::move(resilient);
  if (credentials_) credentials_->start(executor);
  admin_ = std::make_shared<proxy::admin_handler>(proxy_, resilience_, shared_, admin_exposed(settings));
  if (shared_) {
    // Weak both ways round: the tier and the upstream client must not own each other.
    resilience_->on_hold([weak = std::weak_ptr(shared_)](const std::string& scope, std::chrono::milliseconds wait) {
      if (auto fleet = weak.lock()) fleet->announce_hold(scope, wait);
    });
    fleet_listener_ = std::make_shared<fleet_listener>(store_, executor, resilience_);
    shared_->start(fleet_listener_);
  }
}

service::service(const config::config& settings, std::shared_ptr<upstream::transport> upstream,
                 std::shared_ptr<const core::clock> clock)
    : service(settings, std::move(upstream), std::move(clock), std::nullopt, nullptr) {}

service::service(const config::config& settings, std::shared_ptr<upstream::transport> upstream,
                 std::shared_ptr<const core::clock> clock, std::optional<net::any_io_executor> executor,
                 std::shared_ptr<credential_provider> credentials)
    : credentials_(std::move(credentials)),
      disk_(disk_tier_for(settings, clock)),
      shared_(shared_tier_for(settings, clock, executor)),
      store_(std::make_shared<cache::tiered>(
          std::make_shared<cache::memory_tier>(static_cast<std::size_t>(settings.cache.max_bytes), clock),
          lower_tiers(disk_, shared_))),
      proxy_(std::make_shared<pipeline>(settings, std::move(upstream), store_, std::move(clock), upstream::id_random(),
                                        shared_, credentials_)),
      admin_(std::make_shared<proxy::admin_handler>(proxy_, nullptr, shared_, admin_exposed(settings))),
      not_ready_while_circuit_open_(settings.admin.not_ready_while_circuit_open) {}

std::shared_ptr<server::request_handler> service::proxy_handler() const { return proxy_; }

std::shared_ptr<server::request_handler> service::admin_handler() const { return admin_; }

void service::apply(const config::config& settings) {
  proxy_->apply(settings);
  if (resilience_) resilience_->apply(settings);
  not_ready_while_circuit_open_ = settings.admin.not_ready_while_circuit_open;
}

void service::close(std::chrono::steady_clock::time_point deadline) {
  if (credentials_) credentials_->stop();
  if (disk_) disk_->close(deadline);
  if (shared_) shared_->close();
}

void service::set_connection_gauge(std::function<std::size_t()> gauge) { admin_->set_connection_gauge(std::move(gauge)); }

std::string service::not_ready_reason() const {
  if (credentials_)
    if (auto why = credentials_->not_ready_reason(); !why.empty()) return why;
  if (!not_ready_while_circuit_open_ || !resilience_) return {};
  if (resilience_->stats().circuit != upstream::circuit_breaker::state::open) return {};
  for (const auto* t : store_->tiers())
    if (t->stats().entries > 0) return {};  // stale pages can still be served
  return "the upstream circuit is open and nothing is cached";
}

}  // namespace pcproxy::proxy
