// cir::read_npy (src/core/npy.cpp) on arbitrary bytes, then as_floats when the dtype is a float.
#include <cstdint>

#include "cir/core.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = cir::fuzz::write_scratch("input.npy", data, size);
  try {
    const cir::NpyArray arr = cir::read_npy(path);
    if (arr.dtype == "f4" || arr.dtype == "f2" || arr.dtype == "f8") (void)arr.as_floats();
  } catch (const cir::Error&) {
  }
  return 0;
}
