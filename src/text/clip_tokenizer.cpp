// ClipTokenizer: clean -> pre-tokenize -> bytes as byte symbols -> BPE (cached per word), the
// pipeline of OpenAI's simple_tokenizer.encode, and clip.tokenize's framing and truncation.
#include <algorithm>
#include <filesystem>
#include <mutex>

#include "cir/text.h"
#include "text/clean.h"
#include "text/pretokenize.h"
#include "text/tokenizer_impl.h"

namespace cir::text {
namespace {

// Words longer than this are encoded but not cached (a 1 MB run of letters is one word), and
// the cache is emptied when it reaches kMaxCacheEntries, so memory stays bounded on any input.
constexpr size_t kMaxCachedWordBytes = 256;
constexpr size_t kMaxCacheEntries = size_t{1} << 18;
constexpr size_t kMaxRetainedScratch = size_t{1} << 16;

int32_t required_special(const std::unordered_map<std::string, int32_t>& vocab, std::string_view token,
                         const std::string& source) {
  const auto it = vocab.find(std::string(token));
  if (it == vocab.end())
    throw Error(ErrorCode::kCorrupt, "vocabulary " + source + " has no '" + std::string(token) + "' entry");
  return it->second;
}

}  // namespace

ClipTokenizer::Impl::Impl(detail::BpeTables tables) : bpe(tables) {
  start_id = required_special(tables.token_to_id, detail::kStartOfText, tables.vocab_source);
  end_id = required_special(tables.token_to_id, detail::kEndOfText, tables.vocab_source);
  int32_t max_id = -1;
  for (const auto& [token, id] : tables.token_to_id) max_id = std::max(max_id, id);
  id_to_token.assign(static_cast<size_t>(max_id + 1), std::string());
  id_present.assign(static_cast<size_t>(max_id + 1), false);
  for (const auto& [token, id] : tables.token_to_id) {
    id_to_token[static_cast<size_t>(id)] = token;
    id_present[static_cast<size_t>(id)] = true;
  }
  token_to_id = std::move(tables.token_to_id);
}

void ClipTokenizer::Impl::encode_word_cached(const std::string& word, std::vector<int32_t>& out) const {
  {
    std::shared_lock lock(cache_mutex);
    const auto it = cache.find(word);
    if (it != cache.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t first = out.size();
  bpe.encode_word(word, out);
  if (word.size() > kMaxCachedWordBytes) return;
  std::unique_lock lock(cache_mutex);
  if (cache.size() >= kMaxCacheEntries) cache.clear();
  cache.emplace(word, std::vector<int32_t>(out.begin() + static_cast<std::ptrdiff_t>(first), out.end()));
}

void ClipTokenizer::Impl::encode_into(std::string_view text, std::vector<int32_t>& out) const {
  // Scratch buffers reused across calls on the same thread: no per-caption allocations.
  thread_local detail::CodePoints cleaned;
  thread_local std::vector<detail::Piece> pieces;
  thread_local std::string word;
  detail::clean_to_code_points(text, cleaned);
  pieces.clear();
  detail::pretokenize(cleaned, pieces);
  for (const detail::Piece& piece : pieces) {
    word.clear();
    detail::append_utf8(cleaned.data() + piece.begin, cleaned.data() + piece.end, word);
    // simple_tokenizer's cache is seeded with the two special tokens, mapping them to themselves.
    if (word == detail::kStartOfText) {
      out.push_back(start_id);
    } else if (word == detail::kEndOfText) {
      out.push_back(end_id);
    } else {
      encode_word_cached(word, out);
    }
  }
  // Do not let one huge input pin megabytes of scratch space to this thread.
  if (cleaned.capacity() > kMaxRetainedScratch) detail::CodePoints().swap(cleaned);
  if (pieces.capacity() > kMaxRetainedScratch) std::vector<detail::Piece>().swap(pieces);
}

ClipTokenizer::ClipTokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ClipTokenizer::ClipTokenizer(ClipTokenizer&&) noexcept = default;
ClipTokenizer& ClipTokenizer::operator=(ClipTokenizer&&) noexcept = default;
ClipTokenizer::~ClipTokenizer() = default;

ClipTokenizer ClipTokenizer::from_vocab_merges(const std::string& vocab_json, const std::string& merges_txt) {
  return ClipTokenizer(std::make_unique<Impl>(detail::read_vocab_merges(vocab_json, merges_txt)));
}

ClipTokenizer ClipTokenizer::from_tokenizer_json(const std::string& path) {
  return ClipTokenizer(std::make_unique<Impl>(detail::read_tokenizer_json(path)));
}

ClipTokenizer ClipTokenizer::from_openai_bpe(const std::string& bpe_gz_path) {
  return ClipTokenizer(std::make_unique<Impl>(detail::read_openai_bpe(bpe_gz_path)));
}

ClipTokenizer ClipTokenizer::from_directory(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Error(ErrorCode::kNotFound, "tokenizer directory '" + dir + "' does not exist or is not a directory");
  const fs::path root(dir);
  const auto has = [&](const char* name) { return fs::is_regular_file(root / name, ec); };
  if (has("vocab.json") && has("merges.txt"))
    return from_vocab_merges((root / "vocab.json").string(), (root / "merges.txt").string());
  if (has("tokenizer.json")) return from_tokenizer_json((root / "tokenizer.json").string());
  if (has("bpe_simple_vocab_16e6.txt.gz")) return from_openai_bpe((root / "bpe_simple_vocab_16e6.txt.gz").string());
  if (has("vocab.json") || has("merges.txt"))
    throw Error(ErrorCode::kNotFound,
                "tokenizer directory '" + dir + "' has only one of vocab.json and merges.txt; both are needed");
  throw Error(ErrorCode::kNotFound,
              "tokenizer directory '" + dir +
                  "' holds none of vocab.json + merges.txt, tokenizer.json, bpe_simple_vocab_16e6.txt.gz");
}

std::vector<int32_t> ClipTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  impl_->encode_into(text, ids);
  return ids;
}

TokenBatch ClipTokenizer::tokenize(const std::vector<std::string>& texts, int context_length) const {
  if (context_length < 1)
    throw Error(ErrorCode::kInvalidArgument,
                "tokenize: context_length must be >= 1, found " + std::to_string(context_length));
  TokenBatch batch;
  batch.n_texts = static_cast<int64_t>(texts.size());
  batch.context_length = context_length;
  batch.ids.assign(texts.size() * static_cast<size_t>(context_length), 0);
  batch.lengths.assign(texts.size(), 0);
  std::vector<int32_t> ids;
  for (size_t row = 0; row < texts.size(); ++row) {
    ids.clear();
    ids.push_back(impl_->start_id);
    impl_->encode_into(texts[row], ids);
    ids.push_back(impl_->end_id);
    // clip.tokenize(truncate=True): keep the first context_length ids, last one forced to eot.
    if (ids.size() > static_cast<size_t>(context_length)) {
      ids.resize(static_cast<size_t>(context_length));
      ids.back() = impl_->end_id;
    }
    std::copy(ids.begin(), ids.end(),
              batch.ids.begin() + static_cast<std::ptrdiff_t>(row * static_cast<size_t>(context_length)));
    batch.lengths[row] = static_cast<int32_t>(ids.size());
  }
  return batch;
}

int32_t ClipTokenizer::start_id() const { return impl_->start_id; }
int32_t ClipTokenizer::end_id() const { return impl_->end_id; }
int64_t ClipTokenizer::vocab_size() const { return static_cast<int64_t>(impl_->id_to_token.size()); }

std::optional<int32_t> ClipTokenizer::token_id(std::string_view token) const {
  const auto it = impl_->token_to_id.find(std::string(token));
  if (it == impl_->token_to_id.end()) return std::nullopt;
  return it->second;
}

std::string ClipTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string joined;
  for (int32_t id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= impl_->id_to_token.size() || !impl_->id_present[static_cast<size_t>(id)])
      throw Error(ErrorCode::kInvalidArgument, "decode: id " + std::to_string(id) + " is not in the vocabulary (size " +
                                                   std::to_string(impl_->id_to_token.size()) + ")");
    joined += impl_->id_to_token[static_cast<size_t>(id)];
  }
  // Byte symbols back to bytes; anything outside the byte alphabet (never produced by encode)
  // is kept as its own UTF-8.
  static const auto inverse = [] {
    std::unordered_map<char32_t, uint8_t> m;
    for (int b = 0; b < 256; ++b) m.emplace(detail::byte_to_unicode()[b], static_cast<uint8_t>(b));
    return m;
  }();
  detail::CodePoints symbols;
  detail::decode_utf8(joined, symbols);
  std::string bytes;
  for (char32_t c : symbols) {
    const auto it = inverse.find(c);
    if (it != inverse.end())
      bytes.push_back(static_cast<char>(it->second));
    else
      detail::append_utf8(c, bytes);
  }
  detail::CodePoints text;
  detail::decode_utf8(bytes, text);
  std::string out = detail::encode_utf8(text);
  std::string result;
  result.reserve(out.size());
  for (size_t i = 0; i < out.size();) {
    if (out.compare(i, detail::kEndOfWord.size(), detail::kEndOfWord) == 0) {
      result.push_back(' ');
      i += detail::kEndOfWord.size();
    } else {
      result.push_back(out[i++]);
    }
  }
  return result;
}

void ClipTokenizer::clear_cache() const {
  std::unique_lock lock(impl_->cache_mutex);
  impl_->cache.clear();
}

}  // namespace cir::text
