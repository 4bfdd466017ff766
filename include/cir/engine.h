// cir engine (L3): wires decoding, preprocessing, tokenisation and the model into one
// encoder, and (with the index) the one query path `Engine::query_batch` that the CLI, the
// HTTP server and the evaluation harness all call.
//
// Contract: plain types in and out (paths, strings, FloatMatrix). An Encoder owns its model
// and tokenizer; its methods are safe to call from several threads. Errors: cir::Error from
// the modules below, with the failing file or text named.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cir/blip2.h"
#include "cir/compose.h"
#include "cir/core.h"
#include "cir/gen.h"
#include "cir/image.h"
#include "cir/index.h"
#include "cir/model.h"
#include "cir/text.h"

namespace cir::engine {

struct EncoderOptions {
  model::DType dtype = model::DType::kFloat32;
  int n_threads = 0;       ///< 0 = default_thread_count()
  int batch_size = 32;     ///< images or texts per model call
  image::DecodeOptions decode;
};

/// A batch of images as the store keeps them: vectors_per_image rows per image.
struct ImageRows {
  int64_t n_images = 0;
  int vectors_per_image = 1;
  /// n_images * vectors_per_image rows of Encoder::spec().embed_dim; image i owns rows
  /// [i * vectors_per_image, (i + 1) * vectors_per_image). Each row part is L2-normalised.
  FloatMatrix rows;
  /// CLIP: each image's raw feature norm (stored as hidden metadata so the raw feature can be
  /// recovered); empty for multi-vector models.
  std::vector<double> norms;
};

class ModelFamily;  // src/engine/family.h: one per model family, chosen by family_registry.cpp

/// Images and texts to embeddings for one model directory / checkpoint, through its model
/// family (detected at open; the encoder itself never branches on it):
///  - "clip": one vector per image, the raw CLIP feature (normalised when stored);
///  - "blip2" (HF Blip2ForImageTextRetrieval directory, LAVIS .pth or a directory holding one):
///    n_query_tokens vectors per image, each [n(vision_proj(q_i)) | n(q_i)] (SlotLayout): the
///    projected retrieval feature and the unprojected Q-Former query output ZIRACLE scores.
///    Single-row outputs (encode_images, encode_texts) are then the query rows of plain BLIP-2
///    retrieval, [n(mean_i f_i) | 0] and [n(text_proj(cls)) | 0], scored max-over-vectors.
///  - "sprc" (SPRC `Blip2QformerCirAlignPrompt` .pt, SPN4CIR blip24cir best.pt): rows as BLIP-2's
///    for the 32 target query outputs; composed queries are made inside the model from the
///    reference image and the caption (encode_composed), [n(text_proj(pass2[:, 32])) | 0].
class Encoder {
 public:
  /// Opens a checkpoint, detecting the family (model_family). Errors from the model loaders.
  static std::unique_ptr<Encoder> open(const std::string& model_path, const EncoderOptions& options = {});

  /// CLIP: the model's spec. BLIP-2: the same fields summarised (family "blip2", format,
  /// path, weights hash, embed_dim = stored row width, image_size, context_length 32,
  /// preprocess), so the index and manifest code needs no family switch.
  const model::ModelSpec& spec() const { return spec_; }
  const std::string& family() const { return spec_.family; }
  /// The CLIP and its tokenizer; kUnsupported naming the family for non-CLIP models.
  const model::ClipModel& model() const;
  const text::ClipTokenizer& tokenizer() const;
  /// Null unless the family is CLIP / BLIP-2.
  const model::ClipModel* clip_model() const;
  const text::ClipTokenizer* clip_tokenizer() const;
  const model::Blip2Model* blip2_model() const;
  const EncoderOptions& options() const { return options_; }

  /// Stored rows per image (1 for CLIP, n_query_tokens for BLIP-2).
  int vectors_per_image() const { return slots_.multi_vector() ? slots_.n_slots : 1; }
  /// The row layout (n_slots 0 for CLIP).
  const compose::SlotLayout& slot_layout() const { return slots_; }
  /// The manifest's row_parts ({"features", d}, {"query_embeds", w} for BLIP-2; empty for CLIP).
  std::vector<index::RowPart> row_parts() const;

  /// Gallery rows of preprocessed pixels (n x 3 x S x S, spec().preprocess).
  ImageRows encode_pixel_rows(const float* pixels, int64_t n_images) const;
  /// Gallery rows of decoded images.
  ImageRows encode_image_rows(const std::vector<image::ImageU8>& images) const;
  /// One query row per image from its gallery rows: CLIP the raw feature (norm * row when
  /// `norm` > 0), BLIP-2 [n(mean_i f_i) | 0]. rows: vectors_per_image x embed_dim.
  std::vector<float> image_query_row(const float* rows, int64_t n_rows, double norm = 0) const;

  /// Decodes, preprocesses and encodes image files: one row per image (n x embed_dim; CLIP
  /// not normalised). Decoding runs on the worker pool, batch by batch.
  FloatMatrix encode_image_files(const std::vector<std::string>& paths) const;
  /// Preprocesses and encodes decoded images: one row per image, as encode_image_files.
  FloatMatrix encode_images(const std::vector<image::ImageU8>& images) const;
  /// Tokenises (context from the model) and encodes (n x embed_dim; CLIP not normalised).
  FloatMatrix encode_texts(const std::vector<std::string>& texts) const;
  /// BLIP-2 only (kUnsupported otherwise): per text its unprojected Q-Former text states, the
  /// [CLS] row (1 x qformer_width) or with `all_tokens` every real token.
  std::vector<FloatMatrix> encode_text_states(const std::vector<std::string>& texts, bool all_tokens) const;
  TokenBatch tokenize(const std::vector<std::string>& texts) const;
  /// True for early-fusion families (SPRC): composed queries need the reference image itself.
  bool fuses_reference() const;
  /// Early fusion: one query row per (reference image, text) pair. kUnsupported otherwise.
  FloatMatrix encode_composed(const std::vector<image::ImageU8>& references, const std::vector<std::string>& texts) const;
  /// kUnsupported naming the family when composition method `method` cannot run on its rows.
  void check_method(const std::string& method) const;

  ~Encoder();

 private:
  Encoder();
  void preprocess_batch(const std::vector<image::ImageU8>* images, const std::vector<std::string>* paths,
                        int64_t start, int64_t n, std::vector<float>& pixels) const;
  EncoderOptions options_;
  model::ModelSpec spec_;
  compose::SlotLayout slots_;
  std::unique_ptr<ModelFamily> family_;
};

/// The family registered for a checkpoint (src/engine/family_registry.cpp, in detection order):
/// "sprc" for a torch.save file (or a directory holding one) with SPRC's or SPN4CIR blip24cir's
/// keys; "blip2" for a LAVIS .pth (or a directory holding a .pth and no CLIP config) or an HF
/// directory whose config.json is a BLIP-2 one; "clip" otherwise. Reads at most config.json and
/// pickle headers, never the weights.
std::string model_family(const std::string& model_path);

/// Where a model's tokenizer files are: the directory itself, or the .pt file's directory.
std::string tokenizer_directory(const std::string& model_path);

/// The identity an index records for a model (family, format, path, weights hash).
index::ModelIdentity model_identity(const model::ModelSpec& spec);

// ---------------------------------------------------------------------------------------------
// Ingestion

struct IngestOptions {
  std::string images;         ///< gallery directory or list file (build); empty = the recorded root (sync)
  /// With a list file: the directory its relative entries (and so external ids) are relative
  /// to. Default: the list file's own directory.
  std::string list_root;
  std::string model;          ///< model directory / .pt (build); sync/add reuse the manifest's
  std::string metadata_file;  ///< optional CSV/JSONL keyed by path relative to the root
  std::string index_key = "Flat";
  int64_t memory_budget_bytes = int64_t{4} << 30;  ///< RAM the ANN index may take under "auto"
  index::VectorDType vector_dtype = index::VectorDType::kFp16;
  EncoderOptions encoder;
  bool remove_missing = false;  ///< sync: remove items whose files are gone
  bool progress = true;         ///< progress bar / periodic lines on stderr
};

struct IngestReport {
  int64_t n_scanned = 0;
  int64_t n_added = 0;      ///< new items
  int64_t n_updated = 0;    ///< changed files re-encoded
  int64_t n_unchanged = 0;  ///< skipped: same size, mtime or content hash
  int64_t n_failed = 0;     ///< listed in failures.jsonl
  int64_t n_removed = 0;
  double seconds = 0;
};

/// Creates (or resumes) an index at `index_dir` from a gallery. Items already committed with an
/// unchanged file are skipped, so a rerun after an interruption continues where it stopped.
IngestReport build_index(const std::string& index_dir, const IngestOptions& options);
/// The same with a model the caller already opened (options.model and options.encoder are then
/// ignored): callers that go on to query, like the evaluation harness, load the model once.
IngestReport build_index(const std::string& index_dir, const IngestOptions& options, const Encoder& encoder);
/// Re-reads the recorded gallery source (gallery.json): a directory is rescanned, a list file is
/// re-read (never replaced by a scan of its root; kNotFound when the list is gone). Adds new and
/// changed files, removes items no longer in the source.
IngestReport sync_index(const std::string& index_dir, const IngestOptions& options);
/// Adds (or re-encodes) the given files or directories, which must lie under the gallery root.
IngestReport add_to_index(const std::string& index_dir, const std::vector<std::string>& paths, const IngestOptions& options);

// ---------------------------------------------------------------------------------------------
// Queries: the one query path of the CLI, the server and the evaluation harness.

/// Where a query's reference image comes from (at most one field set).
struct ReferenceImage {
  std::string path;                 ///< an image file to decode and encode
  std::string gallery_id;           ///< an indexed item's external id: its stored vector is reused
  std::vector<uint8_t> bytes;       ///< encoded image bytes (upload)
  std::vector<float> embedding;     ///< a raw image feature given directly
  bool empty() const { return path.empty() && gallery_id.empty() && bytes.empty() && embedding.empty(); }
};

/// One extra weighted term (rclip-style `+ "2:red" - "sleeves" + ./b.jpg`).
struct QueryTerm {
  std::string text;        ///< a text term, or
  std::string image_path;  ///< an image term (file) / gallery id with "id:" prefix
  float weight = 1.f;
};

struct QueryRequest {
  ReferenceImage reference;
  std::vector<std::string> texts;           ///< modification text(s)
  std::vector<std::string> negative_texts;
  std::vector<QueryTerm> terms;
  std::string method = "sum";
  std::map<std::string, std::string> method_options;  ///< see compose::ComposeContext::options
  float image_weight = 1.f;
  float text_weight = 1.f;
  float negative_weight = 1.f;
  int k = 20;
  int offset = 0;
  std::string filter;                       ///< CLI expression (index::parse_filter)
  std::optional<index::Filter> parsed_filter;  ///< used instead of `filter` when set
  std::optional<float> score_threshold;
  bool include_reference = false;           ///< by default a gallery reference is never a hit
  std::vector<std::string> exclude_ids;     ///< external ids never returned
  /// When non-empty, only these items (external ids) are ranked: re-ranking a candidate list
  /// (Focus-CoIR's 500 labelled images per query). Ids not in the index are skipped.
  std::vector<std::string> candidate_ids;
  bool exact = false;
  int ef_search = 0;
  int nprobe = 0;
  /// false: hits carry id, score and rank only, skipping one item lookup per hit (the
  /// evaluation harness ranks whole galleries and maps ids itself).
  bool fetch_items = true;
  /// When set, query_batch gives up at its next stage boundary (reference encoding, generation,
  /// composition, each search) once this time has passed, throwing kIo "deadline passed during
  /// <stage>". A batch works to its earliest deadline. The server sets it from
  /// --request-timeout so one request cannot hold a worker indefinitely.
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

struct QueryHit {
  int64_t id = 0;
  std::string external_id;
  std::string path;  ///< absolute path under the gallery root
  float score = 0;
  int rank = 0;
  std::string caption;
  std::map<std::string, index::MetaValue> metadata;
};

/// Milliseconds spent per stage of a query batch (shared by the batch's queries).
struct QueryTimings {
  double decode = 0, encode_image = 0, encode_text = 0, compose = 0, search = 0, fetch = 0;
};

/// The generated texts a query searched with (SEIZE, LDRE, CIReVL without a captions file).
struct QueryGenerations {
  std::string captioner_key;          ///< whose captions of the reference
  std::string editor_key;             ///< whose edits ("<editor key>@<captioner key>")
  std::vector<std::string> captions;  ///< of the reference, by sample
  std::vector<std::string> edits;     ///< edited descriptions, slot-parallel to captions
  std::vector<bool> failed;           ///< per edit: the fallback of generation.md 6.5 was used
  int n_generated = 0;                ///< edits made by this query (the rest were stored)
};

struct QueryResult {
  std::vector<QueryHit> hits;
  int64_t n_filtered = 0;         ///< items the filter rejected
  int64_t n_excluded = 0;         ///< the reference / exclude_ids
  int64_t n_below_threshold = 0;  ///< dropped by score_threshold
  bool has_more = false;
  std::string method;
  QueryTimings took_ms;
  std::optional<QueryGenerations> generated;  ///< set for methods that search generated texts
};

/// Where captions and edits come from (generation.md 7). With no provider and no built-in
/// captioner/editor only stored generations are used: replay, zero model calls.
struct GenerationOptions {
  gen::ProviderSpec provider;  ///< base_url empty = no provider
  /// "provider_vlm" (the default when a provider is set), a built-in ("shapes-oracle"), or ""
  /// (none: stored captions only).
  std::string captioner;
  /// SEIZE/LDRE captioning (preset "seize", n 0 = 15); CIReVL always uses preset "cirevl", n 1.
  gen::CaptionerOptions captioner_options;
  /// "" = per method (seize_ldre for seize/ldre; cirevl_<variant> for cirevl, the variant from
  /// the method option prompt=..., else by dataset=circo|cirr|fashioniq, else "simple"); a name
  /// here (e.g. "shapes-oracle") is used for every method. Needs a provider unless built in.
  std::string editor;
  std::optional<gen::SamplingOptions> editor_sampling;
  /// Stored generations to use when nothing is configured and the store holds several keys
  /// (method options captioner_key= / editor_key= override these per query).
  std::string captioner_key;
  std::string editor_key;
};

/// What generation did since the engine was opened (reported by `cir eval` and /metrics).
struct GenerationStats {
  int64_t captions_stored = 0;     ///< reference captions read from the caption store
  int64_t captions_generated = 0;  ///< references captioned at query time
  int64_t edits_stored = 0;        ///< edits read from the caption store (replayed)
  int64_t edits_generated = 0;     ///< edits asked of the editor (its provider cache may answer)
  int64_t edits_failed = 0;        ///< of those, fallbacks
  std::string provider;            ///< Provider::describe(), "" without one
  std::optional<gen::ProviderStats> provider_stats;
  std::map<std::string, std::string> prompt_sha256;  ///< of the editors used, "<editor>:<prompt>"
  std::vector<std::string> captioner_keys, editor_keys;  ///< used
};

struct EngineOptions {
  std::string model;  ///< model to query with; default: the manifest's model path
  EncoderOptions encoder;
  bool read_only = true;
};

/// An open index with its model: the facade every front end queries through.
class Engine {
 public:
  /// Opens the index and its model; refuses a model whose identity differs from the manifest's.
  static std::unique_ptr<Engine> open(const std::string& index_dir, const EngineOptions& options = {});
  /// The same with an already opened model (options.model and options.encoder are ignored).
  static std::unique_ptr<Engine> open(const std::string& index_dir, std::shared_ptr<const Encoder> encoder,
                                      const EngineOptions& options = {});
  ~Engine();

  /// Runs a batch of queries. Texts of the whole batch are encoded together.
  std::vector<QueryResult> query_batch(const std::vector<QueryRequest>& requests) const;

  /// Configures the provider, captioner and editor query-time generation uses (replaces the
  /// previous configuration; not concurrent with queries). Opens the provider (kUnsupported /
  /// kInvalidArgument from gen) and builds the captioner/editor by name (kNotFound lists names).
  void set_generation(const GenerationOptions& options);
  GenerationStats generation_stats() const;
  /// Opaque generation state (defined in src/engine/generate.h).
  struct Generation;

  const index::Store& store() const { return *store_; }
  index::Store& store() { return *store_; }
  const Encoder& encoder() const { return *encoder_; }
  /// Absolute gallery root recorded at build time ("" if unknown).
  const std::string& gallery_root() const { return gallery_root_; }

 private:
  Engine() = default;
  /// SEIZE/LDRE/CIReVL queries without a captions file: stored or generated captions and edits
  /// into the inputs, and what was used into the results.
  void attach_generations(const std::vector<QueryRequest>& requests, std::vector<compose::ComposeInput>& inputs,
                          std::vector<QueryResult>& results) const;
  std::vector<float> reference_feature(const ReferenceImage& ref, QueryTimings& t) const;
  /// Multi-vector models: the reference's rows (vectors_per_image x embed_dim); nullopt for a
  /// raw-embedding reference.
  std::optional<FloatMatrix> reference_rows(const ReferenceImage& ref, QueryTimings& t) const;
  /// Slot-form scoring queries (ZIRACLE): exact over the eligible items, or with an ANN first
  /// stage (max-over-vectors candidates, then exact rescoring) when the request is not exact
  /// and the index is not a flat scan.
  index::SearchResult slot_search(const compose::ScoringQuery& q, const index::SearchRequest& sr) const;
  index::SearchRequest search_request(const QueryRequest& r, const std::optional<int64_t>& reference_id) const;
  void fill_result(const QueryRequest& r, const index::SearchResult& found, QueryResult& out, QueryTimings& t) const;
  FloatMatrix gallery_scores(const FloatMatrix& rows) const;
  index::SearchResult scored_search(const compose::ScoringQuery& q, const index::SearchRequest& sr) const;
  std::unique_ptr<index::Store> store_;
  std::shared_ptr<const Encoder> encoder_;
  std::string gallery_root_;
  std::unique_ptr<Generation> gen_;
};

// ---------------------------------------------------------------------------------------------
// Gallery captions (generation.md 7.1): stored in the index's CaptionStore.

struct CaptionIndexOptions {
  GenerationOptions generation;  ///< captioner (required) and its provider
  int batch_size = 8;            ///< items per caption_batch call and per committed transaction
  int64_t max_items = 0;         ///< 0 = every live item (else the first ones by id)
  bool progress = true;
};

struct CaptionIndexReport {
  std::string captioner_key;
  int64_t n_items = 0;      ///< live items considered
  int64_t n_already = 0;    ///< had all n captions: skipped (resume)
  int64_t n_captioned = 0;
  int64_t n_failed = 0;     ///< fewer than n captions; retried by the next run
  std::vector<std::pair<std::string, std::string>> failures;  ///< external id, reason
  double seconds = 0;
  std::optional<gen::ProviderStats> provider_stats;  ///< calls and tokens, when a provider was used
};

/// Captions every live item that lacks n captions under the captioner's key, batch by batch,
/// committing each batch: rerunning after an interruption captions only what is missing.
/// Records the captioner's spec in captions.sqlite and manifest.json.
CaptionIndexReport caption_index(const std::string& index_dir, const CaptionIndexOptions& options);

struct CaptionsImportReport {
  std::string captioner_key, editor_key;
  int64_t n_entries = 0;
  int64_t n_matched = 0;  ///< entries whose reference is an item of the index
  int64_t n_captions = 0, n_edits = 0;
  std::vector<std::string> unmatched;  ///< reference ids with no item (first 20)
};

/// Reads a SEIZE-layout JSON list (generation.md 2.4: reference_img_id | reference | pairid | id,
/// relative_caption | caption, multi_caption_opt, multi_gpt-3.5_opt) into the caption store. A
/// reference matches the item whose external id is it, or whose file stem is it (leading zeros
/// ignored: CIRCO's 12345 is COCO's 000000012345.jpg). Keys default to
/// "import:multi_caption_opt" and "import:multi_gpt-3.5_opt@import:multi_caption_opt".
CaptionsImportReport import_captions(const std::string& index_dir, const std::string& json_path,
                                     const std::string& captioner_key = "", const std::string& editor_key = "");
/// Writes the store's captions (and edits, when an editor key is given or exactly one exists for
/// the captioner) in the same layout: one entry per (reference, modification) with edits, and one
/// per captioned item without. "reference" is the external id. Keys default to the only stored
/// one (kInvalidArgument listing them when ambiguous). Returns the number of entries.
int64_t export_captions(const std::string& index_dir, const std::string& json_path, const std::string& captioner_key = "",
                        const std::string& editor_key = "");

/// Registers the built-in "shapes-oracle" captioner and editor (idempotent; Engine::open and
/// caption_index call it). They read the shapes world's annotations beside the images: an
/// upper bound for the retrieval half, never a model result.
void register_builtin_generators();

/// ANN honesty (clip-retrieval#76): recall@k of the index's ANN structure against exact search,
/// measured with text queries and composed (stored image + text) queries — not with the
/// database's own vectors, which flatter an index tuned on images.
struct IndexRecallReport {
  int k = 0;
  int ef_search = 0;  ///< as requested (0 = the store's default)
  int nprobe = 0;
  int64_t n_text_queries = 0;
  int64_t n_composed_queries = 0;
  double text_recall = 0;
  double composed_recall = 0;
  double ann_ms_per_query = 0;    ///< over text and composed queries
  double exact_ms_per_query = 0;
  std::string index_key;
};

/// Uses `texts` (or, when empty, up to 200 stored captions; failing those, generic prompts) as
/// text queries, and pairs each with a stored image for the composed queries (sum baseline).
/// `ef_search` / `nprobe` (0 = defaults) set the ANN search being measured.
IndexRecallReport measure_recall(const Engine& engine, const std::vector<std::string>& texts, int k,
                                 int ef_search = 0, int nprobe = 0);

/// Reads <index>/gallery.json: the absolute root external ids are relative to ("" if absent).
std::string read_gallery_root(const std::string& index_dir);

}  // namespace cir::engine
