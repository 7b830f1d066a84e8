#include "tests/support/temp_dir.hpp"

#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

namespace pcproxy::testing {

temp_dir::temp_dir() {
  auto pattern = (std::filesystem::temp_directory_path() / "pcproxy-test-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed for " + pattern);
  path_ = pattern;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  // A test may have taken write permission away: give it back so removal works.
  for (auto it = std::filesystem::recursive_directory_iterator(path_, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
    if (it->is_directory(ec)) ::chmod(it->path().c_str(), 0700);
  ::chmod(path_.c_str(), 0700);
  std::filesystem::remove_all(path_, ec);
}

}  // namespace pcproxy::testing
