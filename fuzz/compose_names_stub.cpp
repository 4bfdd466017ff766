// For fuzz_search_codec only: the method names compose's registry holds (src/compose/
// registry.cpp), so the codec's unknown-method check runs without linking every composition
// method and libtorch. A name missing here only makes the fuzzer treat that method as unknown.
#include <string>
#include <vector>

#include "cir/compose.h"

namespace cir::compose {

std::vector<std::string> method_names() {
  return {"cirevl", "combiner", "image", "ldre", "pic2word", "raw-sum", "searle", "searle-oti",
          "seize",  "spn",      "sprc",  "sum",  "text",     "ziracle", "ziracle-image"};
}

}  // namespace cir::compose
