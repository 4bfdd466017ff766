// cir eval (L4, data and scoring side): benchmark readers, the official CIR metrics, caption
// conventions and test-server submission files. The `cir eval` driver runs queries through the
// engine and hands the resulting rankings to the functions here; nothing in this header knows
// about models, indexes or the engine, so the scoring can be checked on hand-made rankings.
//
// Contract:
// - Readers turn every benchmark into one plain form (BenchmarkSplit of EvalQuery), so the
//   driver has a single loop. Image ids are strings (COCO ids in decimal), paths are relative
//   to the `root` the reader was given. docs/benchmarks.md gives each layout.
// - Scoring takes one ranking per query, best first, aligned with split.queries, and returns a
//   MetricReport. Rankings are validated (no duplicate ids; ids inside the split's gallery when
//   the gallery is known); a bad ranking is kInvalidArgument naming the query and the id.
// - Units follow the official tools: CIRR, CIRCO, FashionIQ, LaSCo and custom triplets report
//   percentages (x100); Focus-CoIR reports fractions in [0, 1] as ZIRACLE logs them.
// - All functions are pure apart from file reads/writes; safe to call from many threads.
// - Errors: cir::Error. kNotFound for a missing annotation file (naming the paths tried),
//   kCorrupt for malformed JSON or a missing/mistyped field (naming file, entry and field),
//   kInvalidArgument for bad rankings, submissions or names.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cir/core.h"

namespace cir::eval {

// ---------------------------------------------------------------------------------------------
// Benchmark data

/// One composed query, in the same shape for every benchmark.
struct EvalQuery {
  std::string id;         ///< query id as the benchmark spells it (CIRR pairid, CIRCO id, ...)
  std::string reference;  ///< reference image id
  /// Modification text(s) exactly as annotated: 1 caption, or 2 for FashionIQ. Empty and blank
  /// captions are kept (the official pipelines encode them as they are).
  std::vector<std::string> texts;
  /// Ground-truth image ids; empty on splits without public ground truth (CIRR test1, CIRCO
  /// test, FashionIQ test). CIRR: [target_hard]. CIRCO: gt_img_ids exactly as annotated (the
  /// AP denominator uses their count). Focus-CoIR: the positive candidates.
  std::vector<std::string> targets;
  /// CIRR img_set members (6 images, reference included); empty elsewhere.
  std::vector<std::string> group;
  /// Focus-CoIR labelled candidates (image id, label 0|1) in file order; empty elsewhere.
  std::vector<std::pair<std::string, int>> candidates;
  /// CIRR target_soft (image id -> score), kept for inspection; not used by official metrics.
  std::map<std::string, double> soft_targets;
  /// Benchmark-specific strings: "img_set_id" (CIRR); "shared_concept", "target_img_id" (what
  /// the official Recall@K looks for) and "semantic_aspects" (comma-joined) for CIRCO;
  /// "category" (FashionIQ); "desc_text" (Focus-CoIR).
  std::map<std::string, std::string> extra;
};

/// All queries of one benchmark split and the gallery they are ranked against.
struct BenchmarkSplit {
  std::string benchmark;           ///< registry name ("cirr", "fashioniq-dress", ...)
  std::string split;               ///< "val", "test1", ...
  std::vector<EvalQuery> queries;  ///< in annotation-file order
  /// Image ids to rank, in annotation order. Empty when the gallery is unknown (CIRCO with
  /// neither COCO's image_info_unlabeled2017.json nor the image folder); scoring then skips
  /// the membership check. Focus-CoIR: every candidate and query image (each query still
  /// ranks only its own 500 candidates).
  std::vector<std::string> gallery;
  /// Image id -> path relative to the reader's root, for gallery and query images.
  std::map<std::string, std::string> image_paths;
  /// True when any query has targets or labelled candidates, i.e. the split can be scored here.
  bool has_ground_truth() const;
};

/// What the registry knows about a benchmark.
struct BenchmarkInfo {
  std::string name;                 ///< registry key
  std::string description;          ///< one line for --help and docs
  std::vector<std::string> splits;  ///< accepted split names, the scored one first
};

/// Every registered benchmark, in a stable order.
const std::vector<BenchmarkInfo>& list_benchmarks();

/// Reads a benchmark split from `root` (layouts in docs/benchmarks.md; both the original
/// repositories' layout and the shared/benchmarks one are accepted). Names: "cirr", "circo",
/// "fashioniq-dress", "fashioniq-shirt", "fashioniq-toptee", "lasco", "focus-coir",
/// "triplets" (custom JSONL). Throws kInvalidArgument for an unknown name or split, kNotFound
/// for missing files, kCorrupt for malformed ones.
BenchmarkSplit read_benchmark(std::string_view name, const std::string& root, std::string_view split);

/// Reads a user-defined triplet file: JSON Lines, one object per line with "reference" (str),
/// "text" (str) or "texts" ([str]), "targets" ([str], may be empty) and optional "id". The
/// gallery is `<dir>/gallery.txt` (one id per line) when present, else every reference and
/// target. Image ids double as paths relative to the file's directory.
BenchmarkSplit read_triplets(const std::string& path);

// ---------------------------------------------------------------------------------------------
// Caption conventions: how the annotated texts become the text(s) the model encodes.

/// How a query's annotated caption(s) become model text: each reproduces one reference codebase.
enum class CaptionConvention {
  kPlain,     ///< 1 caption as is; 2 captions: strip ".?, " from both ends, "c1 and c2"
  kClip4Cir,  ///< 1 caption as is; 2: "{c1.strip('.?, ').capitalize()} and {c2.strip('.?, ')}"
  kSearle,    ///< "a photo of $ that {caption}"; 2 captions: both orders (c1/c2 and c2/c1)
};

/// "plain" | "clip4cir" | "searle".
std::string_view caption_convention_name(CaptionConvention convention);
/// Parses a name from caption_convention_name; throws kInvalidArgument otherwise.
CaptionConvention parse_caption_convention(std::string_view name);

/// The texts to encode for a query. When more than one comes back (SEARLE on FashionIQ), the
/// driver L2-normalises each text feature, averages them and re-normalises. SEARLE texts hold
/// the "$" placeholder where the pseudo-word token goes.
std::vector<std::string> build_query_texts(const EvalQuery& query, CaptionConvention convention);

/// Python's str.strip(".?, "): removes those four characters from both ends.
std::string strip_caption(std::string_view caption);
/// Python's str.capitalize() for ASCII: first character upper-cased, the rest lower-cased.
/// Non-ASCII bytes are left alone (Python would case-map them too; no FashionIQ caption needs it).
std::string capitalize_caption(std::string_view caption);

// ---------------------------------------------------------------------------------------------
// Scoring

/// Ranked image ids for each query, best first, aligned with BenchmarkSplit::queries.
using Rankings = std::vector<std::vector<std::string>>;

/// Output of a scoring call: metrics in a fixed, documented order plus per-query values.
struct MetricReport {
  std::string benchmark;  ///< registry name of the scored split ("fashioniq" for averages)
  std::string split;      ///< split name of the scored split
  std::string unit;       ///< "percent" or "fraction"
  int64_t n_queries = 0;  ///< queries scored (summed over categories for averages)
  /// Metric name -> value, in the order the official tool prints them.
  std::vector<std::pair<std::string, double>> metrics;
  std::vector<std::string> query_ids;  ///< order of every per_query vector
  /// Per-query values (e.g. "target_rank", 1-based and 0 when absent; "ap@10").
  std::map<std::string, std::vector<double>> per_query;

  /// The named metric; throws kNotFound listing the available names.
  double value(std::string_view name) const;
  /// The named metric, or nullopt when the report does not carry it.
  std::optional<double> find(std::string_view name) const;
};

/// Scores rankings with the benchmark's official metrics (dispatch on split.benchmark).
/// Throws kInvalidArgument when the split has no ground truth or a ranking is invalid.
MetricReport score_rankings(const BenchmarkSplit& split, const Rankings& rankings);

/// CIRR: the reference is removed from each ranking, then Recall@1/5/10/50 on target_hard and
/// Recall_subset@1/2/3 on the ranking restricted to group \ {reference}; "avg" = (R@5+Rs@1)/2.
MetricReport score_cirr(const BenchmarkSplit& split, const Rankings& rankings);
/// CIRR Recall_subset@1/2/3 only, for rankings that hold only subset members (the
/// recall_subset submission file): ids outside group \ {reference} are rejected.
MetricReport score_cirr_subset(const BenchmarkSplit& split, const Rankings& rankings);

/// CIRCO val: mAP@5/10/25/50 (AP denominator min(#GT, K)), Recall@5/10/25/50 on
/// target_img_id, and "semantic_map@10/<aspect>" for the 9 aspects. Rankings are scored as
/// given (the official script keeps the reference); duplicate ids are rejected.
MetricReport score_circo(const BenchmarkSplit& split, const Rankings& rankings);

/// FashionIQ, one category: Recall@10/50 over the category gallery, reference not excluded.
MetricReport score_fashioniq(const BenchmarkSplit& split, const Rankings& rankings);
/// Combines per-category FashionIQ reports: "<cat>/recall@K", "avg_recall@10",
/// "avg_recall@50" and "avg" = their mean. Throws kInvalidArgument for non-FashionIQ reports.
MetricReport average_fashioniq(const std::vector<MetricReport>& per_category);

/// LaSCo val: Recall@1/5/10/50/100/500. The reference is dropped from the ranking unless it is
/// the target (no official script exists; see docs/benchmarks.md).
MetricReport score_lasco(const BenchmarkSplit& split, const Rankings& rankings);

/// Custom triplets: Recall@1/5/10/50 (any target in the top K) and mAP@5/10/25/50 with the
/// CIRCO denominator; the reference is dropped unless it is itself a target.
MetricReport score_triplets(const BenchmarkSplit& split, const Rankings& rankings);

/// Focus-CoIR from rankings of each query's own candidates (ids outside them are rejected):
/// "ap" (full list, / #positives), "ap@20" (ZIRACLE: / positives inside the top 20),
/// "ap@20_standard" (/ min(#positives, 20)), "p@20", "p@50". Fractions in [0, 1].
MetricReport score_focus_coir(const BenchmarkSplit& split, const Rankings& rankings);
/// Focus-CoIR from scores: scores[q][i] belongs to queries[q].candidates[i] (higher = better).
MetricReport score_focus_coir_scores(const BenchmarkSplit& split, const std::vector<std::vector<float>>& scores);
/// Orders a query's candidates by score, descending; equal scores are ordered by image id
/// (byte-wise ascending) so results never depend on the file's candidate order. NaN scores
/// are kInvalidArgument.
std::vector<std::string> rank_candidates(const EvalQuery& query, std::span<const float> scores);

/// The report as a JSON object string {"benchmark", "split", "unit", "n_queries", "metrics"}.
std::string format_report_json(const MetricReport& report);

// ---------------------------------------------------------------------------------------------
// Submission / prediction files

/// Which file layout a submission uses.
enum class SubmissionFormat {
  kCirrRecall,        ///< {"version": "rc2", "metric": "recall", "<pairid>": [50 ids]}
  kCirrRecallSubset,  ///< {"version": "rc2", "metric": "recall_subset", "<pairid>": [3 ids]}
  kCirco,             ///< {"<query id>": [50 int ids]}
  kPlain,             ///< {"<query id>": [ids, str or int]} from any other tool
};

/// A parsed submission: query id -> ranked ids (ints turned into decimal strings).
struct Submission {
  SubmissionFormat format = SubmissionFormat::kPlain;        ///< layout detected by read_submission
  std::string version;                                       ///< CIRR "version" value, empty otherwise
  std::map<std::string, std::vector<std::string>> rankings;  ///< query id -> ranked ids
};

/// Reads a submission/prediction file. A top-level "metric" key makes it a CIRR file (its
/// value must be "recall" or "recall_subset"); otherwise it is kPlain (or kCirco when every id
/// is an integer). Duplicate ids in a list are kInvalidArgument naming the query.
Submission read_submission(const std::string& path);

/// Writes the CIRR server file for test1 (or val): per query the ranking with the reference
/// removed, top 50 for kCirrRecall, top 3 of group \ {reference} for kCirrRecallSubset (at
/// least 3 subset members must appear in the ranking, else kInvalidArgument).
void write_cirr_submission(const std::string& path, const BenchmarkSplit& split, const Rankings& rankings,
                           SubmissionFormat format);
/// Writes the CIRCO server file: per query the top 50 ids as integers, in ranking order.
void write_circo_submission(const std::string& path, const BenchmarkSplit& split, const Rankings& rankings);

/// Scores a prediction file against a split with ground truth: CIRR recall files give R@K,
/// recall_subset files Rs@K, other files go through score_rankings. Every query of the split
/// must be present and no other key; missing or unknown queries are kInvalidArgument.
MetricReport score_predictions(const BenchmarkSplit& split, const std::string& predictions_path);

}  // namespace cir::eval
