// fake-partner-center: the test fake as a standalone server, for the demo
// (scripts/run --demo) and for trying pcproxy by hand.
#include "tests/support/fake_partner_center.hpp"

#include <boost/program_options.hpp>

#include <csignal>
#include <fstream>
#include <iostream>
#include <sstream>

namespace po = boost::program_options;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description flags("fake-partner-center options");
  // clang-format off
  flags.add_options()
    ("host", po::value<std::string>()->default_value("127.0.0.1"), "address to listen on")
    ("port", po::value<unsigned>()->default_value(18070), "port to listen on (0: any free port)")
    ("customers", po::value<std::size_t>()->default_value(25), "usage records per caller")
    ("page-size", po::value<std::size_t>()->default_value(10), "default page size (the size query parameter overrides)")
    ("bom", "start JSON bodies with a UTF-8 byte-order mark")
    ("delay-ms", po::value<unsigned>()->default_value(0), "answer every request after this many milliseconds")
    ("script", po::value<std::vector<std::string>>()->composing(),
     "PATH=STEPS: scripted answers for paths starting with PATH, e.g. /v1/customers/usagerecords=500,500,200 "
     "(a trailing * repeats; steps: a status, reset, reset-mid-body, truncate, malformed, stall, trickle; "
     "options :retry-after=N, :retry-after-date=+N, :delay=MS)")
    ("flaky", "usage records fail now and then (503, 500, 429 with Retry-After): for the demo")
    ("control-port", po::value<unsigned>(), "serve the control API on this port (0: any free port)")
    ("tls-cert", po::value<std::string>(), "PEM certificate chain: serve HTTPS")
    ("tls-key", po::value<std::string>(), "PEM private key for --tls-cert")
    ("client-id", po::value<std::string>()->default_value("fake-client-id"),
     "the app the identity endpoint (POST /<tenant>/oauth2/token) knows")
    ("client-secret-file", po::value<std::string>(), "a file with that app's secret (default: fake-client-secret)")
    ("refresh-token-file", po::value<std::string>(),
     "a file with the refresh token valid at start (default: fake-refresh-token-0)")
    ("token-lifetime-s", po::value<unsigned>()->default_value(3600), "lifetime of the access tokens it issues")
    ("require-issued-tokens", "Partner Center paths accept only unexpired access tokens the identity endpoint issued")
    ("help,h", "show this help");
  // clang-format on
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, flags), vm);
    po::notify(vm);
    if (vm.count("help")) {
      std::cout << "fake-partner-center: a stand-in for the Partner Center API (pcproxy tests and demo)\n\n"
                << flags;
      return 0;
    }
    if (vm.count("tls-cert") != vm.count("tls-key")) throw std::runtime_error("--tls-cert needs --tls-key");
    if (vm["port"].as<unsigned>() > 65535) throw std::runtime_error("--port must be at most 65535");

    pcproxy::testing::fake_options options;
    options.host = vm["host"].as<std::string>();
    options.port = static_cast<std::uint16_t>(vm["port"].as<unsigned>());
    options.customers = vm["customers"].as<std::size_t>();
    options.page_size = vm["page-size"].as<std::size_t>();
    options.bom = vm.count("bom") > 0;
    if (vm.count("tls-cert")) {
      options.tls_cert_pem = read_file(vm["tls-cert"].as<std::string>());
      options.tls_key_pem = read_file(vm["tls-key"].as<std::string>());
    }

    options.client_id = vm["client-id"].as<std::string>();
    auto first_line = [](std::string text) { return text.substr(0, text.find_first_of("\r\n")); };
    if (vm.count("client-secret-file")) options.client_secret = first_line(read_file(vm["client-secret-file"].as<std::string>()));
    if (vm.count("refresh-token-file")) options.refresh_token = first_line(read_file(vm["refresh-token-file"].as<std::string>()));
    options.token_lifetime = std::chrono::seconds(vm["token-lifetime-s"].as<unsigned>());
    options.require_issued_tokens = vm.count("require-issued-tokens") > 0;

    if (vm.count("control-port")) {
      options.control = true;
      options.control_port = static_cast<std::uint16_t>(vm["control-port"].as<unsigned>());
    }
    std::vector<std::pair<std::string, pcproxy::testing::fault_script>> scripts;
    if (vm.count("flaky"))
      scripts.emplace_back("/v1/customers/usagerecords", pcproxy::testing::parse_script(pcproxy::testing::flaky_script));
    if (vm.count("script"))
      for (const auto& spec : vm["script"].as<std::vector<std::string>>()) {
        const auto eq = spec.find('=');
        if (eq == std::string::npos || spec.front() != '/') throw std::runtime_error("--script wants PATH=STEPS, got " + spec);
        scripts.emplace_back(spec.substr(0, eq), pcproxy::testing::parse_script(spec.substr(eq + 1)));
      }

    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);  // before the server thread starts

    pcproxy::testing::fake_partner_center fake(options);
    if (const auto delay = vm["delay-ms"].as<unsigned>(); delay > 0)
      fake.set_delay("/", std::chrono::milliseconds(delay));
    for (const auto& [path, script] : scripts) fake.script(path, script);
    std::cout << "fake Partner Center listening on " << fake.url() << std::endl;
    if (options.control)
      std::cout << "fake Partner Center control API on http://" << options.host << ":" << fake.control_port()
                << std::endl;
    int signal = 0;
    sigwait(&stop_signals, &signal);
    std::cout << "fake Partner Center stopping after " << fake.count() << " request(s)" << std::endl;
    fake.stop();
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "fake-partner-center: " << e.what() << "\n";
    return 2;
  }
}
