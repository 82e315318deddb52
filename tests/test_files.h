// Files for tests: a fresh scratch directory per test, and whole-file reads and writes.
//
// Thread-safety: call from the test's own thread.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace embark {

// The bytes of `path` ("" when it cannot be read).
inline std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Replaces `path` with `bytes`.
inline void Spit(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << bytes;
}

// An empty directory of its own for the running test: under the test temp dir, named after
// the test suite, the process and `name`, emptied first (a failed earlier run may have left it).
inline std::string FreshDir(const std::string& name) {
  const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string suite = test != nullptr ? test->test_suite_name() : "test";
  const std::string dir = ::testing::TempDir() + "/embark_" + suite + "_" + std::to_string(getpid()) + "_" + name;
  const int rc = std::system(("rm -rf '" + dir + "' && mkdir -p '" + dir + "'").c_str());
  EXPECT_EQ(rc, 0) << "cannot create " << dir;
  return dir;
}

}  // namespace embark
