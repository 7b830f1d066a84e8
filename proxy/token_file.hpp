#pragma once
// A bearer token kept in a file (upstream.token_file, admin.token_file), re-read when the
// file changes so an external refresher can rotate it without restarting pcproxy.
// Thread-safety: value() is safe from any thread.
#include <chrono>
#include <ctime>
#include <memory>
#include <mutex>
#include <string>

namespace pcproxy::proxy {

class token_file {
public:
  /// `path` empty means "no token configured".
  explicit token_file(std::string path);

  bool configured() const noexcept { return !path_.empty(); }

  /// The token as an Authorization value ("Bearer ..."; a file that already holds
  /// "Bearer ..." is used as is), or nullptr when the file is missing or empty.
  /// Looks at the file at most once a second.
  std::shared_ptr<const std::string> authorization();

private:
  const std::string path_;
  std::mutex mutex_;
  std::chrono::steady_clock::time_point checked_{};
  std::timespec modified_{};
  off_t size_ = -1;
  std::shared_ptr<const std::string> value_;
};

}  // namespace pcproxy::proxy
