#pragma once
// A certificate authority and a server certificate made at test time with OpenSSL, so
// HTTPS tests use a real handshake without any key material in the repository.
#include <string>
#include <vector>

namespace pcproxy::testing {

struct test_pki {
  std::string ca_cert_pem;      // trust this (upstream.ca_file)
  std::string server_cert_pem;  // leaf certificate signed by the CA
  std::string server_key_pem;
};

/// A fresh CA and a leaf certificate for `dns_names` and `ip_addresses`.
test_pki make_test_pki(const std::vector<std::string>& dns_names,
                       const std::vector<std::string>& ip_addresses);

/// Writes `content` to a new file under the system temp directory; returns its path.
std::string write_temp_file(const std::string& name_hint, const std::string& content);

}  // namespace pcproxy::testing
