#pragma once
// `pcproxy --probe URL`: one HTTP GET for container health checks (the image has no
// curl). Exit code 0 on a 2xx, 1 on any other answer or no answer, 2 on a bad URL.
// Thread-safety: a free function with its own io_context.
#include <chrono>
#include <ostream>
#include <string_view>

namespace pcproxy::server {

int probe(std::string_view url, std::chrono::milliseconds timeout, std::ostream& report);

}  // namespace pcproxy::server
