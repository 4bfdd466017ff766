// The safetensors reader (src/model/safetensors.cpp): header validation at open, then every
// float tensor copied out (load_float), which reads the mapping at the validated offsets.
#include <cstdint>

#include "cir/core.h"
#include "fuzz_util.h"
#include "model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = cir::fuzz::write_scratch("input.safetensors", data, size);
  try {
    const cir::model::detail::SafetensorsFile file(path);
    for (const auto& [name, entry] : file.entries()) {
      try {
        (void)file.load_float(name);
      } catch (const cir::Error&) {
      }
    }
  } catch (const cir::Error&) {
  }
  return 0;
}
