// The CLIP vocabulary file parsers (src/text/vocab_io.cpp). The first byte picks the layout:
//   'v': vocab.json + merges.txt, the rest split at the first "\n=====\n" (vocab, merges);
//   't': tokenizer.json;   'g': OpenAI's gzip'd merges list (bpe_simple_vocab_16e6.txt.gz).
// Other first bytes are read as tokenizer.json. A tokenizer that loads then encodes a
// fixed sentence and the input itself, so fuzzed merge tables reach the BPE loop.
#include <cstdint>

#include "cir/text.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const char kind = static_cast<char>(data[0]);
  const std::string_view rest = cir::fuzz::as_text(data + 1, size - 1);
  try {
    auto load = [&]() {
      if (kind == 'v') {
        const auto [vocab, merges] = cir::fuzz::split_input(rest, "\n=====\n");
        return cir::text::ClipTokenizer::from_vocab_merges(cir::fuzz::write_scratch("vocab.json", vocab),
                                                           cir::fuzz::write_scratch("merges.txt", merges));
      }
      if (kind == 'g') return cir::text::ClipTokenizer::from_openai_bpe(cir::fuzz::write_scratch("bpe.txt.gz", rest));
      return cir::text::ClipTokenizer::from_tokenizer_json(cir::fuzz::write_scratch("tokenizer.json", rest));
    };
    const cir::text::ClipTokenizer tok = load();
    const std::vector<int32_t> ids = tok.encode("a photo of a red cube, lower and left!");
    (void)tok.decode(ids);
    (void)tok.tokenize({std::string(rest.substr(0, 256))}, 16);
  } catch (const cir::Error&) {
  }
  return 0;
}
