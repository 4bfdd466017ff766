// Private to cir_text: the steps of BERT's tokenizer (google-research/bert tokenization.py
// BasicTokenizer + WordpieceTokenizer, which Hugging Face's BertTokenizer reproduces), exposed
// separately so tests can check each against the reference behaviour.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "text/unicode.h"

namespace cir::text::detail {

/// BERT's _is_whitespace: space, \t, \n, \r and general category Zs.
bool is_bert_whitespace(char32_t cp);
/// BERT's _is_control: general category C* except \t, \n, \r.
bool is_bert_control(char32_t cp);
/// BERT's _is_punctuation: ASCII non-alphanumeric symbols (33-47, 58-64, 91-96, 123-126) and
/// general category P*.
bool is_bert_punctuation(char32_t cp);
/// BERT's _is_chinese_char: the CJK Unified Ideograph blocks (not Hiragana, Katakana, Hangul).
bool is_cjk_ideograph(char32_t cp);

/// BasicTokenizer.tokenize: clean (drop NUL, U+FFFD and control characters, whitespace ->
/// space), pad CJK ideographs with spaces, split on whitespace, then per word lowercase + strip
/// accents (NFD, drop Mn) when `lower_case`, and split off every punctuation character.
std::vector<std::string> bert_basic_split(std::string_view text, bool lower_case);

/// WordpieceTokenizer on one basic token: greedy longest match from the left, continuations
/// prefixed "##"; the whole word becomes `unk_id` when some part matches nothing or the word has
/// more than `max_chars` code points. Appends ids to `out`.
void wordpiece_word(const std::string& word, const std::unordered_map<std::string, int32_t>& vocab, int32_t unk_id,
                    std::vector<int32_t>& out, size_t max_chars = 100);

}  // namespace cir::text::detail
