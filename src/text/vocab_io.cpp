// Readers for CLIP vocabularies: Hugging Face vocab.json + merges.txt, a Hugging Face fast
// tokenizer.json, and OpenAI's bpe_simple_vocab_16e6.txt.gz. Each returns the raw tables; the
// checks that the tables fit together live in BpeModel and ClipTokenizer::Impl.
#include <zlib.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "cir/core.h"
#include "text/bpe.h"
#include "text/tokenizer_impl.h"

namespace cir::text::detail {
namespace {

// Bounds that keep a damaged or hostile file from allocating without limit.
constexpr int64_t kMaxTokenId = 10'000'000;
constexpr size_t kMaxInflatedBytes = size_t{256} << 20;
// simple_tokenizer reads merges[1 : 49152 - 256 - 2 + 1] of the OpenAI file.
constexpr size_t kOpenAiMergeCount = 49152 - 256 - 2;

std::string quoted(const std::string& path) { return "'" + path + "'"; }

std::string read_existing_file(const std::string& path, const char* what) {
  if (!file_exists(path)) throw Error(ErrorCode::kNotFound, std::string(what) + " " + quoted(path) + " does not exist");
  return read_file_text(path);
}

nlohmann::json parse_json(const std::string& text, const std::string& source) {
  check_json_depth(text, source);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::kCorrupt, source + " is not valid JSON: " + e.what());
  }
}

void add_vocab_entry(BpeTables& tables, const std::string& token, const nlohmann::json& id, const std::string& source) {
  if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > kMaxTokenId)
    throw Error(ErrorCode::kCorrupt,
                source + ": the id of token '" + token + "' must be an integer in [0, 10000000], found " + id.dump());
  tables.token_to_id[token] = static_cast<int32_t>(id.get<int64_t>());
}

void read_vocab_object(const nlohmann::json& vocab, BpeTables& tables, const std::string& source) {
  if (!vocab.is_object())
    throw Error(ErrorCode::kCorrupt,
                source + ": expected a JSON object mapping tokens to ids, found " + std::string(vocab.type_name()));
  tables.token_to_id.reserve(vocab.size());
  for (const auto& [token, id] : vocab.items()) add_vocab_entry(tables, token, id, source);
}

// Splits a merge line at ASCII whitespace (what Python's str.split() does for these symbols,
// which never contain whitespace by construction of bytes_to_unicode).
std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    size_t j = i;
    while (j < line.size() && !(line[j] == ' ' || line[j] == '\t' || line[j] == '\r')) ++j;
    if (j > i) fields.push_back(line.substr(i, j - i));
    i = j;
  }
  return fields;
}

void add_merge(BpeTables& tables, std::string_view line, int64_t line_no, const std::string& source) {
  const auto fields = split_fields(line);
  if (fields.size() != 2)
    throw Error(ErrorCode::kCorrupt, source + " line " + std::to_string(line_no) +
                                         ": expected two space-separated symbols, found '" + std::string(line) + "'");
  tables.merges.emplace_back(std::string(fields[0]), std::string(fields[1]));
  tables.merge_lines.push_back(line_no);
}

// Calls fn(line, 1-based line number) for each '\n'-separated line.
template <typename Fn>
void for_each_line(std::string_view text, Fn fn) {
  int64_t line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    ++line_no;
    if (!fn(text.substr(pos, end - pos), line_no)) return;
    pos = end + 1;
  }
}

bool is_blank(std::string_view line) { return split_fields(line).empty(); }

std::string inflate_gzip(const std::vector<uint8_t>& compressed, const std::string& path) {
  z_stream zs{};
  // 15 window bits + 32: accept gzip or zlib headers.
  if (inflateInit2(&zs, 15 + 32) != Z_OK) throw Error(ErrorCode::kInternal, "zlib inflateInit2 failed");
  std::string out;
  zs.next_in = const_cast<Bytef*>(compressed.data());
  zs.avail_in = static_cast<uInt>(compressed.size());
  char buffer[1 << 16];
  int status = Z_OK;
  while (true) {
    zs.next_out = reinterpret_cast<Bytef*>(buffer);
    zs.avail_out = sizeof buffer;
    status = inflate(&zs, Z_NO_FLUSH);
    out.append(buffer, sizeof buffer - zs.avail_out);
    if (out.size() > kMaxInflatedBytes) {
      inflateEnd(&zs);
      throw Error(ErrorCode::kCorrupt, quoted(path) + " inflates to more than 256 MiB; not a CLIP BPE vocabulary");
    }
    if (status == Z_STREAM_END) {
      // gzip allows several members back to back (Python's gzip reads them all).
      if (zs.avail_in == 0) break;
      inflateReset(&zs);
      continue;
    }
    // Errors, and a stream that ends before its trailer (no input left, output not full).
    if (status != Z_OK || (zs.avail_in == 0 && zs.avail_out != 0)) break;
  }
  inflateEnd(&zs);
  if (status != Z_STREAM_END)
    throw Error(ErrorCode::kCorrupt, quoted(path) + " is not a complete gzip/zlib stream (zlib status " +
                                         std::to_string(status) + (zs.msg ? std::string(": ") + zs.msg : "") + ")");
  return out;
}

}  // namespace

BpeTables read_vocab_merges(const std::string& vocab_json, const std::string& merges_txt) {
  BpeTables tables;
  tables.vocab_source = quoted(vocab_json);
  tables.merges_source = quoted(merges_txt);
  read_vocab_object(parse_json(read_existing_file(vocab_json, "vocabulary file"), tables.vocab_source), tables,
                    tables.vocab_source);
  const std::string merges = read_existing_file(merges_txt, "merges file");
  for_each_line(merges, [&](std::string_view line, int64_t line_no) {
    // Hugging Face writes "#version: 0.2" as the first line; blank lines (the final newline)
    // carry no merge.
    if ((line_no == 1 && line.starts_with("#version")) || is_blank(line)) return true;
    add_merge(tables, line, line_no, tables.merges_source);
    return true;
  });
  return tables;
}

BpeTables read_tokenizer_json(const std::string& path) {
  BpeTables tables;
  const nlohmann::json root = parse_json(read_existing_file(path, "tokenizer file"), quoted(path));
  if (!root.is_object() || !root.contains("model") || !root["model"].is_object())
    throw Error(ErrorCode::kCorrupt,
                quoted(path) + ": expected an object with a \"model\" object (Hugging Face tokenizer.json)");
  const nlohmann::json& model = root["model"];
  if (model.contains("type") && model["type"] != "BPE")
    throw Error(ErrorCode::kUnsupported,
                quoted(path) + ": model.type is " + model["type"].dump() + ", expected \"BPE\"");
  if (!model.contains("vocab") || !model.contains("merges") || !model["merges"].is_array())
    throw Error(ErrorCode::kCorrupt, quoted(path) + ": model needs \"vocab\" (object) and \"merges\" (array)");
  tables.vocab_source = quoted(path) + " (model.vocab)";
  tables.merges_source = quoted(path) + " (model.merges)";
  read_vocab_object(model["vocab"], tables, tables.vocab_source);
  // Special tokens may live only in added_tokens.
  if (root.contains("added_tokens") && root["added_tokens"].is_array()) {
    for (const auto& added : root["added_tokens"]) {
      if (!added.is_object() || !added.contains("content") || !added["content"].is_string() || !added.contains("id"))
        continue;
      const std::string content = added["content"].get<std::string>();
      if (!tables.token_to_id.count(content))
        add_vocab_entry(tables, content, added["id"], quoted(path) + " (added_tokens)");
    }
  }
  int64_t index = 0;
  for (const auto& merge : model["merges"]) {
    // Older files write "a b", newer ones ["a", "b"].
    if (merge.is_string()) {
      add_merge(tables, merge.get<std::string>(), index, tables.merges_source + " index");
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
      tables.merges.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
      tables.merge_lines.push_back(index);
    } else {
      throw Error(ErrorCode::kCorrupt, tables.merges_source + " index " + std::to_string(index) +
                                           ": expected \"a b\" or [\"a\", \"b\"], found " + merge.dump());
    }
    ++index;
  }
  return tables;
}

BpeTables read_openai_bpe(const std::string& bpe_gz_path) {
  if (!file_exists(bpe_gz_path))
    throw Error(ErrorCode::kNotFound, "BPE vocabulary " + quoted(bpe_gz_path) + " does not exist");
  const std::string text = inflate_gzip(read_file_bytes(bpe_gz_path), bpe_gz_path);
  BpeTables tables;
  tables.vocab_source = quoted(bpe_gz_path);
  tables.merges_source = quoted(bpe_gz_path);
  // The first line is a header; then at most kOpenAiMergeCount merges are used.
  for_each_line(text, [&](std::string_view line, int64_t line_no) {
    if (line_no == 1 || is_blank(line)) return true;
    add_merge(tables, line, line_no, tables.merges_source);
    return tables.merges.size() < kOpenAiMergeCount;
  });
  // The vocabulary is implied: byte symbols, byte symbols + "</w>", every merge's result in
  // rank order, then the two special tokens. A repeated string keeps its last id (dict(zip)).
  std::vector<std::string> vocab = base_vocabulary();
  for (const auto& [left, right] : tables.merges) vocab.push_back(left + right);
  vocab.emplace_back(kStartOfText);
  vocab.emplace_back(kEndOfText);
  tables.token_to_id.reserve(vocab.size());
  for (size_t i = 0; i < vocab.size(); ++i) tables.token_to_id[vocab[i]] = static_cast<int32_t>(i);
  return tables;
}

}  // namespace cir::text::detail
