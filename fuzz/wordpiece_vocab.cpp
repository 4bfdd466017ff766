// The WordPiece vocabulary parsers (src/text/wordpiece.cpp): a directory whose vocab.txt,
// added_tokens.json and tokenizer_config.json are the input split at "\n=====\n" (missing
// parts leave the file out). A tokenizer that loads then tokenizes a fixed sentence and the
// vocabulary text itself.
#include <cstdint>
#include <filesystem>

#include "cir/text.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto [vocab, rest] = cir::fuzz::split_input(cir::fuzz::as_text(data, size), "\n=====\n");
  const auto [added, config] = cir::fuzz::split_input(rest, "\n=====\n");
  const auto dir = cir::fuzz::scratch_dir() / "wordpiece";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  cir::fuzz::write_scratch("wordpiece/vocab.txt", vocab);
  if (!added.empty()) cir::fuzz::write_scratch("wordpiece/added_tokens.json", added);
  if (!config.empty()) cir::fuzz::write_scratch("wordpiece/tokenizer_config.json", config);
  try {
    const cir::text::WordPieceTokenizer tok = cir::text::WordPieceTokenizer::from_directory(dir.string());
    (void)tok.tokenize({"A photo of a [MASK] cube, lower-left!", std::string(vocab.substr(0, 256))}, 24);
  } catch (const cir::Error&) {
  }
  return 0;
}
