#pragma once
// A fresh directory under the system temp directory, removed with everything in it
// when the object goes (tests of the disk tier, files the tests write).
#include <filesystem>
#include <string>

namespace pcproxy::testing {

class temp_dir {
public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::string& path() const noexcept { return path_; }
  /// path() / name.
  std::string operator/(const std::string& name) const { return (std::filesystem::path(path_) / name).string(); }

private:
  std::string path_;
};

}  // namespace pcproxy::testing
