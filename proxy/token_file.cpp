#include "proxy/token_file.hpp"

#include "core/log.hpp"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

namespace pcproxy::proxy {

token_file::token_file(std::string path) : path_(std::move(path)) {}

std::shared_ptr<const std::string> token_file::authorization() {
  if (path_.empty()) return nullptr;
  std::lock_guard lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  if (value_ && now - checked_ < std::chrono::seconds(1)) return value_;
  checked_ = now;

  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    if (value_) core::logger("proxy")->error("token file {} disappeared; requests without Authorization now get 401", path_);
    value_.reset();
    size_ = -1;
    return nullptr;
  }
  if (value_ && st.st_mtim.tv_sec == modified_.tv_sec && st.st_mtim.tv_nsec == modified_.tv_nsec &&
      st.st_size == size_)
    return value_;

  std::ifstream in(path_, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  std::string token = buf.str();
  const auto first = token.find_first_not_of(" \t\r\n");
  const auto last = token.find_last_not_of(" \t\r\n");
  token = first == std::string::npos ? std::string{} : token.substr(first, last - first + 1);
  modified_ = st.st_mtim;
  size_ = st.st_size;
  if (token.empty() || token.find_first_of("\r\n") != std::string::npos) {
    core::logger("proxy")->error("token file {} is empty or holds more than one line; it is not used", path_);
    value_.reset();
    return nullptr;
  }
  const bool has_scheme = token.size() > 7 && (token.compare(0, 7, "Bearer ") == 0 || token.compare(0, 7, "bearer ") == 0);
  value_ = std::make_shared<const std::string>(has_scheme ? token : "Bearer " + token);
  core::logger("proxy")->info("token file {} loaded", path_);
  return value_;
}

}  // namespace pcproxy::proxy
