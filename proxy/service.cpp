#include "proxy/service.hpp"

#include "cache/entry_codec.hpp"
#include "config/loader.hpp"
#include "proxy/admin.hpp"
#include "proxy/pipeline.hpp"
#include "tiers/disk_tier.hpp"
#include "upstream/client.hpp"
#include "upstream/resilient_transport.hpp"

#include <fstream>

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

// The disk tier when cache.disk.path is set. Start-up errors name the key.
std::shared_ptr<tiers::disk_tier> disk_tier_for(const config::config& settings,
                                                std::shared_ptr<const core::clock> clock) {
  const auto& disk = settings.cache.disk;
  if (disk.path.empty()) return nullptr;
  tiers::disk_settings s;
  s.directory = disk.path;
  s.max_bytes = static_cast<std::size_t>(disk.max_bytes);
  if (!disk.encryption_key_file.empty()) {
    std::ifstream in(disk.encryption_key_file);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in && !in.eof())
      throw std::runtime_error("cache.disk.encryption_key_file: cannot read \"" + disk.encryption_key_file + "\"");
    std::string why;
    s.encryption = cache::parse_encryption_key(text, why);
    if (!s.encryption)
      throw std::runtime_error("cache.disk.encryption_key_file: \"" + disk.encryption_key_file + "\": " + why);
  }
  return std::make_shared<tiers::disk_tier>(std::move(s), std::move(clock));
}

std::vector<std::shared_ptr<cache::tier>> lower_tiers(const std::shared_ptr<tiers::disk_tier>& disk) {
  std::vector<std::shared_ptr<cache::tier>> out;
  if (disk) out.push_back(disk);
  return out;
}

}  // namespace

service::service(net::io_context& ioc, const config::config& settings, std::shared_ptr<const core::clock> clock)
    : service(settings,
              std::make_shared<upstream::resilient_transport>(std::make_shared<upstream::client>(ioc, settings.upstream, config::io_threads(settings)),
                                                              settings, clock, upstream::system_uniform01(),
                                                              upstream::id_random()),
              clock) {}

service::service(const config::config& settings, std::shared_ptr<upstream::resilient_transport> resilient,
                 std::shared_ptr<const core::clock> clock)
    : service(settings, std::static_pointer_cast<upstream::transport>(resilient), std::move(clock)) {
  resilience_ = std::move(resilient);
  admin_ = std::make_shared<proxy::admin_handler>(proxy_, resilience_, admin_exposed(settings));
}

service::service(const config::config& settings, std::shared_ptr<upstream::transport> upstream,
                 std::shared_ptr<const core::clock> clock)
    : disk_(disk_tier_for(settings, clock)),
      store_(std::make_shared<cache::tiered>(
          std::make_shared<cache::memory_tier>(static_cast<std::size_t>(settings.cache.max_bytes), clock),
          lower_tiers(disk_))),
      proxy_(std::make_shared<pipeline>(settings, std::move(upstream), store_, std::move(clock),
                                        upstream::id_random())),
      admin_(std::make_shared<proxy::admin_handler>(proxy_, nullptr, admin_exposed(settings))),
      not_ready_while_circuit_open_(settings.admin.not_ready_while_circuit_open) {}

std::shared_ptr<server::request_handler> service::proxy_handler() const { return proxy_; }

std::shared_ptr<server::request_handler> service::admin_handler() const { return admin_; }

void service::apply(const config::config& settings) {
  proxy_->apply(settings);
  if (resilience_) resilience_->apply(settings);
  not_ready_while_circuit_open_ = settings.admin.not_ready_while_circuit_open;
}

void service::close(std::chrono::steady_clock::time_point deadline) {
  if (disk_) disk_->close(deadline);
}

void service::set_connection_gauge(std::function<std::size_t()> gauge) { admin_->set_connection_gauge(std::move(gauge)); }

std::string service::not_ready_reason() const {
  if (!not_ready_while_circuit_open_ || !resilience_) return {};
  if (resilience_->stats().circuit != upstream::circuit_breaker::state::open) return {};
  for (const auto* t : store_->tiers())
    if (t->stats().entries > 0) return {};  // stale pages can still be served
  return "the upstream circuit is open and nothing is cached";
}

}  // namespace pcproxy::proxy
