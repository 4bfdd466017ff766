// Gallery metadata files (src/engine/scan.cpp, read_metadata_file): CSV (CIR_FUZZ_EXT ".csv")
// or JSONL (".jsonl"); the extension picks the parser, so each is its own binary.
#include <cstdint>

#include "engine/scan.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = cir::fuzz::write_scratch(std::string("metadata") + CIR_FUZZ_EXT, data, size);
  try {
    (void)cir::engine::read_metadata_file(path);
  } catch (const cir::Error&) {
  }
  return 0;
}
