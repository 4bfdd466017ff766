// Private to cir_text: CLIP's byte-level BPE (simple_tokenizer.bpe) over vocabulary ids.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace cir::text::detail {

/// Suffix CLIP appends to the last symbol of every word.
inline constexpr std::string_view kEndOfWord = "</w>";
inline constexpr std::string_view kStartOfText = "<|startoftext|>";
inline constexpr std::string_view kEndOfText = "<|endoftext|>";

/// simple_tokenizer.bytes_to_unicode(): the printable code point standing for each byte.
const std::array<char32_t, 256>& byte_to_unicode();
/// The 256 bytes in the order bytes_to_unicode() lists them (printable ranges first), which is
/// the order of the first 256 entries of CLIP's vocabulary.
const std::array<uint8_t, 256>& bytes_in_vocab_order();
/// UTF-8 of byte_to_unicode()[b]: the vocabulary form of one byte.
std::string byte_symbol(uint8_t b);
/// A raw byte string in vocabulary form (each byte through byte_symbol).
std::string to_byte_symbols(std::string_view bytes);
/// The 512 base entries of a CLIP vocabulary: 256 byte symbols, then the same with "</w>".
std::vector<std::string> base_vocabulary();

/// A vocabulary and ranked merges as read from a file, before validation.
struct BpeTables {
  std::unordered_map<std::string, int32_t> token_to_id;
  std::vector<std::pair<std::string, std::string>> merges;  ///< rank order
  std::vector<int64_t> merge_lines;  ///< where each merge came from (1-based line or index), for errors
  std::string vocab_source;          ///< file (and field) named in vocabulary errors
  std::string merges_source;         ///< file (and field) named in merge errors
};

/// Ranked merges over ids, ready to encode words.
class BpeModel {
 public:
  BpeModel() = default;
  /// Validates and indexes `tables`. Throws cir::Error kCorrupt when a byte symbol is missing
  /// from the vocabulary or a merge names a symbol (or a merged result) the vocabulary lacks.
  explicit BpeModel(const BpeTables& tables);

  /// Appends the ids of one pre-tokenized word (raw UTF-8 bytes, non-empty). Uses a priority
  /// queue with CLIP's "merge every occurrence of the best pair, left to right" rounds, so long
  /// words cost O(n log n) instead of CLIP's O(n^2).
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;
  /// The same result computed literally as simple_tokenizer.bpe does (for tests).
  void encode_word_reference(std::string_view word, std::vector<int32_t>& out) const;

  int64_t n_merges() const { return static_cast<int64_t>(merges_.size()); }

 private:
  struct Merge {
    int32_t rank;
    int32_t merged_id;
  };
  static uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  const Merge* find_merge(int32_t left, int32_t right) const;
  void initial_symbols(std::string_view word, std::vector<int32_t>& symbols) const;

  std::array<int32_t, 256> byte_ids_{};
  std::array<int32_t, 256> byte_end_ids_{};
  std::unordered_map<uint64_t, Merge> merges_;
};

}  // namespace cir::text::detail
