// cir index (L1): the store behind every search — an index directory holding the items of a
// gallery (SQLite), their embedding vectors (an append-only file) and an ANN structure (FAISS).
//
// Contract
// - Ownership: a Store owns its directory while open. One writer process per directory: open()
//   takes an exclusive flock on <dir>/LOCK (read-only opens take a shared one), so a second
//   writer fails fast with kIo instead of corrupting the files. Vectors handed in (NewItem::vectors)
//   are borrowed for the duration of the call only.
// - Threads: every const method and search() may run concurrently from many threads; mutating
//   methods (add/remove/compact/set_index_key/flush) take an exclusive lock and wait for running
//   searches. No faiss, SQLite or JSON type crosses this header.
// - Errors: cir::Error only. kNotFound (directory, manifest or item missing), kCorrupt (damaged
//   manifest/SQLite/vector file: the message names the file and the field or block), kUnsupported
//   (a format_version from a newer cir), kInvalidArgument (bad vectors, dims, filters, keys),
//   kIo (the OS refused, or another process holds the index). Expected misses are std::optional.
// - Crash safety: add_items writes and fsyncs a vectors block first, THEN commits the SQLite
//   transaction that references those rows. A kill -9 at any moment loses at most the batch in
//   flight: on open, rows past what SQLite references (a torn or uncommitted tail) are truncated
//   away, and re-adding the lost batch creates no duplicates (external_id is unique).
// - Damage from outside: open() checks only the last block's CRC; verify_index / Store::verify
//   check everything and list problems (a plain VerifyReport, never a throw for damage). Searches
//   skip items whose score is not finite (QueryHits::n_invalid). vectors.bin is memory-mapped;
//   every read first checks that it was not truncated, modified or replaced since the Store last
//   saw it (kCorrupt naming the file instead of SIGBUS).
//
// On-disk layout of an index directory (format_version 1)
//   manifest.json   model identity, preprocessing, embed_dim, dtype, vectors_per_item, row_parts
//                   (optional), index key;
//                   written atomically (temp + fsync + rename); its presence marks a complete index.
//   items.sqlite    WAL mode, synchronous=NORMAL (see src/index/store.cpp for why that suffices):
//                   items(id, external_id UNIQUE, content_hash, size_bytes, mtime, vector_offset,
//                   n_vectors, status 'ok'|'removed', added_at, updated_at, caption),
//                   metadata(item_id, key, value_text, value_num) indexed by (key, value),
//                   failures(path, reason, at, n_attempts), kv(key, value): schema_version,
//                   vector_rows (rows committed), vectors_epoch (bumped by compact).
//   vectors.bin     64-byte file header {magic "CIRVECT1", dim, dtype, epoch, crc}, then blocks:
//                   32-byte header {magic, n_rows, first_row, dim, dtype, payload crc32,
//                   header crc32} + n_rows x dim fp16/fp32 values. Row r is vector r; an item
//                   owns rows [vector_offset, vector_offset + n_vectors), all inside one block.
//   faiss.index     optional cache of a trained/built ANN index (not written for "Flat", which is
//                   rebuilt at open in about the time it takes to read it); carries the vectors
//                   epoch and the row count it covers, and is ignored and rebuilt when stale.
//   LOCK            flock target; holds no data.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "cir/core.h"

namespace cir::index {

/// Version of the directory layout this build writes; it reads this version and older ones.
inline constexpr int kIndexFormatVersion = 1;

/// How vectors are stored in vectors.bin. fp16 halves the disk and page-cache footprint at a
/// cost of ~1e-3 relative error per component, far below what changes a CLIP ranking.
enum class VectorDType { kFp16, kFp32 };

/// "fp16" | "fp32".
std::string_view vector_dtype_name(VectorDType dtype);
/// Parses "fp16"/"float16" or "fp32"/"float32"; throws kInvalidArgument otherwise.
VectorDType parse_vector_dtype(std::string_view name);

/// Which model produced the vectors; queries must come from the same one.
struct ModelIdentity {
  std::string family;          ///< "clip", "blip2", ...
  std::string format;          ///< "hf" | "open_clip" | "openai_torchscript" | ...
  std::string path;            ///< where the model was loaded from (informative)
  std::string weights_sha256;  ///< hex SHA-256 of the weights file; the identity check uses it
};

/// A named column range of every stored row. Multi-part rows keep several embeddings of one
/// vector side by side (BLIP-2: the projected retrieval feature, then the unprojected Q-Former
/// query output ZIRACLE scores), each L2-normalised on its own.
struct RowPart {
  std::string name;  ///< e.g. "features", "query_embeds"
  int dim = 0;       ///< values; the parts' dims sum to embed_dim
};

/// Mirrors manifest.json: the static description of an index directory.
struct IndexManifest {
  int format_version = kIndexFormatVersion;
  std::string created_at;  ///< ISO-8601 UTC, set by Store::create
  std::string updated_at;  ///< ISO-8601 UTC, refreshed by Store::flush after changes
  ModelIdentity model;
  PreprocessSpec preprocess;
  int embed_dim = 0;             ///< values per vector; required (> 0)
  VectorDType dtype = VectorDType::kFp16;
  int vectors_per_item = 1;      ///< most vectors one item may hold (CLIP 1, BLIP-2 Q-Former 32)
  /// Column ranges of each row, in order; empty = the whole row is one embedding (CLIP).
  /// Written to manifest.json only when non-empty, so single-part manifests are unchanged.
  std::vector<RowPart> row_parts;
  /// FAISS factory string ("Flat", "HNSW32", "IVF1024,PQ64", ...) or "auto" (see
  /// resolve_index_key). The metric is always inner product on L2-normalised vectors.
  std::string index_key = "Flat";
  int64_t memory_budget_bytes = int64_t{4} << 30;  ///< RAM the ANN index may take under "auto"
  std::string cir_version;       ///< version of the cir build that created the index
};

/// manifest.json text for a manifest (pretty-printed JSON).
std::string manifest_to_json(const IndexManifest& manifest);
/// Parses manifest.json text. `source` names the file in errors. Throws kCorrupt naming the field
/// (with expected and found values) and kUnsupported for a format_version newer than this build.
IndexManifest manifest_from_json(std::string_view text, const std::string& source);
/// An index directory's manifest without opening the index (no lock, no items, no ANN): kNotFound
/// when `dir` holds no manifest.json, kCorrupt as manifest_from_json.
IndexManifest read_manifest(const std::string& dir);

/// The concrete FAISS key "auto" stands for with n_vectors of dimension dim under a memory
/// budget (other keys are returned unchanged). Rule, in the spirit of autofaiss:
///  - n_vectors <= 50'000: "Flat" — an exact scan costs a few ms and recall is perfect;
///  - HNSW32 when its footprint, n * (4 * dim + 8 * 32 + 16) bytes, fits the budget;
///  - otherwise "IVF{nlist},PQ{m}" with nlist ~ 4 * sqrt(n) (power of two, 64..65536, at least
///    39 training vectors per list) and the largest m in {dim/4, dim/8, dim/16, 16, 8} that divides
///    dim and fits the budget (codes + ids + centroids).
std::string resolve_index_key(const std::string& key, int64_t n_vectors, int dim, int64_t memory_budget_bytes);

// ---------------------------------------------------------------------------------------------
// Items

/// A metadata value: text or number (numbers are doubles: exact for integers up to 2^53).
using MetaValue = std::variant<std::string, double>;

/// One stored item as read back.
struct ItemRecord {
  int64_t id = 0;            ///< internal id: stable across replace, never reused
  std::string external_id;   ///< the caller's key, e.g. the image path relative to the gallery root
  std::string content_hash;  ///< caller-defined (e.g. SHA-256 of the file) for change detection
  int64_t size_bytes = 0;
  int64_t mtime = 0;         ///< caller-defined time stamp (e.g. file mtime, seconds)
  std::string caption;
  int n_vectors = 0;
  bool removed = false;      ///< true for tombstones (listed only on request)
  int64_t added_at = 0;      ///< unix seconds of the first add
  int64_t updated_at = 0;    ///< unix seconds of the last add/replace/remove
  std::map<std::string, MetaValue> metadata;
};

/// An item to add (or to replace, when its external_id exists already).
struct NewItem {
  std::string external_id;  ///< required, unique within the store
  std::string content_hash;
  int64_t size_bytes = 0;
  int64_t mtime = 0;
  std::string caption;
  std::map<std::string, MetaValue> metadata;
  const float* vectors = nullptr;  ///< borrowed: n_vectors x embed_dim floats, L2-normalised
  int n_vectors = 1;               ///< 1 .. manifest.vectors_per_item
};

/// A file that could not be indexed (corrupt image, unreadable file...), kept for reporting.
struct Failure {
  std::string path;
  std::string reason;
  int64_t at = 0;        ///< unix seconds of the last attempt
  int n_attempts = 0;
};

// ---------------------------------------------------------------------------------------------
// Filters

/// One test on a metadata field.
struct Condition {
  enum class Op { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn, kExists };
  std::string key;
  Op op = Op::kEq;
  /// kEq/kNe/ranges: one value; kIn/kNotIn: one or more; kExists: none. Ranges need numbers.
  /// A number matches numeric values, and text values spelled as that number ("3" for 3).
  std::vector<MetaValue> values;
};

/// A boolean tree of conditions on item metadata. Default-constructed = every live item.
/// kNe / kNotIn / kNot also select items that lack the key (Qdrant's must_not semantics).
struct Filter {
  enum class Kind { kAll, kCondition, kAnd, kOr, kNot };
  Kind kind = Kind::kAll;
  Condition condition;           ///< for kCondition
  std::vector<Filter> children;  ///< kAnd/kOr: any number; kNot: exactly one

  bool is_all() const { return kind == Kind::kAll; }
  /// key == value.
  static Filter match(std::string key, MetaValue value);
  /// key <op> value for a comparison op (kEq, kNe, kLt, kLe, kGt, kGe).
  static Filter compare(std::string key, Condition::Op op, MetaValue value);
  /// key in {values}.
  static Filter any_of(std::string key, std::vector<MetaValue> values);
  /// Items that have the key.
  static Filter exists(std::string key);
  static Filter all_of(std::vector<Filter> filters);  ///< AND (empty = all)
  static Filter one_of(std::vector<Filter> filters);  ///< OR (needs at least one)
  static Filter negate(Filter filter);                ///< NOT
  /// The filter in the expression language below; parse_filter(to_string()) gives it back.
  std::string to_string() const;
};

/// How deeply filters may nest (NOT and parentheses in the expression language, must / should /
/// must_not in JSON); deeper filters are refused with kInvalidArgument naming the limit.
inline constexpr int kMaxFilterDepth = 64;

/// Parses the CLI filter language (keywords case-insensitive). Throws kInvalidArgument naming the
/// column, what was expected and what was found, or that the filter nests deeper than
/// kMaxFilterDepth.
///   filter    := [or_expr]                      (empty = all items)
///   or_expr   := and_expr { (OR | "||") and_expr }
///   and_expr  := unary { (AND | "&&") unary }
///   unary     := (NOT | "!") unary | "(" or_expr ")" | condition
///   condition := key ( cmp value | [NOT] IN "(" value { "," value } ")" | EXISTS )
///   cmp       := "=" | "==" | "!=" | "<" | "<=" | ">" | ">="
///   key       := word | quoted
///   value     := number | word | quoted         (a word is text; quote text that looks numeric)
///   word      := [A-Za-z0-9_.:/@+-]+  not a keyword;  quoted := "..." | '...' (backslash escapes)
/// Example: color=red AND size>=3 AND shape in (circle, square) AND NOT tag="on sale"
Filter parse_filter(std::string_view expression);

/// Parses a Qdrant-style JSON filter: {"must": [...], "should": [...], "must_not": [...]} whose
/// elements are nested filters or {"key": k, "match": {"value": v} | {"any": [...]} |
/// {"except": [...]}} or {"key": k, "range": {"gt"|"gte"|"lt"|"lte": number, ...}}.
/// Throws kInvalidArgument naming the JSON path of the offending element, or that the document
/// nests deeper than the kMaxFilterDepth levels allow.
Filter parse_filter_json(std::string_view json);

// ---------------------------------------------------------------------------------------------
// Search

/// One search over a batch of queries. Filters and exclusions apply BEFORE the top-k cut, so
/// exactly k hits come back whenever k eligible items exist (thresholds aside).
struct SearchRequest {
  int k = 10;                   ///< hits per query (page size); 0..1'000'000 with offset
  int offset = 0;               ///< hits to skip (paging): returns ranks offset+1 .. offset+k
  Filter filter;                ///< metadata filter (default: all items)
  std::optional<float> score_threshold;  ///< drop hits scoring below this
  std::vector<int64_t> exclude_ids;      ///< ids never returned for any query
  /// Empty, or one list per query (e.g. each query's reference image).
  std::vector<std::vector<int64_t>> exclude_ids_per_query;
  /// When set, only these items are eligible (re-ranking a given candidate list, e.g. a
  /// Focus-CoIR query's 500 labelled images); unknown and removed ids are ignored. Combined with
  /// `filter` by AND; not counted in SearchResult::n_filtered.
  std::optional<std::vector<int64_t>> candidate_ids;
  bool exact = false;           ///< brute force over the stored vectors instead of the ANN index
  int ef_search = 0;            ///< HNSW efSearch; 0 = max(64, fetched candidates)
  int nprobe = 0;               ///< IVF lists probed; 0 = min(nlist, max(16, nlist / 16))
};

/// One result. Multi-vector items score the max over their vectors (exact, from stored vectors).
struct Hit {
  int64_t id = 0;
  float score = 0;  ///< inner product with the query (cosine for normalised vectors)
  int rank = 0;     ///< 1-based position in the full ranking (offset + 1 for the first hit)
};

/// Results of one query.
struct QueryHits {
  std::vector<Hit> hits;          ///< best first; ties broken by smaller id
  int64_t n_excluded = 0;         ///< eligible items removed by exclude_ids(_per_query)
  int64_t n_below_threshold = 0;  ///< hits of this page dropped by score_threshold
  /// Eligible items skipped because their score was NaN or infinite: their stored vectors are
  /// damaged (run verify). A search never returns such a score; the first one also logs a warning.
  /// Counted where the store scores items (exact scans, rescoring, ANN candidates); faiss's own
  /// batched Flat scan drops such rows before the store sees them, uncounted.
  int64_t n_invalid = 0;
  bool has_more = false;          ///< more eligible items exist past this page
  bool exact = false;             ///< the ranking came from an exact scan (no ANN error)
};

/// Results of a batch: one QueryHits per query row, plus what the filter did.
struct SearchResult {
  std::vector<QueryHits> queries;
  int64_t n_live = 0;      ///< live items in the store
  int64_t n_filtered = 0;  ///< live items rejected by the filter
  std::string index_key;   ///< concrete ANN key consulted ("Flat", "HNSW32", ...)
};

/// ANN quality on real queries: recall@k of the ANN ranking against the exact one.
struct RecallReport {
  int k = 0;
  int64_t n_queries = 0;
  double recall = 0;            ///< mean over queries of |ANN top-k ∩ exact top-k| / |exact top-k|
  double ann_ms_per_query = 0;
  double exact_ms_per_query = 0;
  std::string index_key;
};

// ---------------------------------------------------------------------------------------------
// Store

/// Size of one file of the index directory.
struct FileSize {
  std::string name;
  int64_t bytes = 0;
};

/// What `cir index info` prints.
struct StoreInfo {
  std::string dir;
  IndexManifest manifest;
  int64_t n_items = 0;         ///< live items
  int64_t n_removed = 0;       ///< tombstones kept until compact()
  int64_t n_vectors = 0;       ///< vectors of live items
  int64_t n_vector_rows = 0;   ///< rows in vectors.bin, including dead ones until compact()
  int64_t n_failures = 0;
  std::string index_key;       ///< concrete ANN key in use ("auto" resolved)
  bool index_ready = false;    ///< false while an IVF index waits for enough training vectors
  int64_t index_vectors = 0;   ///< vectors inside the ANN structure (live and dead)
  int64_t index_memory_bytes = 0;  ///< estimated RAM of the ANN structure
  std::vector<FileSize> files;
  int64_t disk_bytes = 0;      ///< sum of files
  int64_t n_invalid_scores = 0;  ///< items skipped by searches since open for a non-finite score
};

/// One problem verify found.
struct VerifyProblem {
  std::string file;          ///< file of the index directory: "vectors.bin", "items.sqlite", "manifest.json"
  int64_t byte_offset = -1;  ///< where in `file` (vectors.bin: the damaged block's header); -1 = not one place
  std::string message;       ///< what is wrong, naming the block, rows or items concerned
};

/// What verify checked and found: a full read of vectors.bin (every block's header and payload
/// CRC, every value finite), SQLite's `PRAGMA integrity_check`, and the items' rows (inside the
/// committed rows and one block, within vectors_per_item, no two live items sharing a row, no
/// live item in a damaged block).
struct VerifyReport {
  std::string dir;
  int64_t n_blocks = 0;        ///< vector blocks read
  int64_t n_rows = 0;          ///< committed vector rows read
  int64_t n_items = 0;         ///< live items checked
  int64_t uncommitted_bytes = 0;  ///< bytes past the committed blocks (truncated at the next writable open)
  std::vector<VerifyProblem> problems;  ///< empty when the index is sound
  bool ok() const { return problems.empty(); }
};

/// Checks the index in `dir` without opening it as a Store (so damage that would stop open() is
/// listed too). Takes the shared lock: kIo while a writer holds the index. Reads with pread,
/// never a map. kNotFound when `dir` is not an index. Damage is reported, never thrown.
VerifyReport verify_index(const std::string& dir);

/// Knobs for Store::open.
struct OpenOptions {
  bool read_only = false;  ///< shared lock; no recovery writes; mutating calls throw kInvalidArgument
};

/// Paging through items in id order.
struct ListRequest {
  int64_t after_id = 0;         ///< return ids > after_id
  int64_t limit = 1000;
  Filter filter;
  bool include_removed = false;
  bool with_metadata = true;    ///< false skips the metadata lookups (faster resume scans)
};

/// An open index directory. See the contract at the top of this header.
class Store {
 public:
  /// Creates a new index in `dir` (created if absent; must hold no manifest.json). Validates the
  /// manifest (embed_dim > 0, vectors_per_item >= 1, a usable index key): kInvalidArgument.
  static std::unique_ptr<Store> create(const std::string& dir, const IndexManifest& manifest);
  /// Opens an existing index, truncating a torn/uncommitted vectors tail and building or loading
  /// the ANN index. kNotFound (no directory / not an index), kCorrupt, kUnsupported, kIo (locked).
  static std::unique_ptr<Store> open(const std::string& dir, const OpenOptions& options = {});
  /// Saves the ANN cache and updated_at (best effort: errors are logged, never thrown).
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const IndexManifest& manifest() const;
  const std::string& dir() const;
  /// Throws kInvalidArgument naming the differing field when queries from `model` (embedding
  /// embed_dim values) cannot be compared with this index's vectors. An empty weights_sha256 on
  /// either side skips the hash comparison.
  void check_compatible(const ModelIdentity& model, int embed_dim) const;

  /// Adds or replaces (same external_id: same id, new vectors/metadata) a batch in one crash-safe
  /// transaction; clears their failure records. Returns the ids in input order.
  /// kInvalidArgument: empty/duplicate external_id, n_vectors out of range, null or non-finite
  /// vectors. Dimensions are the manifest's embed_dim.
  std::vector<int64_t> add_items(const std::vector<NewItem>& items);
  /// Marks items removed (vectors stay until compact()). Unknown or removed ids are skipped.
  /// Returns how many were removed.
  int64_t remove_items(const std::vector<int64_t>& ids);
  /// remove_items by external id.
  int64_t remove_by_external_ids(const std::vector<std::string>& external_ids);

  /// Any item, removed ones included (check ItemRecord::removed).
  std::optional<ItemRecord> get_item(int64_t id) const;
  std::optional<ItemRecord> find_by_external_id(const std::string& external_id) const;
  std::vector<ItemRecord> list_items(const ListRequest& request = {}) const;
  /// Live items.
  int64_t count() const;
  /// Stored vectors (decoded to float) of live items, in the order of `ids`, each contributing its
  /// n_vectors rows. kNotFound naming the first unknown or removed id.
  FloatMatrix get_vectors(const std::vector<int64_t>& ids) const;

  /// Records (or updates) a file that failed to index.
  void record_failure(const std::string& path, const std::string& reason);
  std::vector<Failure> failures() const;

  /// Top-k search of every query row (queries.cols must equal embed_dim; rows L2-normalised).
  SearchResult search(const FloatMatrix& queries, const SearchRequest& request) const;
  /// How search_scored ranks an item: from the inner products of the m query rows with each of
  /// the item's n_vectors vectors (row-major m x n_vectors: products[r * n_vectors + j]).
  using ItemScorer = std::function<float(const float* products, int n_vectors)>;
  /// Exact scoring with a caller's rule (multi-vector methods such as ZIRACLE, whose score is not
  /// a max over vectors): every eligible item of `request` (filter, candidate_ids, exclusions;
  /// exclude_ids_per_query needs one list) is scored by `scorer`, then ranked and paged as search
  /// does (k, offset, score_threshold). Returns one QueryHits, always exact. Same errors as search.
  SearchResult search_scored(const FloatMatrix& queries, const ItemScorer& scorer, const SearchRequest& request) const;
  /// Runs queries through the ANN index and through an exact scan and compares (see RecallReport).
  /// `params` supplies ef_search/nprobe; its k, offset and filter are ignored.
  RecallReport measure_recall(const FloatMatrix& queries, int k, const SearchRequest& params = {}) const;

  StoreInfo info() const;
  /// The concrete ANN key in use ("Flat", "HNSW32", ...; "auto" resolved). Cheap.
  std::string ann_key() const;

  /// Switches the ANN index (a factory string or "auto"), rebuilding it from the stored vectors
  /// and rewriting manifest.json. kInvalidArgument for a key faiss cannot build at this dim.
  void set_index_key(const std::string& index_key);
  /// Persists the ANN cache (non-Flat keys) and manifest updated_at; checkpoints the SQLite WAL.
  void flush();
  /// Rewrites vectors.bin without dead rows, drops removed items' records, and rebuilds the ANN
  /// index. Crash-safe: an interrupted compaction leaves the previous state.
  void compact();
  /// verify_index on this open store (the server's route): the same checks, through this
  /// store's SQLite connection and lock, while searches go on.
  VerifyReport verify() const;

  /// Writes the clip-retrieval embedding layout of the live items, in id order:
  ///   out_dir/img_emb/img_emb_0.npy          n x embed_dim "<f2", L2-normalised
  ///   out_dir/metadata/metadata_0.jsonl      one JSON object per row, same order:
  ///                                          {"image_path", "id", "caption", "content_hash", "metadata"}
  /// Only single-vector stores (kUnsupported otherwise). Returns the number of rows.
  int64_t export_clip_retrieval(const std::string& out_dir) const;
  /// Adds the rows of every img_emb/img_emb_N.npy (f2 or f4, N ascending) under `dir`, with
  /// external ids (and captions/metadata) from metadata/metadata_N.jsonl ("image_path" or "url"
  /// field); without that file, rows are named "img_emb_N.npy#row". Rows are re-normalised.
  /// Returns the number of rows added. kInvalidArgument on dim mismatch or row-count mismatch.
  int64_t import_clip_retrieval(const std::string& dir);

  struct Impl;

 private:
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------------------------
// Generated captions and edits (generation.md 7.1): what SEIZE, LDRE and CIReVL search with.
//
// They live in <dir>/captions.sqlite beside items.sqlite, not inside it: captioning only reads the
// gallery, so `cir index caption` and a read-only Engine can write captions while the Store is
// opened read-only (or by another reader), and the item store's schema stays untouched. WAL mode,
// one transaction per add_* call: a kill -9 loses at most the batch in flight, and a rerun asks
// missing_items() what is left. Thread-safe (one connection behind a mutex). Errors: cir::Error
// (kIo / kCorrupt naming captions.sqlite).

/// One caption sample of a gallery item under one captioner. Failed samples are kept (so a
/// rerun knows the item was tried) but never handed to a method.
struct CaptionSample {
  int64_t item_id = 0;
  std::string captioner_key;  ///< gen::Captioner::key(), or "import:<field>" for imported files
  int sample_idx = 0;         ///< 0..n-1
  std::string text;
  bool failed = false;
};

/// One edited description: slot `slot` of the edits of (reference item, modification text)
/// under one editor, made from caption `caption` (generation.md 2.2).
struct EditSample {
  int64_t item_id = 0;
  std::string modification;
  std::string editor_key;  ///< gen::Editor::key(), or "import:<field>"
  int slot = 0;
  std::string caption;     ///< the caption the edit was made from
  std::string text;        ///< the edited description (the fallback when failed)
  bool failed = false;
};

class CaptionStore {
 public:
  /// Opens <index_dir>/captions.sqlite, creating it (and its tables) when absent. kNotFound when
  /// index_dir holds no index (no manifest.json).
  static std::unique_ptr<CaptionStore> open(const std::string& index_dir);
  ~CaptionStore();
  CaptionStore(const CaptionStore&) = delete;
  CaptionStore& operator=(const CaptionStore&) = delete;

  /// Inserts or replaces samples (same item, key, sample_idx) in one transaction.
  void add_captions(const std::vector<CaptionSample>& samples);
  /// The non-failed captions of an item under a key, by sample_idx.
  std::vector<std::string> captions(int64_t item_id, const std::string& captioner_key) const;
  /// Every sample (failed ones included) of a key, by item then sample_idx (exports, tests).
  std::vector<CaptionSample> all_captions(const std::string& captioner_key) const;
  /// Of `item_ids`, those with fewer than n_samples successful captions under the key.
  std::vector<int64_t> missing_items(const std::vector<int64_t>& item_ids, const std::string& captioner_key,
                                     int n_samples) const;
  /// Keys with at least one sample, sorted.
  std::vector<std::string> captioner_keys() const;

  /// Inserts or replaces edits (same item, modification, key, slot) in one transaction.
  void add_edits(const std::vector<EditSample>& edits);
  /// The edits of (item, modification) under a key, by slot.
  std::vector<EditSample> edits(int64_t item_id, const std::string& modification, const std::string& editor_key) const;
  /// Every edit of a key, by item, modification, slot.
  std::vector<EditSample> all_edits(const std::string& editor_key) const;
  std::vector<std::string> editor_keys() const;

  /// Records a captioner's spec (JSON text) in captions.sqlite and in manifest.json's
  /// "captioners" object (rewritten atomically; other manifest fields are kept as they are).
  void record_captioner(const std::string& captioner_key, const std::string& spec_json);
  /// Recorded specs by key.
  std::map<std::string, std::string> captioner_specs() const;

  struct Impl;

 private:
  explicit CaptionStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cir::index
