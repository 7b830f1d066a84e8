#include "core/secret_file.hpp"

#include <fstream>
#include <iterator>
#include <stdexcept>

namespace pcproxy::core {

std::string read_secret_file(const std::string& path, std::string_view key) {
  std::ifstream in(path);
  std::string value((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in && !in.eof()) throw std::runtime_error(std::string(key) + ": cannot read \"" + path + "\"");
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r' || value.back() == ' ' || value.back() == '\t'))
    value.pop_back();
  if (value.empty()) throw std::runtime_error(std::string(key) + ": \"" + path + "\" is empty");
  return value;
}

}  // namespace pcproxy::core
