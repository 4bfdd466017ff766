// CLIP BPE text input (src/text: cleaning, pre-tokenizer, BPE) with a real vocabulary: the
// fixture tokenizer in $CIR_FUZZ_CLIP_VOCAB_DIR, by default <shared>/fixtures/clip/vit/hf
// (vocab.json + merges.txt). encode, tokenize and decode of the ids must all succeed.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "cir/text.h"
#include "fuzz_util.h"

namespace {
const cir::text::ClipTokenizer& tokenizer() {
  static const std::unique_ptr<cir::text::ClipTokenizer> tok = [] {
    const char* env = std::getenv("CIR_FUZZ_CLIP_VOCAB_DIR");
    const std::string dir = env && *env ? env : CIR_SHARED_DIR "/fixtures/clip/vit/hf";
    try {
      return std::make_unique<cir::text::ClipTokenizer>(cir::text::ClipTokenizer::from_directory(dir));
    } catch (const cir::Error& e) {
      std::fprintf(stderr, "clip_tokenize: cannot load the fixture vocabulary: %s\n", e.what());
      std::exit(2);
    }
  }();
  return *tok;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& tok = tokenizer();
  const std::string text(cir::fuzz::as_text(data, size));
  const std::vector<int32_t> ids = tok.encode(text);
  (void)tok.tokenize({text}, 77);
  (void)tok.decode(ids);
  (void)cir::text::clean_text(text);
  return 0;
}
