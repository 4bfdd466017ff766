// The CLIP config readers (src/model/config.cpp, std-only): read_hf_spec and
// read_open_clip_spec, the two directory layouts read_model_spec dispatches to (its third,
// TorchScript, is a zip). The same JSON is laid out twice: as a Hugging Face directory
// (config.json and preprocessor_config.json hold it, with an empty model.safetensors so the
// weights lookup passes) and as an OpenCLIP directory (open_clip_config.json, empty
// open_clip_model.safetensors). Fields either layout does not know are ignored, so one input
// exercises both parsers.
#include <cstdint>

#include "cir/model.h"
#include "fuzz_util.h"
#include "model/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& dir = cir::fuzz::scratch_dir();
  cir::fuzz::write_scratch("hf/config.json", data, size);
  cir::fuzz::write_scratch("hf/preprocessor_config.json", data, size);
  cir::fuzz::write_scratch("hf/model.safetensors", "");
  cir::fuzz::write_scratch("oc/open_clip_config.json", data, size);
  cir::fuzz::write_scratch("oc/open_clip_model.safetensors", "");
  try {
    (void)cir::model::detail::read_hf_spec((dir / "hf").string());
  } catch (const cir::Error&) {
  }
  try {
    (void)cir::model::detail::read_open_clip_spec((dir / "oc").string());
  } catch (const cir::Error&) {
  }
  return 0;
}
