// The CLIP config readers (src/model/config.cpp) through cir::model::read_model_spec. The same
// JSON is laid out twice: as a Hugging Face directory (config.json and preprocessor_config.json
// hold it, with an empty model.safetensors so the weights lookup passes) and as an OpenCLIP
// directory (open_clip_config.json, empty open_clip_model.safetensors). Fields either layout
// does not know are ignored, so one input exercises both parsers.
#include <cstdint>

#include "cir/model.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& dir = cir::fuzz::scratch_dir();
  cir::fuzz::write_scratch("hf/config.json", data, size);
  cir::fuzz::write_scratch("hf/preprocessor_config.json", data, size);
  cir::fuzz::write_scratch("hf/model.safetensors", "");
  cir::fuzz::write_scratch("oc/open_clip_config.json", data, size);
  cir::fuzz::write_scratch("oc/open_clip_model.safetensors", "");
  for (const char* sub : {"hf", "oc"}) {
    try {
      (void)cir::model::read_model_spec((dir / sub).string());
    } catch (const cir::Error&) {
    }
  }
  return 0;
}
