#include "tests/support/redis_server.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <csignal>
#include <fstream>
#include <regex>
#include <stdexcept>
#include <unistd.h>

namespace pcproxy::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* redis_binary = "/usr/bin/redis-server";
constexpr const char* cli_binary = "/usr/bin/redis-cli";

std::uint16_t free_port() {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor a(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

void write_file(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

}  // namespace

bool redis_available() { return ::access(redis_binary, X_OK) == 0; }

redis_server::redis_server(redis_options options) : options_(std::move(options)) {
  for (int attempt = 0; attempt < 5 && !process_; ++attempt) {
    port_ = free_port();  // another process may take it before Redis binds: then retry
    try {
      start();
    } catch (const std::exception&) {
      if (attempt == 4) throw;
    }
  }
}

redis_server::~redis_server() {
  if (process_) {
    process_->signal(SIGTERM);
    if (!process_->wait(5s)) process_->signal(SIGKILL);
  }
}

void redis_server::start() {
  const bool tls = !options_.tls_cert_pem.empty();
  std::vector<std::string> args = {"--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir_.path(),
                                   "--daemonize", "no", "--loglevel", "notice"};
  if (tls) {
    write_file(dir_ / "cert.pem", options_.tls_cert_pem);
    write_file(dir_ / "key.pem", options_.tls_key_pem);
    args.insert(args.end(), {"--port", "0", "--tls-port", std::to_string(port_), "--tls-cert-file", dir_ / "cert.pem",
                             "--tls-key-file", dir_ / "key.pem", "--tls-auth-clients", "no"});
  } else {
    args.insert(args.end(), {"--port", std::to_string(port_)});
  }
  if (!options_.password.empty()) args.insert(args.end(), {"--requirepass", options_.password});
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  auto p = std::make_unique<child_process>(redis_binary, args);
  if (!p->wait_for_line(std::regex("Ready to accept connections"), 10s))
    throw std::runtime_error("redis-server did not start:\n" + p->output());
  process_ = std::move(p);
}

std::string redis_server::url() const {
  return std::string(options_.tls_cert_pem.empty() ? "redis://" : "rediss://") + "127.0.0.1:" + std::to_string(port_);
}

void redis_server::kill() {
  if (!process_) return;
  process_->signal(SIGKILL);
  process_->wait(5s);
  process_.reset();
}

void redis_server::restart() {
  kill();
  start();
}

std::string redis_server::cli(const std::vector<std::string>& args) const {
  std::vector<std::string> all = {"-h", "127.0.0.1", "-p", std::to_string(port_), "--no-auth-warning"};
  if (!options_.password.empty()) all.insert(all.end(), {"-a", options_.password});
  if (!options_.tls_cert_pem.empty()) all.insert(all.end(), {"--tls", "--insecure"});
  all.insert(all.end(), args.begin(), args.end());
  child_process p(cli_binary, all);
  p.wait(10s);
  return p.output();
}

}  // namespace pcproxy::testing
