// Regression tests for inputs found by the fuzz targets in fuzz/ (see fuzz/README.md). Each test
// names its target; the inputs are written inline (small) so the test explains the bug.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <string>

#include "cir/core.h"
#include "model/config.h"
#include "model/safetensors_header.h"
#include "model/torch_pickle.h"
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

// ---------------------------------------------------------------------------------------------
// torch_pickle (src/model/torch_pickle.cpp, std-only since the unpickler left libtorch)

using cir::model::detail::PyValue;
using cir::model::detail::unpickle_torch_save;
using namespace std::string_literals;  // pickles hold NUL bytes

// The error code (and message, when `message`) unpickle_torch_save refuses `pickle` with.
cir::ErrorCode unpickle_error(const std::string& pickle, std::string* message = nullptr) {
  try {
    unpickle_torch_save(pickle);
  } catch (const cir::Error& e) {
    if (message) *message = e.what();
    return e.code();
  }
  ADD_FAILURE() << "unpickled a damaged pickle";
  return cir::ErrorCode::kInternal;
}

// A torch._utils._rebuild_tensor_v2 call over storage "0" (FloatStorage of `numel` elements)
// with the given offset and one-dimensional size and stride (each an 8-byte LONG1).
std::string tensor_pickle(int64_t numel, int64_t offset, int64_t size, int64_t stride) {
  auto long1 = [](int64_t v) {
    std::string out = "\x8a\x08";
    for (int i = 0; i < 8; ++i) out += static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff);
    return out;
  };
  const std::string head = "\x80\x02"s + "ctorch._utils\n_rebuild_tensor_v2\n((" + "X\x07\x00\x00\x00"s + "storage" +
                           "ctorch\nFloatStorage\n" + "X\x01\x00\x00\x00"s + "0" + "X\x03\x00\x00\x00"s + "cpu";
  return head + long1(numel) + "tQ" + long1(offset) + "(" + long1(size) + "t(" + long1(stride) +
         "t\x89}tR.";
}

// torch_pickle: BINGET / LONG_BINGET of a memo index never PUT threw std::out_of_range
// (std::map::at), which read_state_dict's callers do not expect (they translate cir::Error and
// c10::Error only).
TEST(FuzzRegressionTorchPickle, UnknownMemoIndexIsCorrupt) {
  for (const std::string& pickle : {"\x80\x02h\x05."s, "\x80\x02j\x07\x00\x00\x00."s}) {
    std::string message;
    EXPECT_EQ(unpickle_error(pickle, &message), cir::ErrorCode::kCorrupt);
    EXPECT_NE(message.find("memo"), std::string::npos) << message;
    EXPECT_EQ(message.rfind("data.pkl at byte ", 0), 0u) << message;
  }
}

// A memo reference that was stored still works (what torch.save writes for shared storages).
TEST(FuzzRegressionTorchPickle, StoredMemoIndexStillReads) {
  const auto tree = unpickle_torch_save("\x80\x02K\x07q\x01h\x01\x86."s);
  const PyValue& v = tree.root();
  ASSERT_EQ(v.kind, PyValue::Kind::kTuple);
  ASSERT_EQ(v.items.size(), 2u);
  EXPECT_EQ(v.items[0]->i, 7);
  EXPECT_EQ(v.items[1]->i, 7);
}

// torch_pickle (found by reading while moving the unpickler out of libtorch): a list appended to
// itself through the memo made a shared_ptr cycle, leaked (LeakSanitizer) on every such input.
// The values now live in the tree's arena; the cycle is kept, as Python keeps it.
TEST(FuzzRegressionTorchPickle, SelfReferenceIsKeptWithoutLeaking) {
  const auto tree = unpickle_torch_save("\x80\x02]q\x00h\x00" "a."s);
  const PyValue& list = tree.root();
  ASSERT_EQ(list.kind, PyValue::Kind::kList);
  ASSERT_EQ(list.items.size(), 1u);
  EXPECT_EQ(list.items[0], &list);
}

// torch_pickle (found by reading): an opcode after a MARK could pop values from below it, so the
// mark pointed past the stack's end and TUPLE built a vector from an iterator beyond end()
// (undefined behaviour). As in Python, a MARK now opens a frame pops cannot cross.
TEST(FuzzRegressionTorchPickle, PopBelowMarkIsCorrupt) {
  std::string message;
  EXPECT_EQ(unpickle_error("\x80\x02K\x01](at."s, &message), cir::ErrorCode::kCorrupt);
  EXPECT_NE(message.find("underflow"), std::string::npos) << message;
  EXPECT_EQ(unpickle_error("\x80\x02K\x01(\x85t."s), cir::ErrorCode::kCorrupt);
}

// torch_pickle (found by reading): LONG1 with more than 8 bytes shifted a uint64 by 64 or more
// (undefined) in compose's unpickler; only blip2_pickle.cpp's refused it.
TEST(FuzzRegressionTorchPickle, LongerThan64BitLong1IsCorrupt) {
  EXPECT_EQ(unpickle_error("\x80\x02\x8a\x09\x01\x02\x03\x04\x05\x06\x07\x08\x09."s),
            cir::ErrorCode::kCorrupt);
  const auto tree = unpickle_torch_save("\x80\x02\x8a\x02\xff\x7f."s);
  EXPECT_EQ(tree.root().i, 32767);
  EXPECT_EQ(unpickle_torch_save("\x80\x02\x8a\x01\xfe."s).root().i, -2);
}

// torch_pickle (found by reading): a view reaching past its storage was taken by as_strided in
// compose's reader (c10::Error at best), and blip2_pickle.cpp's bound (offset + (size - 1) *
// stride) overflowed int64 for huge strides (undefined behaviour, then a wrapped bound that
// passed). The description is now checked with overflow-safe arithmetic before libtorch sees it.
TEST(FuzzRegressionTorchPickle, TensorPastItsStorageIsCorrupt) {
  const auto ok = unpickle_torch_save(tensor_pickle(16, 4, 4, 3));  // elements 4, 7, 10, 13 of 16
  ASSERT_EQ(ok.root().kind, PyValue::Kind::kTensor);
  EXPECT_EQ(ok.root().tensor.storage_key, "0");
  EXPECT_EQ(ok.root().tensor.storage_offset, 4);
  EXPECT_EQ(ok.root().tensor.sizes, (std::vector<int64_t>{4}));
  EXPECT_EQ(ok.root().tensor.strides, (std::vector<int64_t>{3}));
  EXPECT_EQ(unpickle_torch_save(tensor_pickle(16, 16, 0, 1)).root().tensor.numel(), 0);  // x[16:] is empty, fine
  std::string message;
  EXPECT_EQ(unpickle_error(tensor_pickle(16, 4, 5, 3), &message), cir::ErrorCode::kCorrupt);  // element 16
  EXPECT_NE(message.find("past its storage"), std::string::npos) << message;
  EXPECT_EQ(unpickle_error(tensor_pickle(16, 17, 0, 1)), cir::ErrorCode::kCorrupt);
  EXPECT_EQ(unpickle_error(tensor_pickle(16, 0, 3, int64_t{1} << 62)), cir::ErrorCode::kCorrupt);  // 2 x 2^62 overflows
  EXPECT_EQ(unpickle_error(tensor_pickle(16, 15, 2, -1)), cir::ErrorCode::kCorrupt);  // torch has no negative strides
  EXPECT_EQ(unpickle_error(tensor_pickle(-1, 0, 0, 1)), cir::ErrorCode::kCorrupt);
}

// ---------------------------------------------------------------------------------------------
// safetensors (src/model/safetensors_header.cpp, std-only)

// An 8-byte little-endian header length, the header, then `data`.
std::string safetensors_bytes(const std::string& header, const std::string& data = "") {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[static_cast<size_t>(i)] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return bytes + header + data;
}

// safetensors (found by reading while writing fuzz_safetensors): a shape entry above 2^63 - 1
// after a zero dimension passed the overflow check (the product stays 0), became -1 in the
// tensor shape, and load_float threw c10::Error instead of the file failing at open.
TEST(FuzzRegressionSafetensors, ShapeEntryPastInt64IsCorrupt) {
  TempDir dir;
  const std::string path =
      write(dir, "t.safetensors", safetensors_bytes(R"({"t":{"dtype":"F32","shape":[0,18446744073709551615],"data_offsets":[0,0]}})"));
  try {
    cir::model::detail::SafetensorsMapping file(path);
    ADD_FAILURE() << "opened a shape entry past int64";
  } catch (const cir::Error& e) {
    EXPECT_EQ(e.code(), cir::ErrorCode::kCorrupt);
    EXPECT_NE(std::string(e.what()).find("exceeds"), std::string::npos) << e.what();
  }
}

// The std-only float conversion that replaced libtorch's .to(kFloat): F16 (normal, subnormal,
// infinity), BF16 and F64 from an unaligned data section.
TEST(FuzzRegressionSafetensors, FloatConversionOfEveryDtype) {
  TempDir dir;
  const std::string header =
      R"({"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]},)"
      R"("d":{"dtype":"F64","shape":[],"data_offsets":[12,20]},"i":{"dtype":"I32","shape":[1],"data_offsets":[20,24]}})";
  std::string data("\x00\x3c\x01\x00\x00\xfc\x00\xc0"  // 1, 2^-24, -inf, -2
                   "\x80\x3f\x49\x40", 12);                   // 1, 3.140625
  const double d = 0.1;
  data.append(reinterpret_cast<const char*>(&d), 8);
  data.append(4, '\0');
  const cir::model::detail::SafetensorsMapping file(write(dir, "f.safetensors", safetensors_bytes(header + " ", data)));
  EXPECT_EQ(file.load_floats("h"), (std::vector<float>{1.0f, 5.9604644775390625e-8f, -INFINITY, -2.0f}));
  EXPECT_EQ(file.load_floats("b"), (std::vector<float>{1.0f, 3.140625f}));
  EXPECT_EQ(file.load_floats("d"), (std::vector<float>{0.1f}));
  EXPECT_EQ(file.bytes("i").size(), 4u);
  try {
    file.load_floats("i");
    ADD_FAILURE() << "converted an I32 tensor";
  } catch (const cir::Error& e) {
    EXPECT_EQ(e.code(), cir::ErrorCode::kUnsupported);
  }
}

// ---------------------------------------------------------------------------------------------
// model_config (src/model/config.cpp, std-only)

// read_open_clip_spec on a directory holding `config` as open_clip_config.json (and the empty
// weights file the reader looks for); the error it throws.
cir::Error open_clip_error(const std::string& config) {
  TempDir dir;
  write(dir, "open_clip_config.json", config);
  write(dir, "open_clip_model.safetensors", "");
  try {
    cir::model::detail::read_open_clip_spec(dir.str(""));
  } catch (const cir::Error& e) {
    return e;
  }
  ADD_FAILURE() << "accepted " << config;
  return cir::Error(cir::ErrorCode::kInternal, "");
}

std::string open_clip_config(const std::string& vision_cfg) {
  return R"({"model_cfg": {"embed_dim": 64, "vision_cfg": )" + vision_cfg +
         R"(, "text_cfg": {"width": 64, "heads": 2, "layers": 1}}})";
}

// model_config (found by reading while moving config.cpp out of libtorch): ResNet stage counts
// were bounded below only, so [2^31 - 1, 2^31 - 1, 1, 1] overflowed the vision_layers sum
// (UBSan: signed integer overflow), and 2^32 + 1 was read as 1 by get<int>(); a list image_size
// of 2^32 + 64 was read as 64. Both now take get_int's bound (1 .. 2^24) and are kModel.
TEST(FuzzRegressionModelConfig, OversizedResnetLayersAndImageSizeAreModelErrors) {
  for (const char* layers : {"[2147483647, 2147483647, 1, 1]", "[4294967297, 1, 1, 1]", "[16777217, 1, 1, 1]"}) {
    const cir::Error e = open_clip_error(open_clip_config(std::string(R"({"image_size": 64, "width": 32, "layers": )") +
                                                          layers + "}"));
    EXPECT_EQ(e.code(), cir::ErrorCode::kModel) << layers;
    EXPECT_NE(std::string(e.what()).find("layers"), std::string::npos) << e.what();
  }
  const cir::Error e = open_clip_error(open_clip_config(R"({"image_size": [4294967360, 4294967360], "patch_size": 8})"));
  EXPECT_EQ(e.code(), cir::ErrorCode::kModel);
  EXPECT_NE(std::string(e.what()).find("image_size"), std::string::npos) << e.what();
  // In range, both still read.
  TempDir dir;
  write(dir, "open_clip_config.json", open_clip_config(R"({"image_size": [64, 64], "width": 32, "layers": [1, 2, 1, 1]})"));
  write(dir, "open_clip_model.safetensors", "");
  const cir::model::ModelSpec spec = cir::model::detail::read_open_clip_spec(dir.str(""));
  EXPECT_EQ(spec.image_size, 64);
  EXPECT_EQ(spec.vision_layers, 5);
}

}  // namespace
