// The safetensors reader's std-only half (src/model/safetensors_header.cpp): header validation
// at open, then every entry's bytes read in full and every float entry converted to float32
// (what load_float does before handing the floats to libtorch). Checks the promise the
// validation makes: each entry's bytes are exactly shape x dtype size.
#include <cstdint>

#include "cir/core.h"
#include "fuzz_util.h"
#include "model/safetensors_header.h"

namespace {

using cir::model::detail::SafetensorsEntry;
using cir::model::detail::SafetensorsMapping;

void read_entry(const SafetensorsMapping& file, const std::string& name, const SafetensorsEntry& entry) {
  const auto bytes = file.bytes(name);
  const uint64_t expected = cir::model::detail::element_count(entry) *
                            static_cast<uint64_t>(cir::model::detail::safetensors_dtype_size(entry.dtype));
  if (bytes.size() != expected) __builtin_trap();
  volatile uint8_t sink = 0;  // every byte read: a range past the mapping faults here
  for (const uint8_t b : bytes) sink = sink ^ b;
  try {
    (void)file.load_floats(name);
  } catch (const cir::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = cir::fuzz::write_scratch("input.safetensors", data, size);
  try {
    const SafetensorsMapping file(path);
    for (const auto& [name, entry] : file.entries()) read_entry(file, name, entry);
  } catch (const cir::Error&) {
  }
  return 0;
}
