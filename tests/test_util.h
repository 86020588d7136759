// Helpers shared by kvstash tests.
#ifndef KVSTASH_TESTS_TEST_UTIL_H_
#define KVSTASH_TESTS_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "serde/status.h"

#define ASSERT_OK(expr)                                     \
  do {                                                      \
    const ::kvstash::Status _s = (expr);                    \
    ASSERT_TRUE(_s.ok()) << #expr << ": " << _s.ToString(); \
  } while (0)
#define EXPECT_OK(expr)                                     \
  do {                                                      \
    const ::kvstash::Status _s = (expr);                    \
    EXPECT_TRUE(_s.ok()) << #expr << ": " << _s.ToString(); \
  } while (0)

namespace kvstash::testing {

// A fresh directory under the test temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    std::string base = std::filesystem::temp_directory_path() / "kvstash-test-XXXXXX";
    path_ = mkdtemp(base.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace kvstash::testing

#endif  // KVSTASH_TESTS_TEST_UTIL_H_
