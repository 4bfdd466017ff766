#include "text/bpe.h"

#include <algorithm>
#include <cstdio>

#include "cir/core.h"
#include "text/unicode.h"

namespace cir::text::detail {
namespace {

// Printable bytes stand for themselves; the other 68 bytes (controls, space, DEL, the C1 range,
// NBSP, soft hyphen) are moved to U+0100 onwards in byte order, so every byte is a visible,
// non-whitespace character and BPE never has to deal with spaces.
bool is_self_mapped(int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); }

std::string describe_byte(uint8_t b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", b);
  return buf;
}

}  // namespace

const std::array<char32_t, 256>& byte_to_unicode() {
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> t{};
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) t[b] = is_self_mapped(b) ? static_cast<char32_t>(b) : next++;
    return t;
  }();
  return table;
}

const std::array<uint8_t, 256>& bytes_in_vocab_order() {
  static const std::array<uint8_t, 256> order = [] {
    std::array<uint8_t, 256> o{};
    size_t k = 0;
    for (int b = 0; b < 256; ++b)
      if (is_self_mapped(b)) o[k++] = static_cast<uint8_t>(b);
    for (int b = 0; b < 256; ++b)
      if (!is_self_mapped(b)) o[k++] = static_cast<uint8_t>(b);
    return o;
  }();
  return order;
}

std::string byte_symbol(uint8_t b) {
  std::string s;
  append_utf8(byte_to_unicode()[b], s);
  return s;
}

std::string to_byte_symbols(std::string_view bytes) {
  std::string s;
  s.reserve(bytes.size() * 2);
  for (char c : bytes) append_utf8(byte_to_unicode()[static_cast<uint8_t>(c)], s);
  return s;
}

std::vector<std::string> base_vocabulary() {
  std::vector<std::string> vocab;
  vocab.reserve(512);
  for (uint8_t b : bytes_in_vocab_order()) vocab.push_back(byte_symbol(b));
  for (uint8_t b : bytes_in_vocab_order()) vocab.push_back(byte_symbol(b) + std::string(kEndOfWord));
  return vocab;
}

BpeModel::BpeModel(const BpeTables& tables) {
  for (int b = 0; b < 256; ++b) {
    const std::string symbol = byte_symbol(static_cast<uint8_t>(b));
    for (const std::string& token : {symbol, symbol + std::string(kEndOfWord)}) {
      const auto it = tables.token_to_id.find(token);
      if (it == tables.token_to_id.end())
        throw Error(ErrorCode::kCorrupt, "vocabulary " + tables.vocab_source + " has no entry for the symbol '" +
                                             token + "' of byte " + describe_byte(static_cast<uint8_t>(b)) +
                                             " (a CLIP byte-level vocabulary holds all 512 byte symbols)");
      (token.size() == symbol.size() ? byte_ids_ : byte_end_ids_)[b] = it->second;
    }
  }
  merges_.reserve(tables.merges.size() * 2);
  auto lookup = [&](const std::string& token, size_t rank) {
    const auto it = tables.token_to_id.find(token);
    if (it == tables.token_to_id.end())
      throw Error(
          ErrorCode::kCorrupt,
          "merges " + tables.merges_source + " entry " +
              std::to_string(rank < tables.merge_lines.size() ? tables.merge_lines[rank] : static_cast<int64_t>(rank)) +
              ": symbol '" + token + "' is not in the vocabulary " + tables.vocab_source);
    return it->second;
  };
  for (size_t rank = 0; rank < tables.merges.size(); ++rank) {
    const auto& [left, right] = tables.merges[rank];
    const int32_t left_id = lookup(left, rank);
    const int32_t right_id = lookup(right, rank);
    const int32_t merged_id = lookup(left + right, rank);
    // simple_tokenizer builds its ranks with dict(zip(merges, ...)): a repeated merge keeps
    // the rank of its last occurrence.
    merges_[pair_key(left_id, right_id)] = Merge{static_cast<int32_t>(rank), merged_id};
  }
}

const BpeModel::Merge* BpeModel::find_merge(int32_t left, int32_t right) const {
  const auto it = merges_.find(pair_key(left, right));
  return it == merges_.end() ? nullptr : &it->second;
}

void BpeModel::initial_symbols(std::string_view word, std::vector<int32_t>& symbols) const {
  symbols.resize(word.size());
  for (size_t i = 0; i < word.size(); ++i) {
    const auto b = static_cast<uint8_t>(word[i]);
    symbols[i] = i + 1 == word.size() ? byte_end_ids_[b] : byte_ids_[b];
  }
}

void BpeModel::encode_word_reference(std::string_view word, std::vector<int32_t>& out) const {
  std::vector<int32_t> symbols;
  initial_symbols(word, symbols);
  std::vector<int32_t> merged;
  while (symbols.size() > 1) {
    const Merge* best = nullptr;
    int32_t first = 0;
    int32_t second = 0;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      const Merge* m = find_merge(symbols[i], symbols[i + 1]);
      if (m && (!best || m->rank < best->rank)) {
        best = m;
        first = symbols[i];
        second = symbols[i + 1];
      }
    }
    if (!best) break;
    merged.clear();
    for (size_t i = 0; i < symbols.size();) {
      if (i + 1 < symbols.size() && symbols[i] == first && symbols[i + 1] == second) {
        merged.push_back(best->merged_id);
        i += 2;
      } else {
        merged.push_back(symbols[i++]);
      }
    }
    symbols.swap(merged);
  }
  out.insert(out.end(), symbols.begin(), symbols.end());
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  struct Node {
    int32_t id;  // -1 once merged into its left neighbour
    int32_t prev;
    int32_t next;
  };
  struct Candidate {
    int32_t rank;
    int32_t pos;  // index of the left node
    int32_t left;
    int32_t right;
    int32_t merged;
  };
  // Min-heap on (rank, pos): equal ranks come out left to right, like CLIP's scan.
  const auto later = [](const Candidate& a, const Candidate& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  };

  std::vector<int32_t> symbols;
  initial_symbols(word, symbols);
  const auto n = static_cast<int32_t>(symbols.size());
  if (n <= 1) {
    out.insert(out.end(), symbols.begin(), symbols.end());
    return;
  }
  std::vector<Node> nodes(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) nodes[i] = Node{symbols[i], i - 1, i + 1 < n ? i + 1 : -1};

  std::vector<Candidate> heap;
  const auto candidate_at = [&](int32_t pos, bool keep_heap) {
    const int32_t next = nodes[pos].next;
    if (next < 0) return;
    if (const Merge* m = find_merge(nodes[pos].id, nodes[next].id)) {
      heap.push_back(Candidate{m->rank, pos, nodes[pos].id, nodes[next].id, m->merged_id});
      if (keep_heap) std::push_heap(heap.begin(), heap.end(), later);
    }
  };
  for (int32_t i = 0; i + 1 < n; ++i) candidate_at(i, false);
  std::make_heap(heap.begin(), heap.end(), later);

  std::vector<Candidate> round;
  std::vector<int32_t> touched;
  while (!heap.empty()) {
    // One CLIP iteration: every occurrence of the best pair, before any pair it creates is
    // considered (those can only come from a later round).
    const int32_t rank = heap.front().rank;
    round.clear();
    while (!heap.empty() && heap.front().rank == rank) {
      std::pop_heap(heap.begin(), heap.end(), later);
      round.push_back(heap.back());
      heap.pop_back();
    }
    touched.clear();
    for (const Candidate& c : round) {
      Node& left = nodes[c.pos];
      // Stale entries (a side was merged away or changed since) fail this check.
      if (left.id != c.left || left.next < 0 || nodes[left.next].id != c.right) continue;
      Node& right = nodes[left.next];
      left.id = c.merged;
      left.next = right.next;
      if (right.next >= 0) nodes[right.next].prev = c.pos;
      right.id = -1;
      touched.push_back(c.pos);
    }
    for (int32_t pos : touched) {
      if (nodes[pos].prev >= 0) candidate_at(nodes[pos].prev, true);
      candidate_at(pos, true);
    }
  }
  for (int32_t pos = 0; pos >= 0; pos = nodes[pos].next) out.push_back(nodes[pos].id);
}

}  // namespace cir::text::detail
