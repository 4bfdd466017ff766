// BERT's WordPiece tokenizer (BasicTokenizer + WordpieceTokenizer of google-research/bert
// tokenization.py, as Hugging Face's BertTokenizer), with Unicode data from utf8proc, and the
// [CLS] ... [SEP] framing, truncation and padding LAVIS's BLIP-2 applies.
#include "text/wordpiece.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "cir/text.h"

namespace cir::text {
namespace detail {
namespace {

utf8proc_category_t category_of(char32_t cp) { return utf8proc_category(static_cast<utf8proc_int32_t>(cp)); }

// NFD of a word, then every nonspacing mark (Mn) dropped: BERT's _run_strip_accents.
CodePoints strip_accents(const CodePoints& word) {
  const bool ascii = std::all_of(word.begin(), word.end(), [](char32_t c) { return c < 0x80; });
  if (ascii) return word;
  const std::string utf8 = encode_utf8(word);
  utf8proc_uint8_t* mapped = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(utf8.data()), static_cast<utf8proc_ssize_t>(utf8.size()),
                   &mapped, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE));
  CodePoints decomposed;
  if (n < 0) {
    decomposed = word;  // only on memory exhaustion: our text is valid UTF-8 by construction
  } else {
    std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owner(mapped, &std::free);
    decode_utf8(std::string_view(reinterpret_cast<const char*>(mapped), static_cast<size_t>(n)), decomposed);
  }
  CodePoints out;
  out.reserve(decomposed.size());
  for (const char32_t c : decomposed)
    if (category_of(c) != UTF8PROC_CATEGORY_MN) out.push_back(c);
  return out;
}

// _clean_text then _tokenize_chinese_chars, on code points.
CodePoints clean_and_pad_cjk(std::string_view text) {
  CodePoints decoded;
  decode_utf8(text, decoded);
  CodePoints out;
  out.reserve(decoded.size());
  for (const char32_t c : decoded) {
    if (c == 0 || c == 0xFFFD || is_bert_control(c)) continue;
    if (is_bert_whitespace(c)) {
      out.push_back(U' ');
    } else if (is_cjk_ideograph(c)) {
      out.push_back(U' ');
      out.push_back(c);
      out.push_back(U' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Python str.split(): runs of str.isspace() characters separate words.
std::vector<CodePoints> split_whitespace(const CodePoints& text) {
  std::vector<CodePoints> words;
  CodePoints current;
  for (const char32_t c : text) {
    if (is_python_space(c)) {
      if (!current.empty()) words.push_back(std::move(current));
      current.clear();
    } else {
      current.push_back(c);
    }
  }
  if (!current.empty()) words.push_back(std::move(current));
  return words;
}

// _run_split_on_punc: every punctuation character becomes a word of its own.
void split_punctuation(const CodePoints& word, std::vector<std::string>& out) {
  std::string current;
  for (const char32_t c : word) {
    if (is_bert_punctuation(c)) {
      if (!current.empty()) out.push_back(std::move(current));
      current.clear();
      out.emplace_back();
      append_utf8(c, out.back());
    } else {
      append_utf8(c, current);
    }
  }
  if (!current.empty()) out.push_back(std::move(current));
}

}  // namespace

bool is_bert_whitespace(char32_t cp) {
  if (cp == U' ' || cp == U'\t' || cp == U'\n' || cp == U'\r') return true;
  return category_of(cp) == UTF8PROC_CATEGORY_ZS;
}

bool is_bert_control(char32_t cp) {
  if (cp == U'\t' || cp == U'\n' || cp == U'\r') return false;
  switch (category_of(cp)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN:
      return true;
    default:
      return false;
  }
}

bool is_bert_punctuation(char32_t cp) {
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) return true;
  switch (category_of(cp)) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
      return true;
    default:
      return false;
  }
}

bool is_cjk_ideograph(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

std::vector<std::string> bert_basic_split(std::string_view text, bool lower_case) {
  std::vector<std::string> out;
  for (CodePoints& word : split_whitespace(clean_and_pad_cjk(text))) {
    if (lower_case) {
      to_lower_python(word);
      word = strip_accents(word);
    }
    split_punctuation(word, out);
  }
  return out;
}

void wordpiece_word(const std::string& word, const std::unordered_map<std::string, int32_t>& vocab, int32_t unk_id,
                    std::vector<int32_t>& out, size_t max_chars) {
  CodePoints chars;
  decode_utf8(word, chars);
  if (chars.size() > max_chars) {
    out.push_back(unk_id);
    return;
  }
  // Byte offset of every code point boundary, so candidate substrings are plain byte ranges.
  std::vector<size_t> offsets{0};
  for (const char32_t c : chars) {
    std::string tmp;
    append_utf8(c, tmp);
    offsets.push_back(offsets.back() + tmp.size());
  }
  const size_t first_piece = out.size();
  std::string candidate;
  for (size_t start = 0; start < chars.size();) {
    size_t end = chars.size();
    int32_t found = -1;
    for (; end > start; --end) {
      candidate.assign(start > 0 ? "##" : "");
      candidate.append(word, offsets[start], offsets[end] - offsets[start]);
      const auto it = vocab.find(candidate);
      if (it != vocab.end()) {
        found = it->second;
        break;
      }
    }
    if (found < 0) {
      out.resize(first_piece);
      out.push_back(unk_id);
      return;
    }
    out.push_back(found);
    start = end;
  }
}

}  // namespace detail

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const char* const kSpecialTokens[] = {"[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]"};

// BERT's load_vocab: one token per line (stripped), id = line number.
std::unordered_map<std::string, int32_t> read_vocab_txt(const std::string& path) {
  const std::string text = read_file_text(path);
  std::unordered_map<std::string, int32_t> vocab;
  int32_t id = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string token = text.substr(pos, end - pos);
    const size_t first = token.find_first_not_of(" \t\r");
    const size_t last = token.find_last_not_of(" \t\r");
    token = first == std::string::npos ? std::string() : token.substr(first, last - first + 1);
    vocab[std::move(token)] = id++;  // a repeated line takes the later id, as a Python dict does
    pos = end + 1;
  }
  return vocab;
}

json read_json_object(const std::string& path) {
  json j;
  const std::string text = read_file_text(path);
  check_json_depth(text, "'" + path + "'");
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(ErrorCode::kCorrupt, "'" + path + "' is not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw Error(ErrorCode::kCorrupt, "'" + path + "' must hold a JSON object, found " + j.dump());
  return j;
}

}  // namespace

struct WordPieceTokenizer::Impl {
  std::unordered_map<std::string, int32_t> vocab;
  std::vector<std::string> unsplittable;  ///< special and added tokens, longest first
  bool lower_case = true;
  int32_t cls = 0, sep = 0, pad = 0, unk = 0;
  int64_t size = 0;

  Impl(std::unordered_map<std::string, int32_t> v, bool lower, const std::string& source) : vocab(std::move(v)), lower_case(lower) {
    auto required = [&](const char* token) {
      const auto it = vocab.find(token);
      if (it == vocab.end()) throw Error(ErrorCode::kCorrupt, "vocabulary '" + source + "' has no '" + token + "' entry");
      return it->second;
    };
    cls = required("[CLS]");
    sep = required("[SEP]");
    pad = required("[PAD]");
    unk = required("[UNK]");
    for (const auto& [token, id] : vocab) size = std::max<int64_t>(size, int64_t{id} + 1);
    for (const char* token : kSpecialTokens)
      if (vocab.count(token)) unsplittable.emplace_back(token);
    sort_unsplittable();
  }

  void sort_unsplittable() {
    std::sort(unsplittable.begin(), unsplittable.end(), [](const std::string& a, const std::string& b) {
      return a.size() != b.size() ? a.size() > b.size() : a < b;
    });
    unsplittable.erase(std::unique(unsplittable.begin(), unsplittable.end()), unsplittable.end());
  }

  void add_tokens(const std::string& path) {
    const json j = read_json_object(path);
    for (const auto& [token, value] : j.items()) {
      if (!value.is_number_integer() || value.get<int64_t>() < 0 || value.get<int64_t>() > (int64_t{1} << 30))
        throw Error(ErrorCode::kCorrupt, "'" + path + "' entry \"" + token + "\": expected a non-negative id, found " + value.dump());
      const auto id = static_cast<int32_t>(value.get<int64_t>());
      vocab[token] = id;
      size = std::max<int64_t>(size, int64_t{id} + 1);
      unsplittable.push_back(token);
    }
    sort_unsplittable();
  }

  // Text between special/added tokens goes through BERT's pipeline; those tokens map directly.
  template <typename Emit>
  void for_each_piece(std::string_view text, Emit&& emit) const {
    size_t pos = 0;
    while (pos <= text.size()) {
      size_t best = std::string_view::npos;
      const std::string* which = nullptr;
      for (const std::string& token : unsplittable) {
        const size_t at = text.find(token, pos);
        if (at != std::string_view::npos && (at < best)) {
          best = at;
          which = &token;
        }
      }
      const std::string_view chunk = text.substr(pos, best == std::string_view::npos ? std::string_view::npos : best - pos);
      std::vector<int32_t> ids;
      for (const std::string& word : detail::bert_basic_split(chunk, lower_case)) {
        ids.clear();
        detail::wordpiece_word(word, vocab, unk, ids);
        emit(word, ids);
      }
      if (!which) break;
      emit(*which, std::vector<int32_t>{vocab.at(*which)});
      pos = best + which->size();
    }
  }
};

WordPieceTokenizer::WordPieceTokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WordPieceTokenizer::WordPieceTokenizer(WordPieceTokenizer&&) noexcept = default;
WordPieceTokenizer& WordPieceTokenizer::operator=(WordPieceTokenizer&&) noexcept = default;
WordPieceTokenizer::~WordPieceTokenizer() = default;

WordPieceTokenizer WordPieceTokenizer::from_vocab(const std::string& vocab_txt, bool lower_case) {
  return WordPieceTokenizer(std::make_unique<Impl>(read_vocab_txt(vocab_txt), lower_case, vocab_txt));
}

WordPieceTokenizer WordPieceTokenizer::from_directory(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Error(ErrorCode::kNotFound, "tokenizer directory '" + dir + "' does not exist or is not a directory");
  const fs::path root(dir);
  const std::string vocab_path = (root / "vocab.txt").string();
  if (!fs::is_regular_file(vocab_path, ec))
    throw Error(ErrorCode::kNotFound, "tokenizer directory '" + dir + "' has no vocab.txt (a BERT WordPiece vocabulary)");
  bool lower_case = true;
  const fs::path config = root / "tokenizer_config.json";
  if (fs::is_regular_file(config, ec)) {
    const json j = read_json_object(config.string());
    if (j.contains("do_lower_case") && j.at("do_lower_case").is_boolean()) lower_case = j.at("do_lower_case").get<bool>();
  }
  auto impl = std::make_unique<Impl>(read_vocab_txt(vocab_path), lower_case, vocab_path);
  const fs::path added = root / "added_tokens.json";
  if (fs::is_regular_file(added, ec)) impl->add_tokens(added.string());
  return WordPieceTokenizer(std::move(impl));
}

std::vector<std::string> WordPieceTokenizer::split(std::string_view text) const {
  std::vector<std::string> id_to_token(static_cast<size_t>(impl_->size));
  for (const auto& [token, id] : impl_->vocab) id_to_token[static_cast<size_t>(id)] = token;
  std::vector<std::string> out;
  impl_->for_each_piece(text, [&](const std::string&, const std::vector<int32_t>& ids) {
    for (const int32_t id : ids) out.push_back(id_to_token[static_cast<size_t>(id)]);
  });
  return out;
}

std::vector<int32_t> WordPieceTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> out;
  impl_->for_each_piece(text, [&](const std::string&, const std::vector<int32_t>& ids) {
    out.insert(out.end(), ids.begin(), ids.end());
  });
  return out;
}

TokenBatch WordPieceTokenizer::tokenize(const std::vector<std::string>& texts, int max_length) const {
  if (max_length < 2)
    throw Error(ErrorCode::kInvalidArgument, "WordPiece tokenize: max_length must be >= 2 ([CLS] and [SEP]), found " +
                                                 std::to_string(max_length));
  TokenBatch batch;
  batch.n_texts = static_cast<int64_t>(texts.size());
  batch.context_length = max_length;
  batch.ids.assign(texts.size() * static_cast<size_t>(max_length), impl_->pad);
  batch.lengths.resize(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    std::vector<int32_t> pieces = encode(texts[i]);
    if (pieces.size() > static_cast<size_t>(max_length - 2)) pieces.resize(static_cast<size_t>(max_length - 2));
    int32_t* row = batch.ids.data() + i * static_cast<size_t>(max_length);
    row[0] = impl_->cls;
    std::copy(pieces.begin(), pieces.end(), row + 1);
    row[pieces.size() + 1] = impl_->sep;
    batch.lengths[i] = static_cast<int32_t>(pieces.size() + 2);
  }
  return batch;
}

int32_t WordPieceTokenizer::cls_id() const { return impl_->cls; }
int32_t WordPieceTokenizer::sep_id() const { return impl_->sep; }
int32_t WordPieceTokenizer::pad_id() const { return impl_->pad; }
int32_t WordPieceTokenizer::unk_id() const { return impl_->unk; }
int64_t WordPieceTokenizer::vocab_size() const { return impl_->size; }
bool WordPieceTokenizer::lower_case() const { return impl_->lower_case; }

std::optional<int32_t> WordPieceTokenizer::token_id(std::string_view token) const {
  const auto it = impl_->vocab.find(std::string(token));
  if (it == impl_->vocab.end()) return std::nullopt;
  return it->second;
}

std::vector<int32_t> attention_mask(const TokenBatch& batch) {
  if (batch.lengths.size() != static_cast<size_t>(batch.n_texts))
    throw Error(ErrorCode::kInvalidArgument, "attention_mask: " + std::to_string(batch.lengths.size()) + " lengths for " +
                                                 std::to_string(batch.n_texts) + " texts");
  std::vector<int32_t> mask(static_cast<size_t>(batch.n_texts * batch.context_length), 0);
  for (int64_t i = 0; i < batch.n_texts; ++i) {
    const int64_t len = std::min<int64_t>(batch.lengths[static_cast<size_t>(i)], batch.context_length);
    std::fill_n(mask.begin() + i * batch.context_length, len, 1);
  }
  return mask;
}

}  // namespace cir::text
