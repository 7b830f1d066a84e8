// The HTTP server facing clients: malformed and hostile requests get a clear status,
// and the process keeps serving; limits and timeouts hold.
#include "tests/support/fake_partner_center.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/prometheus_checker.hpp"
#include "tests/support/running_proxy.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

namespace pcproxy::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const header_list alice = {{"Authorization", "Bearer alice-token"}};
const std::string good = "GET /v1/customers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\n\r\n";

class ServerLimits : public ::testing::Test {
protected:
  static config::config settings(const std::string& upstream) {
    auto c = test_config(upstream);
    c.limits.max_header_bytes = 4096;
    c.limits.max_body_bytes = 1024;
    return c;
  }
  void expect_still_serving() {
    EXPECT_EQ(http_get(proxy.port(), "/v1/customers", alice).status, 200);
  }
  fake_partner_center fake;
  running_proxy proxy{settings(fake.url())};
};

struct bad_request_case {
  const char* name;
  std::string bytes;
  unsigned status;
  const char* says;
};

void PrintTo(const bad_request_case& c, std::ostream* os) { *os << c.name; }

class BadRequests : public ServerLimits, public ::testing::WithParamInterface<bad_request_case> {};

TEST_P(BadRequests, GetAClearStatusAndTheServerKeepsServing) {
  const auto& c = GetParam();
  const auto raw = raw_exchange(proxy.port(), c.bytes, 5s);
  EXPECT_EQ(status_of(raw), c.status) << raw;
  EXPECT_THAT(raw, HasSubstr(c.says));
  EXPECT_THAT(raw, HasSubstr("\"source\":\"pcproxy\""));
  EXPECT_THAT(raw, HasSubstr("Connection: close"));
  EXPECT_EQ(fake.count(), 0u);  // nothing reached upstream
  expect_still_serving();
}

INSTANTIATE_TEST_SUITE_P(
    Server, BadRequests,
    ::testing::Values(
        bad_request_case{"Garbage", "HELLO\r\n\r\n", 400, "malformed HTTP request"},
        bad_request_case{"BadVersion", "GET / HTTP/9.9.9\r\nHost: x\r\n\r\n", 400, "malformed"},
        bad_request_case{"AbsoluteForm", "GET http://evil.example/v1/customers HTTP/1.1\r\nHost: evil.example\r\n\r\n",
                         400, "absolute URLs are refused"},
        bad_request_case{"Connect", "CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n", 400,
                         "CONNECT is not supported"},
        bad_request_case{"AsteriskForm", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 400, "must be a path"},
        bad_request_case{"LengthAndChunked",
                         "POST /v1/customers HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                         400, "malformed"},
        bad_request_case{"ChunkedAndLength",
                         "POST /v1/customers HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
                         400, "malformed"},
        bad_request_case{"TwoLengths",
                         "POST /v1/customers HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
                         400, "malformed"},
        bad_request_case{"UnknownCoding", "POST /v1/customers HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400,
                         "Transfer-Encoding must end in chunked"},
        bad_request_case{"NoHost", "GET /v1/customers HTTP/1.1\r\n\r\n", 400, "Host"},
        bad_request_case{"TwoHosts", "GET /v1/customers HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "Host"},
        bad_request_case{"HugeHeaders",
                         "GET /v1/customers HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(8000, 'a') + "\r\n\r\n", 431,
                         "limits.max_header_bytes"},
        bad_request_case{"HugeBody",
                         "POST /v1/customers HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'b'),
                         413, "limits.max_body_bytes"}),
    [](const auto& instance) { return std::string(instance.param.name); });

TEST_F(ServerLimits, KeepAliveServesManyRequestsOnOneConnection) {
  http_connection c(proxy.port());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(c.request("GET", "/v1/customers", alice).status, 200);
  EXPECT_EQ(fake.count(), 5u);
}

TEST_F(ServerLimits, PipelinedRequestsAreAnsweredInOrder) {
  const auto raw = raw_exchange(proxy.port(), good + good + "GET /v1/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 5s);
  std::size_t responses = 0;
  for (auto at = raw.find("HTTP/1.1 200"); at != std::string::npos; at = raw.find("HTTP/1.1 200", at + 1)) ++responses;
  EXPECT_EQ(responses, 2u);
  EXPECT_THAT(raw, HasSubstr("HTTP/1.1 401"));  // the third had no Authorization
}

TEST_F(ServerLimits, Http10ClosesUnlessAskedToKeepAlive) {
  const auto raw = raw_exchange(proxy.port(), "GET /v1/customers HTTP/1.0\r\nAuthorization: Bearer a\r\n\r\n", 5s);
  EXPECT_THAT(raw, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(raw, HasSubstr("Connection: close"));
}

TEST_F(ServerLimits, ExpectContinueGetsAnInterimResponse) {
  const auto raw = raw_exchange(
      proxy.port(),
      "POST /v1/customers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\nExpect: 100-continue\r\n"
      "Content-Length: 4\r\nConnection: close\r\n\r\nbody",
      5s);
  EXPECT_THAT(raw, StartsWith("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201"));
  EXPECT_EQ(fake.requests().at(0).body, "body");
}

TEST_F(ServerLimits, AdminListenerAnswersHealthAndReadiness) {
  EXPECT_EQ(http_get(proxy.admin_port(), "/healthz").status, 200);
  const auto ready = http_get(proxy.admin_port(), "/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body, "{\"status\":\"ready\"}");
  const auto unknown = http_get(proxy.admin_port(), "/nope");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_THAT(unknown.body, HasSubstr("/healthz"));
  // Admin paths are not served on the client listener: they are forwarded like any path.
  http_get(proxy.port(), "/healthz", alice);
  EXPECT_EQ(fake.count("/healthz"), 1u);
}

TEST(ServerTimeouts, ASlowHeaderIsCutOff) {
  fake_partner_center fake;
  auto settings = test_config(fake.url());
  settings.limits.header_timeout_ms = 300;
  running_proxy proxy(settings);
  const auto started = std::chrono::steady_clock::now();
  const auto raw = raw_exchange(proxy.port(), "GET /v1/customers HTTP/1.1\r\nHost: x\r\n", 10s);  // never finishes
  EXPECT_EQ(raw, "");  // closed, as nginx does: the client never finished asking
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  EXPECT_EQ(fake.count(), 0u);
  EXPECT_EQ(http_get(proxy.port(), "/v1/customers", alice).status, 200);
}

TEST(ServerTimeouts, ASilentConnectionIsClosedAfterTheHeaderTimeout) {
  fake_partner_center fake;
  auto settings = test_config(fake.url());
  settings.limits.header_timeout_ms = 300;
  running_proxy proxy(settings);
  const auto raw = raw_exchange(proxy.port(), "", 10s);
  EXPECT_EQ(raw, "");  // closed without an answer: nothing was asked
}

TEST(ServerTimeouts, AnIdleKeepAliveConnectionIsClosed) {
  fake_partner_center fake;
  auto settings = test_config(fake.url());
  settings.limits.idle_timeout_ms = 300;
  running_proxy proxy(settings);
  http_connection c(proxy.port());
  EXPECT_EQ(c.request("GET", "/v1/customers", alice).status, 200);
  EXPECT_TRUE(c.closed_by_peer(5s));
}

// A client socket with a small receive buffer (64 KiB), so that a large response
// cannot be written in one go and the server has to wait for the reader.
class slow_reader {
public:
  explicit slow_reader(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    const int small = 64 * 1024;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("connect failed");
    const timeval wait{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
  }
  ~slow_reader() { ::close(fd_); }
  void send(const std::string& bytes) { ASSERT_EQ(::send(fd_, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size())); }
  /// Reads until the peer closes or `limit` bytes arrived, `chunk` bytes at a time with
  /// `pause` between reads.
  std::string read(std::size_t limit, std::size_t chunk, std::chrono::milliseconds pause) {
    std::string out;
    std::vector<char> buf(chunk);
    while (out.size() < limit) {
      const auto n = ::recv(fd_, buf.data(), buf.size(), 0);
      if (n <= 0) break;
      out.append(buf.data(), static_cast<std::size_t>(n));
      std::this_thread::sleep_for(pause);
    }
    return out;
  }

private:
  int fd_;
};

// One page of `records` usage records (~520 bytes each).
fake_options one_page_of(std::size_t records) {
  fake_options o;
  o.customers = records;
  o.page_size = records;
  return o;
}

std::string request_for(const std::string& target) {
  return "GET " + target + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice-token\r\nConnection: close\r\n\r\n";
}

TEST(ServerWrites, ASlowReaderGetsEveryByteOfALargePage) {
  fake_partner_center fake(one_page_of(4000));  // ~2 MB: more than the socket buffers start with
  running_proxy proxy(test_config(fake.url()));
  const auto reference = http_get(proxy.port(), "/v1/customers/usagerecords", alice);  // now cached
  ASSERT_EQ(reference.status, 200);
  ASSERT_GT(reference.body.size(), 1u << 20);
  for (const bool cached : {true, false}) {
    const std::string target = cached ? "/v1/customers/usagerecords" : "/v1/customers/usagerecords?x=1";
    slow_reader client(proxy.port());
    client.send(request_for(target));
    const auto raw = client.read(reference.body.size() + 4096, 16 * 1024, 1ms);
    const auto body_at = raw.find("\r\n\r\n");
    ASSERT_NE(body_at, std::string::npos) << "cached: " << cached;
    EXPECT_EQ(status_of(raw), 200u);
    EXPECT_THAT(raw.substr(0, body_at), HasSubstr(cached ? "X-Cache: HIT" : "X-Cache: MISS"));
    EXPECT_TRUE(raw.compare(body_at + 4, std::string::npos, reference.body) == 0) << "cached: " << cached;
  }
}

TEST(ServerTimeouts, AClientThatStopsReadingIsCutOffAfterTheIdleTimeout) {
  // ~10 MB: more than the kernel's largest send buffer (net.ipv4.tcp_wmem, 4 MiB) and
  // the client's receive buffer together, so the write cannot finish unread.
  fake_partner_center fake(one_page_of(20000));
  auto settings = test_config(fake.url());
  settings.limits.idle_timeout_ms = 300;
  running_proxy proxy(settings);
  // The page's size, from the fake itself: through the proxy, a reader slowed by a busy
  // machine could itself be cut off by the 300 ms timeout.
  const auto reference = http_get(fake.port(), "/v1/customers/usagerecords", alice);
  ASSERT_EQ(reference.status, 200);
  slow_reader client(proxy.port());
  client.send(request_for("/v1/customers/usagerecords"));
  // Reads nothing until pcproxy has closed the connection (however long fetching the
  // page takes on a slow build), then takes what the kernel buffered.
  const auto open_connections = [&] {
    return check_exposition(http_get(proxy.admin_port(), "/metrics").body).value("pcproxy_open_connections");
  };
  ASSERT_TRUE(fake.wait_for_requests(2, 30s));  // the reference, then pcproxy's fetch
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (open_connections() != 0.0 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(100ms);
  EXPECT_EQ(open_connections(), 0.0) << "the stalled connection was never closed";
  const auto raw = client.read(reference.body.size() + 4096, 64 * 1024, 0ms);
  EXPECT_EQ(status_of(raw), 200u);
  EXPECT_LT(raw.size(), reference.body.size()) << "the write should have been abandoned";
  EXPECT_EQ(http_get(proxy.port(), "/v1/customers", alice).status, 200);  // still serving
}

TEST(ServerConnections, ConnectionsBeyondTheLimitGet503) {
  fake_partner_center fake;
  auto settings = test_config(fake.url());
  settings.limits.max_connections = 2;
  running_proxy proxy(settings);
  http_connection first(proxy.port());
  http_connection second(proxy.port());
  EXPECT_EQ(first.request("GET", "/v1/customers", alice).status, 200);
  EXPECT_EQ(second.request("GET", "/v1/customers", alice).status, 200);
  const auto raw = raw_exchange(proxy.port(), good, 5s);
  EXPECT_EQ(status_of(raw), 503u) << raw;
  EXPECT_THAT(raw, HasSubstr("limits.max_connections"));
}

}  // namespace
}  // namespace pcproxy::testing
