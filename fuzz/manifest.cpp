// An index's manifest.json (src/index/manifest.cpp): cir::index::manifest_from_json, and
// manifest_to_json of whatever it accepted (which must parse back).
#include <cstdint>

#include "cir/index.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const cir::index::IndexManifest m = cir::index::manifest_from_json(cir::fuzz::as_text(data, size), "fuzz");
    (void)cir::index::manifest_from_json(cir::index::manifest_to_json(m), "fuzz (round trip)");
  } catch (const cir::Error&) {
  }
  return 0;
}
