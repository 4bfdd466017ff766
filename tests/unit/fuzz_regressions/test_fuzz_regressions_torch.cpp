// Regression tests for the libtorch side of the readers the fuzz targets of fuzz/ exercise
// (see fuzz/README.md): the byte-level parsers are std-only and tested in
// test_fuzz_regressions.cpp; here their findings are checked through the callers that build
// tensors (compose's read_state_dict, the BLIP-2 family's read_torch_checkpoint), which must keep
// reporting cir::Error naming the file. Inputs are written inline.
#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <string>

#include "cir/core.h"
#include "compose/checkpoint.h"
#include "model/blip2_net.h"
#include "test_support.h"

namespace {

using cir::testing::TempDir;
using namespace std::string_literals;  // pickles hold NUL bytes

// A torch.save-style zip holding `pickle` as data.pkl and the given storage records.
std::string write_archive(const TempDir& dir, const std::string& pickle,
                          const std::map<std::string, std::string>& records = {}) {
  const std::string path = dir.str("input.pt");
  std::ofstream out(path, std::ios::binary);
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* buf, size_t n) -> size_t {
    out.write(static_cast<const char*>(buf), static_cast<std::streamsize>(n));
    return n;
  });
  writer.writeRecord("data.pkl", pickle.data(), pickle.size());
  for (const auto& [name, bytes] : records) writer.writeRecord(name, bytes.data(), bytes.size());
  writer.writeEndOfFile();
  return path;
}

// {"model": {"w": FloatStorage "0" of 4 elements viewed as [2, 2]}} as torch.save writes it.
std::string one_tensor_checkpoint() {
  return "\x80\x02}X\x05\x00\x00\x00"s + "model}X\x01\x00\x00\x00"s + "wctorch._utils\n_rebuild_tensor_v2\n((" +
         "X\x07\x00\x00\x00"s + "storagectorch\nFloatStorage\n" + "X\x01\x00\x00\x00"s + "0" + "X\x03\x00\x00\x00"s +
         "cpuK\x04tQK\x00(K\x02K\x02t(K\x02K\x01t\x89}tRss."s;
}

template <typename F>
cir::Error error_of(F&& f) {
  try {
    f();
  } catch (const cir::Error& e) {
    return e;
  }
  ADD_FAILURE() << "no cir::Error";
  return cir::Error(cir::ErrorCode::kInternal, "");
}

// torch_pickle: BINGET / LONG_BINGET of a memo index never PUT threw std::out_of_range
// (std::map::at), which read_state_dict's callers do not expect (they translate cir::Error and
// c10::Error only).
TEST(FuzzRegressionTorchPickle, UnknownMemoIndexIsCorruptThroughTheReaders) {
  TempDir dir;
  for (const std::string& pickle : {"\x80\x02h\x05."s, "\x80\x02j\x07\x00\x00\x00."s}) {
    const std::string path = write_archive(dir, pickle);
    const cir::Error compose = error_of([&] { cir::compose::detail::read_state_dict(path, ""); });
    EXPECT_EQ(compose.code(), cir::ErrorCode::kCorrupt);
    EXPECT_NE(std::string(compose.what()).find("memo"), std::string::npos) << compose.what();
    const cir::Error model = error_of([&] { cir::model::detail::read_torch_checkpoint(path, true); });
    EXPECT_EQ(model.code(), cir::ErrorCode::kCorrupt);
    EXPECT_NE(std::string(model.what()).find(path), std::string::npos) << model.what();
  }
}

// The tensors of a well-formed archive, through both readers.
TEST(FuzzRegressionTorchPickle, TensorsMaterialiseThroughBothReaders) {
  TempDir dir;
  const float values[4] = {1, 2, 3, 4};
  const std::string path =
      write_archive(dir, one_tensor_checkpoint(), {{"data/0", std::string(reinterpret_cast<const char*>(values), 16)}});
  const auto state = cir::compose::detail::read_state_dict(path, "model");
  ASSERT_EQ(state.count("w"), 1u);
  EXPECT_TRUE(state.at("w").equal(at::tensor({1.0f, 2.0f, 3.0f, 4.0f}).reshape({2, 2})));
  const auto checkpoint = cir::model::detail::read_torch_checkpoint(path, /*read_tensors=*/false);
  ASSERT_EQ(checkpoint.state_dicts.at("model").size(), 1u);
  EXPECT_TRUE(checkpoint.state_dicts.at("model")[0].second.is_meta());
  EXPECT_EQ(checkpoint.state_dicts.at("model")[0].second.sizes().vec(), (std::vector<int64_t>{2, 2}));
}

// Storage records the pickle names but the zip lacks, or holds short, are kCorrupt naming the
// file and the record, in both readers (the unpickler cannot see the zip; TorchArchive checks).
TEST(FuzzRegressionTorchPickle, MissingOrShortStorageRecordIsCorrupt) {
  TempDir dir;
  for (const std::map<std::string, std::string>& records :
       {std::map<std::string, std::string>{}, std::map<std::string, std::string>{{"data/0", std::string(15, '\0')}}}) {
    const std::string path = write_archive(dir, one_tensor_checkpoint(), records);
    const cir::Error compose = error_of([&] { cir::compose::detail::read_state_dict(path, "model"); });
    EXPECT_EQ(compose.code(), cir::ErrorCode::kCorrupt);
    EXPECT_NE(std::string(compose.what()).find("data/0"), std::string::npos) << compose.what();
    EXPECT_NE(std::string(compose.what()).find(path), std::string::npos) << compose.what();
    const cir::Error model = error_of([&] { cir::model::detail::read_lavis_state_dict(path); });
    EXPECT_EQ(model.code(), cir::ErrorCode::kCorrupt);
    EXPECT_NE(std::string(model.what()).find("data/0"), std::string::npos) << model.what();
  }
}

}  // namespace
