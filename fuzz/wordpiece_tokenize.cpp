// BERT WordPiece text input (src/text/wordpiece.cpp) with a real vocabulary: the fixture in
// $CIR_FUZZ_WORDPIECE_DIR, by default <shared>/fixtures/blip2/hf (vocab.txt and
// tokenizer_config.json). split, encode and tokenize must all succeed.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "cir/text.h"
#include "fuzz_util.h"

namespace {
const cir::text::WordPieceTokenizer& tokenizer() {
  static const std::unique_ptr<cir::text::WordPieceTokenizer> tok = [] {
    const char* env = std::getenv("CIR_FUZZ_WORDPIECE_DIR");
    const std::string dir = env && *env ? env : CIR_SHARED_DIR "/fixtures/blip2/hf";
    try {
      return std::make_unique<cir::text::WordPieceTokenizer>(cir::text::WordPieceTokenizer::from_directory(dir));
    } catch (const cir::Error& e) {
      std::fprintf(stderr, "wordpiece_tokenize: cannot load the fixture vocabulary: %s\n", e.what());
      std::exit(2);
    }
  }();
  return *tok;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& tok = tokenizer();
  const std::string text(cir::fuzz::as_text(data, size));
  (void)tok.split(text);
  (void)tok.encode(text);
  (void)tok.tokenize({text}, 32);
  return 0;
}
