#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <future>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cir/core.h"
#include "cir/regular_file.h"
#include "test_support.h"

namespace cir {
namespace {

TEST(Core, Sha256OfKnownStrings) {
  const std::string abc = "abc";
  EXPECT_EQ(sha256_hex({reinterpret_cast<const uint8_t*>(abc.data()), abc.size()}),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex({}), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Core, TrimSpaceAndCsvRecords) {
  EXPECT_EQ(trim_space(" \t a b \r\n"), "a b");
  EXPECT_EQ(trim_space(" \n\t"), "");
  EXPECT_EQ(trim_space(""), "");
  size_t pos = 0;
  const std::string text = "a,\"b, \"\"c\"\"\",\r\nlast";
  EXPECT_EQ(parse_csv_record(text, pos, "t"), (std::vector<std::string>{"a", "b, \"c\"", ""}));
  EXPECT_EQ(parse_csv_record(text, pos, "t"), (std::vector<std::string>{"last"}));
  EXPECT_TRUE(parse_csv_record(text, pos, "t").empty());
  size_t bad = 0;
  EXPECT_THROW(parse_csv_record("\"open", bad, "t"), Error);
}

TEST(Core, NpyRoundTripFloat32) {
  testing::TempDir dir;
  const std::vector<float> values = {1.f, -2.5f, 3.25f, 0.f, 1e-8f, 7.f};
  write_npy_f32(dir.str("a.npy"), {2, 3}, values);
  const NpyArray arr = read_npy(dir.str("a.npy"));
  EXPECT_EQ(arr.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(arr.dtype, "f4");
  EXPECT_EQ(arr.as_floats(), values);
  // numpy pads the header so data starts at a multiple of 64.
  EXPECT_EQ(std::filesystem::file_size(dir.str("a.npy")) % 64, (values.size() * 4) % 64);
}

TEST(Core, NpyRejectsGarbageAndTruncation) {
  testing::TempDir dir;
  write_file_atomic(dir.str("bad.npy"), "not an npy file at all");
  EXPECT_THROW(read_npy(dir.str("bad.npy")), Error);
  write_npy_f32(dir.str("t.npy"), {100}, std::vector<float>(100, 1.f));
  auto bytes = read_file_bytes(dir.str("t.npy"));
  bytes.resize(bytes.size() - 10);
  write_file_atomic(dir.str("t.npy"), std::string(bytes.begin(), bytes.end()));
  try {
    read_npy(dir.str("t.npy"));
    FAIL() << "truncated npy accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
    EXPECT_NE(std::string(e.what()).find("t.npy"), std::string::npos);
  }
}

TEST(Core, HalfConversionsRoundTripAndRound) {
  for (float v : {0.f, 1.f, -1.f, 0.5f, 65504.f, 6.1035156e-05f, 5.9604645e-08f, -3.140625f})
    EXPECT_EQ(half_to_float(float_to_half(v)), v) << v;
  EXPECT_EQ(float_to_half(1.0f + 1.0f / 4096), float_to_half(1.0f));  // ties to even
  EXPECT_TRUE(std::isinf(half_to_float(float_to_half(1e6f))));
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.5f)), 1.5f);
  EXPECT_NEAR(bf16_to_float(float_to_bf16(3.14159f)), 3.14159f, 0.02f);
}

TEST(Core, ReadMissingFileIsNotFoundNamingPath) {
  try {
    read_file_bytes("/nonexistent/cir/file.bin");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/cir/file.bin"), std::string::npos);
  }
}

// Runs fn on a thread; if it has not returned within 20 s it is stuck in open() on `fifo`, so
// a writer is opened to release it and the test fails instead of hanging (a regression guard,
// not a timing assertion: a working reader returns at once).
template <typename Fn>
void expect_returns_without_blocking(const std::string& fifo, Fn fn) {
  auto done = std::async(std::launch::async, fn);
  if (done.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    const int w = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    done.wait();
    if (w >= 0) ::close(w);
    FAIL() << "reading FIFO '" << fifo << "' blocked";
  }
  done.get();
}

template <typename Fn>
void expect_refused_naming(const std::string& path, ErrorCode code, const std::string& word, Fn fn) {
  try {
    fn();
    ADD_FAILURE() << "'" << path << "' was read";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(word), std::string::npos) << e.what();
  }
}

TEST(Core, ReadersRefuseFifosWithoutBlocking) {
  testing::TempDir dir;
  const std::string fifo = dir.str("pipe.png");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  expect_returns_without_blocking(fifo, [&] {
    expect_refused_naming(fifo, ErrorCode::kInvalidArgument, "FIFO", [&] { read_file_bytes(fifo); });
    expect_refused_naming(fifo, ErrorCode::kInvalidArgument, "FIFO", [&] { read_file_text(fifo); });
    expect_refused_naming(fifo, ErrorCode::kInvalidArgument, "FIFO", [&] { sha256_file(fifo); });
    expect_refused_naming(fifo, ErrorCode::kInvalidArgument, "FIFO", [&] { RegularFile f(fifo, "weights"); });
  });
  // Through a symlink too: the link is followed and its target judged.
  const std::string link = dir.str("link.png");
  ASSERT_EQ(::symlink(fifo.c_str(), link.c_str()), 0);
  expect_returns_without_blocking(fifo, [&] {
    expect_refused_naming(link, ErrorCode::kInvalidArgument, "FIFO", [&] { read_file_bytes(link); });
  });
}

TEST(Core, ReadersRefuseDirectoriesDevicesLoopsAndDanglingLinks) {
  testing::TempDir dir;
  expect_refused_naming(dir.str(), ErrorCode::kInvalidArgument, "directory", [&] { read_file_bytes(dir.str()); });
  const std::string dev = dir.str("zero.png");
  ASSERT_EQ(::symlink("/dev/zero", dev.c_str()), 0);
  // /dev/zero never ends: a reader that accepted it would never return.
  expect_refused_naming(dev, ErrorCode::kInvalidArgument, "character device", [&] { read_file_bytes(dev); });
  const std::string a = dir.str("a.png"), b = dir.str("b.png");
  ASSERT_EQ(::symlink(b.c_str(), a.c_str()), 0);
  ASSERT_EQ(::symlink(a.c_str(), b.c_str()), 0);
  expect_refused_naming(a, ErrorCode::kInvalidArgument, "symbolic links", [&] { sha256_file(a); });
  const std::string dangling = dir.str("gone.png");
  ASSERT_EQ(::symlink(dir.str("nowhere.png").c_str(), dangling.c_str()), 0);
  expect_refused_naming(dangling, ErrorCode::kNotFound, "No such file", [&] { read_file_bytes(dangling); });
}

TEST(Core, RegularFileReadsAndHashesWholeFiles) {
  testing::TempDir dir;
  write_file_atomic(dir.str("abc.txt"), "abc");
  RegularFile f(dir.str("abc.txt"));
  EXPECT_EQ(f.size(), 3);
  EXPECT_EQ(f.read_all(), (std::vector<uint8_t>{'a', 'b', 'c'}));
  EXPECT_EQ(sha256_file(dir.str("abc.txt")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(read_file_text(dir.str("abc.txt")), "abc");
}

TEST(Core, ParallelForVisitsAllAndRethrows) {
  std::vector<std::atomic<int>> seen(1000);
  parallel_for(1000, 4, [&](int64_t i) { seen[i]++; });
  for (auto& s : seen) EXPECT_EQ(s.load(), 1);
  EXPECT_THROW(parallel_for(100, 3, [](int64_t i) {
                 if (i == 42) throw Error(ErrorCode::kInternal, "boom");
               }),
               Error);
}

TEST(Core, NormalizeRows) {
  FloatMatrix m(2, 2);
  m.data = {3.f, 4.f, 0.f, 0.f};
  normalize_rows(m);
  EXPECT_FLOAT_EQ(m.data[0], 0.6f);
  EXPECT_FLOAT_EQ(m.data[1], 0.8f);
  EXPECT_EQ(m.data[2], 0.f);
}

TEST(Core, ResizeModeNames) {
  EXPECT_EQ(parse_resize_mode("squash"), ResizeMode::kSquash);
  EXPECT_EQ(resize_mode_name(parse_resize_mode("targetpad")), "targetpad");
  EXPECT_THROW(parse_resize_mode("bogus"), Error);
}

}  // namespace
}  // namespace cir
