#include "server/export_client.hpp"

#include "config/config.hpp"
#include "core/net.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <unistd.h>

namespace pcproxy::server {

namespace http = beast::http;
using steady = std::chrono::steady_clock;

namespace {

constexpr const char* usage_text =
    "Usage: pcproxy export PATH --output FILE [--format json|ndjson|csv] [--proxy URL] [--token-file F]\n"
    "\n"
    "Fetches a whole Partner Center collection through pcproxy's collection endpoint\n"
    "(/pcproxy/collection/PATH) and writes it to FILE (\"-\" for standard output).\n"
    "\n"
    "  PATH              the collection, e.g. /v1/customers/usagerecords (a query may follow)\n"
    "  --output FILE     written as FILE.partial, renamed to FILE once the collection is complete\n"
    "  --format F        json (default), ndjson or csv\n"
    "  --proxy URL       pcproxy's address (default http://127.0.0.1:8080)\n"
    "  --token-file F    a file with the bearer token to send; without it pcproxy uses its own\n"
    "                    (upstream.auth) or answers 401\n"
    "\n"
    "While stderr is a terminal a progress line shows items, bytes, rate and time; otherwise a\n"
    "summary line is printed at the end. Exit status: 0 complete, 1 failed (the partial file is\n"
    "removed), 2 usage.\n";

// Counts the items that stream past, whatever the format: lines for NDJSON, rows for CSV
// (the header excluded), values entering the items array for JSON.
class item_counter {
public:
  explicit item_counter(std::string_view format) : format_(format) {}

  void feed(std::string_view bytes) {
    for (char c : bytes) {
      if (format_ == "ndjson") {
        if (c == '\n') ++items_;
        continue;
      }
      if (format_ == "csv") {
        if (c == '"') quoted_ = !quoted_;
        else if (c == '\n' && !quoted_) ++lines_;
        continue;
      }
      if (in_string_) {
        if (escaped_) escaped_ = false;
        else if (c == '\\') escaped_ = true;
        else if (c == '"') in_string_ = false;
        continue;
      }
      if (c == '"') in_string_ = true;
      if ((c == '{' || c == '[') && ++depth_ == 3) ++items_;  // {"items":[ {item} ...
      if (c == '}' || c == ']') --depth_;
    }
  }
  std::size_t items() const { return format_ == "csv" ? (lines_ > 0 ? lines_ - 1 : 0) : items_; }

private:
  std::string format_;
  std::size_t items_ = 0, lines_ = 0;
  int depth_ = 0;
  bool in_string_ = false, escaped_ = false, quoted_ = false;
};

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB"};
  int u = 0;
  while (b >= 1024 && u < 3) b /= 1024, ++u;
  std::ostringstream s;
  s << std::fixed << std::setprecision(u ? 1 : 0) << b << " " << units[u];
  return s.str();
}

struct options {
  std::string path, output, format = "json", proxy = "http://127.0.0.1:8080", token_file;
};

// Parses the arguments; "" or what is wrong.
std::string parse(const std::vector<std::string>& args, options& o) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    const auto value = [&](std::string& into) {
      if (i + 1 >= args.size()) return a + " needs a value";
      into = args[++i];
      return std::string{};
    };
    std::string problem;
    if (a == "--output" || a == "-o") problem = value(o.output);
    else if (a == "--format") problem = value(o.format);
    else if (a == "--proxy") problem = value(o.proxy);
    else if (a == "--token-file") problem = value(o.token_file);
    else if (a.starts_with("-")) problem = "unknown option " + a;
    else if (o.path.empty()) o.path = a;
    else problem = "one PATH only (got " + o.path + " and " + a + ")";
    if (!problem.empty()) return problem;
  }
  if (o.path.empty() || !o.path.starts_with('/')) return "name the collection, e.g. /v1/customers/usagerecords";
  if (o.output.empty()) return "--output FILE is required (\"-\" for standard output)";
  if (o.format != "json" && o.format != "ndjson" && o.format != "csv")
    return "--format " + o.format + " is not json, ndjson or csv";
  return {};
}

}  // namespace

int export_collection(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    out << usage_text;
    return 0;
  }
  options o;
  if (const auto problem = parse(args, o); !problem.empty()) {
    err << "pcproxy export: " << problem << "\n\n" << usage_text;
    return 2;
  }
  std::string why;
  const auto proxy = config::parse_origin(o.proxy, why);
  if (!proxy || proxy->tls) {
    err << "pcproxy export: --proxy " << o.proxy << ": " << (proxy ? "export speaks http:// to pcproxy" : why) << "\n";
    return 2;
  }
  std::string authorization;
  if (!o.token_file.empty()) {
    std::ifstream in(o.token_file);
    std::getline(in, authorization);
    while (!authorization.empty() && (authorization.back() == '\r' || authorization.back() == ' '))
      authorization.pop_back();
    if (!in && authorization.empty()) {
      err << "pcproxy export: cannot read the token file " << o.token_file << "\n";
      return 2;
    }
    if (!authorization.starts_with("Bearer ")) authorization = "Bearer " + authorization;
  }

  const bool to_stdout = o.output == "-";
  const auto partial = o.output + ".partial";
  std::ofstream file;
  if (!to_stdout) {
    file.open(partial, std::ios::binary | std::ios::trunc);
    if (!file) {
      err << "pcproxy export: cannot write " << partial << "\n";
      return 1;
    }
  }
  std::ostream& sink = to_stdout ? out : file;
  const auto fail = [&](const std::string& reason) {
    if (!to_stdout) {
      file.close();
      std::filesystem::remove(partial);
    }
    err << (isatty(STDERR_FILENO) ? "\n" : "") << "pcproxy export: " << reason << "\n";
    return 1;
  };

  const auto separator = o.path.find('?') == std::string::npos ? "?" : "&";
  const auto target = "/pcproxy/collection" + o.path + separator + "format=" + o.format;
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  error_code ec;
  tcp::resolver resolver(ioc);
  const auto endpoints = resolver.resolve(proxy->host, std::to_string(proxy->port), ec);
  if (ec) return fail("cannot resolve " + proxy->host + ": " + ec.message());
  stream.expires_after(std::chrono::seconds(10));
  stream.connect(endpoints, ec);
  if (ec) return fail("cannot connect to " + proxy->base_url + ": " + ec.message() + " (is pcproxy running? --proxy)");
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, proxy->authority);
  req.set(http::field::user_agent, "pcproxy-export");
  if (!authorization.empty()) req.set(http::field::authorization, authorization);
  http::write(stream, req, ec);
  if (ec) return fail("sending the request failed: " + ec.message());

  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  stream.expires_after(std::chrono::minutes(5));  // the first page may take a while upstream
  http::read_header(stream, buffer, parser, ec);
  if (ec) return fail("no answer from " + proxy->base_url + ": " + ec.message());
  const auto status = parser.get().result_int();
  std::string error_body;
  const bool ok = status == 200;

  item_counter counter(o.format);
  std::array<char, 65536> chunk{};
  std::uint64_t bytes = 0;
  const auto started = steady::now();
  auto last_progress = started;
  const bool tty = isatty(STDERR_FILENO);
  const auto progress = [&](bool final) {
    const auto seconds = std::chrono::duration<double>(steady::now() - started).count();
    err << (tty && !final ? "\r" : "") << counter.items() << " items, " << human_bytes(static_cast<double>(bytes))
        << ", " << std::fixed << std::setprecision(0) << (seconds > 0 ? static_cast<double>(counter.items()) / seconds : 0.0)
        << " items/s, " << std::setprecision(1) << seconds << " s";
  };
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    stream.expires_after(std::chrono::minutes(5));
    http::read(stream, buffer, parser, ec);
    if (ec == http::error::need_buffer) ec = {};
    const auto n = chunk.size() - parser.get().body().size;
    if (ok) {
      sink.write(chunk.data(), static_cast<std::streamsize>(n));
      counter.feed(std::string_view(chunk.data(), n));
    } else if (error_body.size() < 4096) {
      error_body.append(chunk.data(), n);
    }
    bytes += n;
    if (ec) {
      if (!ok) break;
      return fail(ec == http::error::partial_message || ec == net::error::eof
                      ? "the collection was cut off after " + std::to_string(counter.items()) +
                            " items (pcproxy's log says why; MS-CorrelationId " +
                            std::string(parser.get()["MS-CorrelationId"]) + ")"
                      : "reading failed after " + std::to_string(counter.items()) + " items: " + ec.message());
    }
    if (ok && tty && steady::now() - last_progress > std::chrono::milliseconds(200)) {
      last_progress = steady::now();
      progress(false);
    }
  }
  if (!ok) return fail("pcproxy answered " + std::to_string(status) + ": " + error_body);
  sink.flush();
  if (!to_stdout) {
    file.close();
    if (!file) return fail("writing " + partial + " failed");
    std::error_code rename_error;
    std::filesystem::rename(partial, o.output, rename_error);
    if (rename_error) return fail("cannot rename " + partial + " to " + o.output + ": " + rename_error.message());
  }
  if (tty) err << "\r";
  progress(true);
  if (const auto summary = parser.get()["Pcproxy-Collection"]; !summary.empty()) err << " (" << summary << ")";
  err << (to_stdout ? "" : " -> " + o.output) << "\n";
  return 0;
}

}  // namespace pcproxy::server
