// Regression tests for the libtorch-side readers (the fuzz targets of fuzz/ that need
// -DCIR_FUZZ_TORCH=ON; see fuzz/README.md). Inputs are written inline.
#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "cir/core.h"
#include "compose/checkpoint.h"
#include "compose/torch_pickle.h"
#include "model/safetensors.h"
#include "test_support.h"

namespace {

using cir::testing::TempDir;

// A torch.save-style zip holding `pickle` as data.pkl (what fuzz_torch_pickle builds per input).
std::string write_archive(const TempDir& dir, const std::string& pickle) {
  const std::string path = dir.str("input.pt");
  std::ofstream out(path, std::ios::binary);
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* buf, size_t n) -> size_t {
    out.write(static_cast<const char*>(buf), static_cast<std::streamsize>(n));
    return n;
  });
  writer.writeRecord("data.pkl", pickle.data(), pickle.size());
  writer.writeEndOfFile();
  return path;
}

// torch_pickle: BINGET / LONG_BINGET of a memo index never PUT threw std::out_of_range
// (std::map::at), which read_state_dict's callers do not expect (they translate cir::Error and
// c10::Error only).
TEST(FuzzRegressionTorchPickle, UnknownMemoIndexIsCorrupt) {
  TempDir dir;
  for (const std::string& pickle : {std::string("\x80\x02h\x05.", 5), std::string("\x80\x02j\x07\x00\x00\x00.", 8)}) {
    const std::string path = write_archive(dir, pickle);
    try {
      cir::compose::detail::load_torch_pickle(path);
      ADD_FAILURE() << "accepted a dangling memo reference";
    } catch (const cir::Error& e) {
      EXPECT_EQ(e.code(), cir::ErrorCode::kCorrupt);
      EXPECT_NE(std::string(e.what()).find("memo"), std::string::npos) << e.what();
    }
    try {
      cir::compose::detail::read_state_dict(path, "");
      ADD_FAILURE() << "read_state_dict accepted a dangling memo reference";
    } catch (const cir::Error& e) {
      EXPECT_EQ(e.code(), cir::ErrorCode::kCorrupt);
    }
  }
}

// A memo reference that was stored still works (what torch.save writes for shared storages).
TEST(FuzzRegressionTorchPickle, StoredMemoIndexStillReads) {
  TempDir dir;
  const auto v = cir::compose::detail::load_torch_pickle(write_archive(dir, std::string("\x80\x02K\x07q\x01h\x01\x86.", 10)));
  ASSERT_EQ(v->kind, cir::compose::detail::PyValue::Kind::kTuple);
  ASSERT_EQ(v->items.size(), 2u);
  EXPECT_EQ(v->items[0]->i, 7);
  EXPECT_EQ(v->items[1]->i, 7);
}

// safetensors (found by reading while writing fuzz_safetensors): a shape entry above 2^63 - 1
// after a zero dimension passed the overflow check (the product stays 0), became -1 in the
// tensor shape, and load_float threw c10::Error instead of the file failing at open.
TEST(FuzzRegressionSafetensors, ShapeEntryPastInt64IsCorrupt) {
  TempDir dir;
  const std::string header = R"({"t":{"dtype":"F32","shape":[0,18446744073709551615],"data_offsets":[0,0]}})";
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[static_cast<size_t>(i)] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  bytes += header;
  const std::string path = dir.str("t.safetensors");
  std::ofstream(path, std::ios::binary) << bytes;
  try {
    cir::model::detail::SafetensorsFile file(path);
    ADD_FAILURE() << "opened a shape entry past int64";
  } catch (const cir::Error& e) {
    EXPECT_EQ(e.code(), cir::ErrorCode::kCorrupt);
    EXPECT_NE(std::string(e.what()).find("exceeds"), std::string::npos) << e.what();
  }
}

}  // namespace
