#pragma once
// `pcproxy export`: a client of the collection endpoint for people and cron jobs.
//
//   pcproxy export /v1/customers/usagerecords --format csv --output usage.csv
//                  [--proxy http://127.0.0.1:8080] [--token-file F]
//
// The output goes to FILE.partial and is renamed to FILE only when the collection is
// complete; on any failure the partial file is removed and the exit status is 1 with
// the reason on stderr. While stderr is a terminal a progress line is redrawn (items,
// bytes, rate, elapsed); otherwise one summary line is printed at the end, with pages
// from the cache against pages fetched (from the response's Pcproxy-Collection trailer).
// Exit status: 0 complete, 1 failed, 2 usage.
// Thread-safety: a free function with its own io_context.
#include <ostream>
#include <string>
#include <vector>

namespace pcproxy::server {

/// Runs the command; `args` are those after "export".
int export_collection(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace pcproxy::server
