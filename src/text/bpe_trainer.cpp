// train_bpe: a byte-level BPE learned the way CLIP's vocabulary is laid out, so that our own
// synthetic worlds get a tokenizer ClipTokenizer loads like any CLIP checkpoint's.
//
// Words are counted once (the corpus collapses to unique pre-tokenized words with counts), and
// pair counts are updated incrementally: a merge only revisits the words that contain its pair.
#include <algorithm>
#include <array>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <queue>
#include <unordered_map>

#include "cir/core.h"
#include "cir/text.h"
#include "text/bpe.h"
#include "text/clean.h"
#include "text/pretokenize.h"

namespace cir::text {
namespace {

constexpr int kBaseVocabSize = 512;
constexpr int kSpecialTokens = 2;

struct Word {
  std::vector<int32_t> symbols;
  int64_t count = 0;
};

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}
int32_t key_left(uint64_t key) { return static_cast<int32_t>(key >> 32); }
int32_t key_right(uint64_t key) { return static_cast<int32_t>(key & 0xFFFFFFFFu); }

// Unique pre-tokenized words of the corpus (raw UTF-8 bytes) with their counts, in byte order.
std::map<std::string, int64_t> count_words(const std::vector<std::string>& corpus) {
  std::map<std::string, int64_t> counts;
  detail::CodePoints cleaned;
  std::vector<detail::Piece> pieces;
  for (const std::string& text : corpus) {
    detail::clean_to_code_points(text, cleaned);
    pieces.clear();
    detail::pretokenize(cleaned, pieces);
    for (const detail::Piece& piece : pieces) {
      std::string word;
      detail::append_utf8(cleaned.data() + piece.begin, cleaned.data() + piece.end, word);
      if (word == detail::kStartOfText || word == detail::kEndOfText) continue;
      ++counts[word];
    }
  }
  return counts;
}

class Trainer {
 public:
  Trainer(const std::map<std::string, int64_t>& word_counts, const BpeTrainOptions& options)
      : options_(options), tokens_(detail::base_vocabulary()), queue_(PairOrder{&tokens_}) {
    for (size_t i = 0; i < tokens_.size(); ++i) token_ids_.emplace(tokens_[i], static_cast<int32_t>(i));
    std::array<int32_t, 256> byte_id{};
    const auto& order = detail::bytes_in_vocab_order();
    for (int i = 0; i < 256; ++i) byte_id[order[i]] = i;
    for (const auto& [bytes, count] : word_counts) {
      Word word;
      word.count = count;
      for (size_t i = 0; i < bytes.size(); ++i) {
        const int32_t id = byte_id[static_cast<uint8_t>(bytes[i])];
        word.symbols.push_back(i + 1 == bytes.size() ? id + 256 : id);  // "</w>" forms follow the 256
      }
      words_.push_back(std::move(word));
    }
    for (size_t w = 0; w < words_.size(); ++w) add_pairs(static_cast<int32_t>(w), +1);
    for (uint64_t key : changed_) push_if_positive(key);
    changed_.clear();
  }

  void run() {
    while (static_cast<int>(tokens_.size()) + kSpecialTokens < options_.vocab_size) {
      const std::optional<uint64_t> best = pop_best();
      if (!best) break;
      merge(*best);
    }
  }

  /// Entries incl. the two special tokens.
  int64_t vocab_size() const { return static_cast<int64_t>(tokens_.size()) + kSpecialTokens; }

  void write(const std::string& out_dir) const {
    std::error_code ec;
    std::filesystem::create_directories(out_dir, ec);
    if (ec) throw Error(ErrorCode::kIo, "train_bpe: cannot create output directory '" + out_dir + "': " + ec.message());
    nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
    for (size_t i = 0; i < tokens_.size(); ++i) vocab[tokens_[i]] = static_cast<int64_t>(i);
    vocab[std::string(detail::kStartOfText)] = static_cast<int64_t>(tokens_.size());
    vocab[std::string(detail::kEndOfText)] = static_cast<int64_t>(tokens_.size() + 1);
    std::string merges = "#version: 0.2\n";
    for (const auto& [left, right] : merges_)
      merges += tokens_[static_cast<size_t>(left)] + " " + tokens_[static_cast<size_t>(right)] + "\n";
    const std::filesystem::path dir(out_dir);
    write_file_atomic((dir / "vocab.json").string(), vocab.dump());
    write_file_atomic((dir / "merges.txt").string(), merges);
  }

 private:
  struct Entry {
    int64_t count;
    uint64_t key;
  };
  // Highest count first; equal counts: lexicographically smallest (left, right) symbol strings.
  struct PairOrder {
    const std::vector<std::string>* tokens;
    bool operator()(const Entry& a, const Entry& b) const {
      if (a.count != b.count) return a.count < b.count;
      const std::string& al = (*tokens)[static_cast<size_t>(key_left(a.key))];
      const std::string& bl = (*tokens)[static_cast<size_t>(key_left(b.key))];
      if (al != bl) return al > bl;
      return (*tokens)[static_cast<size_t>(key_right(a.key))] > (*tokens)[static_cast<size_t>(key_right(b.key))];
    }
  };

  // Adds (sign = +1) or removes (-1) the pairs of one word from the statistics.
  void add_pairs(int32_t w, int sign) {
    const Word& word = words_[static_cast<size_t>(w)];
    for (size_t i = 0; i + 1 < word.symbols.size(); ++i) {
      const uint64_t key = pair_key(word.symbols[i], word.symbols[i + 1]);
      pair_counts_[key] += sign * word.count;
      if (sign > 0) pair_words_[key].push_back(w);
      changed_.push_back(key);
    }
  }

  void push_if_positive(uint64_t key) {
    const auto it = pair_counts_.find(key);
    if (it != pair_counts_.end() && it->second > 0) queue_.push(Entry{it->second, key});
  }

  // Best pair whose queued count is still current (entries go stale as counts change).
  std::optional<uint64_t> pop_best() {
    while (!queue_.empty()) {
      const Entry top = queue_.top();
      queue_.pop();
      const auto it = pair_counts_.find(top.key);
      if (it == pair_counts_.end() || it->second != top.count) continue;
      if (top.count < options_.min_frequency) return std::nullopt;
      return top.key;
    }
    return std::nullopt;
  }

  void merge(uint64_t key) {
    const int32_t left = key_left(key);
    const int32_t right = key_right(key);
    const std::string merged_token = tokens_[static_cast<size_t>(left)] + tokens_[static_cast<size_t>(right)];
    auto [it, inserted] = token_ids_.emplace(merged_token, static_cast<int32_t>(tokens_.size()));
    if (inserted) tokens_.push_back(merged_token);
    const int32_t merged = it->second;
    merges_.emplace_back(left, right);

    std::vector<int32_t> affected = std::move(pair_words_[key]);
    pair_words_.erase(key);
    std::sort(affected.begin(), affected.end());
    affected.erase(std::unique(affected.begin(), affected.end()), affected.end());
    for (int32_t w : affected) {
      Word& word = words_[static_cast<size_t>(w)];
      add_pairs(w, -1);
      std::vector<int32_t> next;
      next.reserve(word.symbols.size());
      for (size_t i = 0; i < word.symbols.size();) {
        if (i + 1 < word.symbols.size() && word.symbols[i] == left && word.symbols[i + 1] == right) {
          next.push_back(merged);
          i += 2;
        } else {
          next.push_back(word.symbols[i++]);
        }
      }
      word.symbols.swap(next);
      add_pairs(w, +1);
    }
    pair_counts_.erase(key);
    std::sort(changed_.begin(), changed_.end());
    changed_.erase(std::unique(changed_.begin(), changed_.end()), changed_.end());
    for (uint64_t k : changed_) push_if_positive(k);
    changed_.clear();
  }

  BpeTrainOptions options_;
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int32_t> token_ids_;
  std::vector<Word> words_;
  std::unordered_map<uint64_t, int64_t> pair_counts_;
  std::unordered_map<uint64_t, std::vector<int32_t>> pair_words_;  // may list a word twice or stale
  std::vector<uint64_t> changed_;
  std::vector<std::pair<int32_t, int32_t>> merges_;
  std::priority_queue<Entry, std::vector<Entry>, PairOrder> queue_;
};

}  // namespace

int64_t train_bpe(const std::vector<std::string>& corpus, const BpeTrainOptions& options, const std::string& out_dir) {
  if (options.vocab_size < kBaseVocabSize + kSpecialTokens)
    throw Error(ErrorCode::kInvalidArgument,
                "train_bpe: vocab_size must be >= 514 (512 byte symbols + 2 special tokens), found " +
                    std::to_string(options.vocab_size));
  if (options.min_frequency < 1)
    throw Error(ErrorCode::kInvalidArgument,
                "train_bpe: min_frequency must be >= 1, found " + std::to_string(options.min_frequency));
  Trainer trainer(count_words(corpus), options);
  trainer.run();
  trainer.write(out_dir);
  return trainer.vocab_size();
}

}  // namespace cir::text
