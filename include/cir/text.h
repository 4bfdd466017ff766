// cir text (L1): tokenizers. CLIP's byte-level BPE, exactly as OpenAI's simple_tokenizer with
// ftfy cleaning (so ids equal clip.tokenize), and a BPE trainer for our own worlds.
//
// Contract: std + utf8proc + zlib + nlohmann-json (in .cpp only). A loaded tokenizer is
// immutable apart from an internal, mutex-guarded BPE cache: safe to call from many threads.
// Errors: cir::Error naming the file (kNotFound, kCorrupt) for bad vocabularies.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cir/core.h"

namespace cir::text {

/// CLIP byte-level BPE tokenizer.
class ClipTokenizer {
 public:
  /// Loads from a directory holding vocab.json + merges.txt, or tokenizer.json, or OpenAI's
  /// bpe_simple_vocab_16e6.txt.gz (checked in that order).
  static ClipTokenizer from_directory(const std::string& dir);
  static ClipTokenizer from_vocab_merges(const std::string& vocab_json, const std::string& merges_txt);
  static ClipTokenizer from_tokenizer_json(const std::string& path);
  static ClipTokenizer from_openai_bpe(const std::string& bpe_gz_path);

  /// BPE ids of the cleaned text, no start/end tokens, no truncation.
  std::vector<int32_t> encode(std::string_view text) const;
  /// [sot] + ids + [eot], truncated to context_length keeping the end token, padded with 0
  /// (what clip.tokenize(texts, truncate=True) returns).
  TokenBatch tokenize(const std::vector<std::string>& texts, int context_length = 77) const;

  int32_t start_id() const;
  int32_t end_id() const;
  int64_t vocab_size() const;
  /// Id of a vocabulary entry given in its byte-level form (e.g. "$</w>"), if present.
  std::optional<int32_t> token_id(std::string_view token) const;

  ClipTokenizer(ClipTokenizer&&) noexcept;
  ClipTokenizer& operator=(ClipTokenizer&&) noexcept;
  ~ClipTokenizer();

 private:
  struct Impl;
  explicit ClipTokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// ftfy-style fix (curly quotes, ligatures, full-width forms, HTML entities, NFC), whitespace
/// collapse and strip, lowercase: the text CLIP's BPE sees.
std::string clean_text(std::string_view text);

}  // namespace cir::text
