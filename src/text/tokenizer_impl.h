// Private to cir_text: the state behind cir::text::ClipTokenizer and the file readers that
// produce it.
#pragma once

#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cir/text.h"
#include "text/bpe.h"

namespace cir::text {

struct ClipTokenizer::Impl {
  std::unordered_map<std::string, int32_t> token_to_id;
  std::vector<std::string> id_to_token;  ///< index = id
  std::vector<bool> id_present;          ///< false where the vocabulary skips an id
  detail::BpeModel bpe;
  int32_t start_id = 0;
  int32_t end_id = 0;

  // Word -> ids cache. Pre-tokenized words repeat a lot across captions, and BPE is the costly
  // step, so this is what makes warm tokenization fast. Guarded for concurrent readers.
  mutable std::shared_mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache;

  /// Validates the tables (byte symbols, merges, special tokens) and indexes them.
  explicit Impl(detail::BpeTables tables);

  /// Appends the BPE ids of `text` (cleaned and pre-tokenized here) to `out`.
  void encode_into(std::string_view text, std::vector<int32_t>& out) const;

 private:
  void encode_word_cached(const std::string& word, std::vector<int32_t>& out) const;
};

}  // namespace cir::text

namespace cir::text::detail {

/// Readers for the three vocabulary formats; they throw cir::Error naming the file.
BpeTables read_vocab_merges(const std::string& vocab_json, const std::string& merges_txt);
BpeTables read_tokenizer_json(const std::string& path);
BpeTables read_openai_bpe(const std::string& bpe_gz_path);

}  // namespace cir::text::detail
