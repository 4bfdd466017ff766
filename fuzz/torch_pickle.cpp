// The torch.save unpickler (src/compose/torch_pickle.cpp). The input is data.pkl itself: the
// target wraps it in a zip archive the way torch.save lays one out (archive/data.pkl plus two
// storages, archive/data/0 of 64 bytes and archive/data/1 of 6 bytes) with libtorch's own
// writer, so mutations reach the unpickler instead of failing the zip CRC checks.
// load_torch_pickle documents c10::Error (zip) and cir::Error (pickle) as its errors.
#include <caffe2/serialize/inline_container.h>
#include <c10/util/Exception.h>

#include <cstdint>
#include <fstream>

#include "compose/torch_pickle.h"
#include "cir/core.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = (cir::fuzz::scratch_dir() / "input.pt").string();
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    caffe2::serialize::PyTorchStreamWriter writer([&](const void* buf, size_t n) -> size_t {
      out.write(static_cast<const char*>(buf), static_cast<std::streamsize>(n));
      return n;
    });
    static const uint8_t storage0[64] = {0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64};
    static const uint8_t storage1[6] = {1, 2, 3, 4, 5, 6};
    writer.writeRecord("data.pkl", data, size);
    writer.writeRecord("data/0", storage0, sizeof(storage0));
    writer.writeRecord("data/1", storage1, sizeof(storage1));
    writer.writeEndOfFile();
  }
  try {
    const auto value = cir::compose::detail::load_torch_pickle(path);
    if (value) (void)value->kind_name();
  } catch (const cir::Error&) {
  } catch (const c10::Error&) {
  }
  return 0;
}
