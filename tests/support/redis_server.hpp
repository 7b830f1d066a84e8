#pragma once
// Debian's redis-server, started by a test on a free loopback port with a temporary
// directory and no persistence, stopped by PID. Optionally with a password, or TLS
// (a certificate from the test CA). The engine the shared tier ships against: no mock.
#include "tests/support/child_process.hpp"
#include "tests/support/temp_dir.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace pcproxy::testing {

struct redis_options {
  std::string password;     // requirepass
  std::string tls_cert_pem;  // with tls_key_pem: TLS only (the plain port is off)
  std::string tls_key_pem;
  std::vector<std::string> extra_args;  // more redis-server options ("--maxmemory", "1mb", ...)
};

class redis_server {
public:
  explicit redis_server(redis_options options = {});
  ~redis_server();
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  /// redis://127.0.0.1:PORT (rediss:// with TLS).
  std::string url() const;

  /// SIGKILL, as a crash would.
  void kill();
  /// Starts again on the same port (empty: no persistence).
  void restart();

  /// Runs redis-cli against this server (the password given); its output.
  std::string cli(const std::vector<std::string>& args) const;

private:
  void start();

  redis_options options_;
  temp_dir dir_;
  std::uint16_t port_ = 0;
  std::unique_ptr<child_process> process_;
};

/// True when this machine has redis-server (scripts/bootstrap installs it).
bool redis_available();

}  // namespace pcproxy::testing
