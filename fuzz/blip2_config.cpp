// The BLIP-2 config reader (src/model/blip2_config.cpp, std-only) through
// cir::model::read_blip2_spec on a Hugging Face directory whose config.json and
// preprocessor_config.json both hold the input (an empty model.safetensors marks the layout;
// weights are not read by the spec reader).
#include <cstdint>

#include "cir/blip2.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cir::fuzz::write_scratch("blip2/config.json", data, size);
  cir::fuzz::write_scratch("blip2/preprocessor_config.json", data, size);
  cir::fuzz::write_scratch("blip2/model.safetensors", "");
  try {
    (void)cir::model::read_blip2_spec((cir::fuzz::scratch_dir() / "blip2").string());
  } catch (const cir::Error&) {
  }
  return 0;
}
