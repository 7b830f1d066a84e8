#pragma once
// A small blocking HTTP/1.1 client for tests: one request per call, or a kept-alive
// connection; plus raw byte exchanges for malformed requests.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace pcproxy::testing {

using header_list = std::vector<std::pair<std::string, std::string>>;

struct http_result {
  unsigned status = 0;
  header_list headers;
  std::string body;

  std::string header(const std::string& name) const;  // case-insensitive; "" when absent
  bool has_header(const std::string& name) const;
};

/// One request on a fresh connection to 127.0.0.1:port. Throws on I/O failure.
http_result http_request(std::uint16_t port, const std::string& method, const std::string& target,
                         const header_list& headers = {}, const std::string& body = {});

inline http_result http_get(std::uint16_t port, const std::string& target,
                            const header_list& headers = {}) {
  return http_request(port, "GET", target, headers);
}

/// A kept-alive connection for several requests.
class http_connection {
public:
  explicit http_connection(std::uint16_t port);
  ~http_connection();
  http_result request(const std::string& method, const std::string& target,
                      const header_list& headers = {}, const std::string& body = {});
  /// True when the server has closed the connection (checked without blocking long).
  bool closed_by_peer(std::chrono::milliseconds wait);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Sends `bytes` as they are, then reads until the server closes the connection or
/// `timeout` passes; returns everything read.
std::string raw_exchange(std::uint16_t port, const std::string& bytes,
                         std::chrono::milliseconds timeout = std::chrono::seconds(5));

/// The status code of the first response in raw bytes, 0 when there is none.
unsigned status_of(const std::string& raw_response);

}  // namespace pcproxy::testing
