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
  /// Throws kNotFound naming the directory when none of them is there.
  static ClipTokenizer from_directory(const std::string& dir);
  /// Hugging Face vocab.json (token -> id) + merges.txt (one "a b" merge per line, ranked by
  /// order; a first "#version" line is skipped). Throws kNotFound for a missing file, kCorrupt
  /// for bad JSON, a bad merge line, a merge naming a token the vocabulary lacks, or missing
  /// byte symbols / <|startoftext|> / <|endoftext|>.
  static ClipTokenizer from_vocab_merges(const std::string& vocab_json, const std::string& merges_txt);
  /// Hugging Face fast-tokenizer tokenizer.json: model.vocab and model.merges ("a b" strings
  /// or ["a", "b"] pairs); special tokens may also come from added_tokens. Errors as above.
  static ClipTokenizer from_tokenizer_json(const std::string& path);
  /// OpenAI's gzip'd merges list (bpe_simple_vocab_16e6.txt.gz): header line, then the first
  /// 48894 merges; the vocabulary is derived as simple_tokenizer does. Errors as above.
  static ClipTokenizer from_openai_bpe(const std::string& bpe_gz_path);

  /// BPE ids of the cleaned text, no start/end tokens, no truncation. `text` is UTF-8; invalid
  /// bytes are read as U+FFFD (Python's errors="replace"), never an error.
  std::vector<int32_t> encode(std::string_view text) const;
  /// [sot] + ids + [eot], truncated to context_length keeping the end token, padded with 0
  /// (what clip.tokenize(texts, truncate=True) returns). Throws kInvalidArgument when
  /// context_length < 1.
  TokenBatch tokenize(const std::vector<std::string>& texts, int context_length = 77) const;

  /// Id of <|startoftext|> (49406 in CLIP's vocabulary).
  int32_t start_id() const;
  /// Id of <|endoftext|> (49407 in CLIP's vocabulary).
  int32_t end_id() const;
  /// One past the largest id (49408 for CLIP): the size an embedding table needs.
  int64_t vocab_size() const;
  /// Id of a vocabulary entry given in its byte-level form (e.g. "$</w>"), if present.
  std::optional<int32_t> token_id(std::string_view token) const;

  /// Text of ids, as simple_tokenizer.decode: tokens joined, bytes decoded as UTF-8 (invalid
  /// sequences -> U+FFFD), every "</w>" -> " ". Special tokens appear as their text.
  /// Throws kInvalidArgument for an id outside [0, vocab_size()) or one the vocabulary skips.
  std::string decode(const std::vector<int32_t>& ids) const;
  /// Empties the word cache (benchmarks use it to measure cold-cache throughput).
  void clear_cache() const;

  /// Move-only: the vocabulary and cache are owned by the instance.
  ClipTokenizer(ClipTokenizer&&) noexcept;
  ClipTokenizer& operator=(ClipTokenizer&&) noexcept;
  ~ClipTokenizer();

 private:
  struct Impl;
  explicit ClipTokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// ftfy-style fix (curly quotes, ligatures, full-width forms, HTML entities, NFC), whitespace
/// collapse and strip, lowercase: the text CLIP's BPE sees, as UTF-8. ftfy's mojibake repair
/// (fix_encoding) is not reproduced: "cafÃ©" stays as it is.
std::string clean_text(std::string_view text);

/// Knobs of train_bpe.
struct BpeTrainOptions {
  int vocab_size = 1024;   ///< total entries incl. 512 byte symbols and the 2 special tokens; >= 514
  int min_frequency = 2;   ///< a pair must occur at least this often (word counts) to be merged; >= 1
};

/// Learns a CLIP-style byte-level BPE from `corpus` (one text per entry) and writes Hugging Face
/// `vocab.json` + `merges.txt` ("#version: 0.2" header) into `out_dir` (created if missing), which
/// ClipTokenizer::from_directory loads. Same cleaning, pre-tokenizer, byte symbols and "</w>"
/// word ends as CLIP; vocabulary layout as CLIP's: 256 byte symbols, their 256 "</w>" forms, one
/// entry per merge (unless two merges spell the same string), then <|startoftext|> and <|endoftext|>. Each step merges the most frequent
/// adjacent pair, ties broken by the lexicographically smallest (left, right) symbol pair, so the
/// result is deterministic. Stops at `vocab_size` entries or when no pair reaches
/// `min_frequency` (the vocabulary is then smaller). Returns the number of vocabulary entries
/// written. Throws kInvalidArgument for bad options, kIo when the files cannot be written.
int64_t train_bpe(const std::vector<std::string>& corpus, const BpeTrainOptions& options, const std::string& out_dir);

/// BERT uncased WordPiece tokenizer, as Hugging Face's BertTokenizer (bert-base-uncased, what
/// LAVIS's BLIP-2 uses) and the original BERT FullTokenizer: clean text, pad CJK ideographs,
/// whitespace split, lowercase + strip accents, split punctuation, greedy longest-match
/// WordPiece with "##" continuations and [UNK] (words over 100 characters are [UNK]). Special
/// tokens ([CLS], [SEP], [PAD], [MASK], [UNK]) and added tokens (added_tokens.json, e.g. [DEC])
/// written literally in a text are kept whole, as Hugging Face does. Immutable, thread-safe.
class WordPieceTokenizer {
 public:
  /// Loads vocab.txt (one token per line, id = line number), plus added_tokens.json
  /// (token -> id) and tokenizer_config.json's do_lower_case when present. kNotFound when the
  /// directory or vocab.txt is missing; kCorrupt for bad JSON or a vocabulary lacking [CLS],
  /// [SEP], [PAD] or [UNK].
  static WordPieceTokenizer from_directory(const std::string& dir);
  /// From a vocab.txt alone. Errors as from_directory.
  static WordPieceTokenizer from_vocab(const std::string& vocab_txt, bool lower_case = true);

  /// Word pieces of a text as strings (no [CLS]/[SEP]); what encode maps to ids.
  std::vector<std::string> split(std::string_view text) const;
  /// Ids of the word pieces, no [CLS]/[SEP], no truncation. Invalid UTF-8 reads as U+FFFD,
  /// which the cleaning step drops, never an error.
  std::vector<int32_t> encode(std::string_view text) const;
  /// [CLS] + pieces + [SEP] per text, pieces truncated to max_length - 2 (LAVIS: padding
  /// "max_length", truncation, max_txt_len 32), padded with [PAD] (id 0 in BERT vocabularies)
  /// to max_length; lengths hold the real lengths, i.e. the attention mask.
  /// Throws kInvalidArgument when max_length < 2.
  TokenBatch tokenize(const std::vector<std::string>& texts, int max_length = 32) const;

  int32_t cls_id() const;  ///< [CLS] (101 in bert-base-uncased)
  int32_t sep_id() const;  ///< [SEP] (102)
  int32_t pad_id() const;  ///< [PAD] (0)
  int32_t unk_id() const;  ///< [UNK] (100)
  /// One past the largest id, added tokens included (30523 for LAVIS's BERT + [DEC]).
  int64_t vocab_size() const;
  /// Id of a vocabulary entry or added token, if present.
  std::optional<int32_t> token_id(std::string_view token) const;
  /// Whether words are lowercased and stripped of accents (tokenizer_config do_lower_case).
  bool lower_case() const;

  /// Move-only: the vocabulary is owned by the instance.
  WordPieceTokenizer(WordPieceTokenizer&&) noexcept;
  WordPieceTokenizer& operator=(WordPieceTokenizer&&) noexcept;
  ~WordPieceTokenizer();

 private:
  struct Impl;
  explicit WordPieceTokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// The 0/1 attention mask of a batch (n_texts x context_length, row-major): 1 where the
/// position is below the row's length. Throws kInvalidArgument when lengths are missing.
std::vector<int32_t> attention_mask(const TokenBatch& batch);

/// LAVIS `blip_caption` eval processor (BlipCaptionProcessor.pre_caption, prompt ""), what
/// SPRC feeds its tokenizer: Python str.lower(); each of . ! " ( ) * # : ; ~ to a space; runs
/// of two or more whitespace characters (Python re's \s, i.e. str.isspace()) to one space;
/// trailing "\n" and then spaces at both ends stripped; the first max_words space-separated
/// words kept. Invalid UTF-8 reads as U+FFFD. Throws kInvalidArgument when max_words < 1.
std::string blip_caption(std::string_view caption, int max_words = 50);

}  // namespace cir::text
