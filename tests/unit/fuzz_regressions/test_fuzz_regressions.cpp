// Regression tests for inputs found by the fuzz targets in fuzz/ (see fuzz/README.md). Each test
// names its target; the inputs are written inline (small) so the test explains the bug.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <string>

#include "cir/core.h"
#include "test_support.h"

namespace {

using cir::testing::TempDir;

// A version 1.0 .npy whose header dict is `header` (padded as numpy does) and data `payload`.
std::string npy_bytes(const std::string& header_dict, const std::string& payload) {
  std::string header = header_dict;
  header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + payload;
}

std::string write(const TempDir& dir, const std::string& name, const std::string& bytes) {
  const std::string path = dir.str(name);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

cir::ErrorCode npy_error(const std::string& header_dict, const std::string& payload = "") {
  TempDir dir;
  try {
    cir::read_npy(write(dir, "x.npy", npy_bytes(header_dict, payload)));
  } catch (const cir::Error& e) {
    return e.code();
  }
  ADD_FAILURE() << "read_npy accepted " << header_dict;
  return cir::ErrorCode::kInternal;
}

// fuzz target npy: a shape entry that is not a number escaped as std::invalid_argument
// (std::stoll), and a huge one as std::out_of_range, instead of cir::Error.
TEST(FuzzRegressionNpy, NonNumericShapeEntryIsCorrupt) {
  EXPECT_EQ(npy_error("{'descr': '<f4', 'fortran_order': False, 'shape': (a,), }"), cir::ErrorCode::kCorrupt);
  EXPECT_EQ(npy_error("{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }"), cir::ErrorCode::kCorrupt);
  EXPECT_EQ(npy_error("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }"),
            cir::ErrorCode::kCorrupt);
}

// fuzz target npy: dimensions whose product overflows int64 (signed overflow, UBSan) wrapped to
// a small byte count and were accepted with a data buffer shorter than the shape.
TEST(FuzzRegressionNpy, ShapeProductOverflowIsCorrupt) {
  EXPECT_EQ(npy_error("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", "abcd"),
            cir::ErrorCode::kCorrupt);
  EXPECT_EQ(npy_error("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }"),
            cir::ErrorCode::kCorrupt);
}

// fuzz target npy: an item size past int range went through std::atoi (undefined for values it
// cannot represent) and could wrap the byte count.
TEST(FuzzRegressionNpy, AbsurdItemSizeIsCorrupt) {
  EXPECT_EQ(npy_error("{'descr': '<f99999999999', 'fortran_order': False, 'shape': (1,), }", "abcd"),
            cir::ErrorCode::kCorrupt);
}

// What the stricter shape parser must keep reading: spaces, a trailing comma, an empty shape
// (a scalar), a zero dimension, and Python 2's "3L" longs.
TEST(FuzzRegressionNpy, ValidShapesStillRead) {
  TempDir dir;
  const std::string f4x6(24, '\0');
  auto read = [&](const std::string& header, const std::string& payload) {
    return cir::read_npy(write(dir, "ok.npy", npy_bytes(header, payload)));
  };
  EXPECT_EQ(read("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", f4x6).shape,
            (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(read("{'descr': '<f4', 'fortran_order': False, 'shape': ( 6 , ), }", f4x6).shape, (std::vector<int64_t>{6}));
  EXPECT_EQ(read("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", "abcd").shape, (std::vector<int64_t>{}));
  EXPECT_EQ(read("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5), }", "").data.size(), 0u);
  EXPECT_EQ(read("{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }", f4x6).shape,
            (std::vector<int64_t>{2, 3}));
}

// fuzz target npy (crash-5c498577): as_floats of an empty float array called memcpy with the
// empty vectors' null data pointers (UBSan: null passed as a nonnull argument).
TEST(FuzzRegressionNpy, EmptyArrayAsFloats) {
  TempDir dir;
  for (const char* descr : {"<f4", "<f2", "<f8"}) {
    const std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (0, 3), }";
    const cir::NpyArray arr = cir::read_npy(write(dir, "empty.npy", npy_bytes(header, "")));
    EXPECT_TRUE(arr.as_floats().empty()) << descr;
  }
}

}  // namespace
