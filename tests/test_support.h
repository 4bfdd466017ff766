// Helpers shared by cir's tests: where the shared fixtures are, and skipping when absent.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace cir::testing {

/// ../shared beside the checkout (CIR_SHARED_DIR at configure time, or $CIR_SHARED_DIR).
inline std::string shared_dir() {
  if (const char* env = std::getenv("CIR_SHARED_DIR")) return env;
  return CIR_SHARED_DIR;
}

inline std::string fixture_path(const std::string& relative) { return shared_dir() + "/" + relative; }

inline std::string source_path(const std::string& relative) { return std::string(CIR_SOURCE_DIR) + "/" + relative; }

/// A fresh temporary directory, removed by the caller's TempDir destructor.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           ("cir-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string str(const std::string& child = "") const { return child.empty() ? path.string() : (path / child).string(); }
  static int& counter() {
    static int c = 0;
    return c;
  }
};

}  // namespace cir::testing

/// Skips the current test with a clear message when a shared fixture is missing.
#define CIR_REQUIRE_FIXTURE(relative)                                                               \
  do {                                                                                              \
    if (!std::filesystem::exists(::cir::testing::fixture_path(relative)))                           \
      GTEST_SKIP() << "shared fixture '" << ::cir::testing::fixture_path(relative)                  \
                   << "' is absent; place ../shared beside the checkout to run this test";          \
  } while (0)
