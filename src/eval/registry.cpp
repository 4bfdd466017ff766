// The benchmark registry: one row per benchmark name with its reader and official scorer.
// Adding a benchmark is one reader file, one row here, one test and one docs/benchmarks.md entry.
#include <functional>

#include "eval/readers.h"
#include "eval/scoring.h"

namespace cir::eval {
namespace {

using Reader = std::function<BenchmarkSplit(const std::string& root, std::string_view split)>;

struct Registration {
  BenchmarkInfo info;
  Reader read;
  detail::Scorer score;
  bool any_split = false;  ///< custom triplets name their splits after their files
};

Reader fashioniq_reader(std::string category) {
  return [category](const std::string& root, std::string_view split) {
    return detail::read_fashioniq(root, category, split);
  };
}

const std::vector<Registration>& registrations() {
  static const std::vector<Registration> rows = {
      {{"cirr", "CIRR rc2 (NLVR2 images): Recall@K and Recall_subset@K", {"val", "test1", "train"}},
       detail::read_cirr,
       score_cirr},
      {{"circo", "CIRCO (COCO 2017 unlabeled): mAP@K with multiple ground truths", {"val", "test"}},
       detail::read_circo,
       score_circo},
      {{"fashioniq-dress", "FashionIQ dress: Recall@10/50", {"val", "test", "train"}},
       fashioniq_reader("dress"),
       score_fashioniq},
      {{"fashioniq-shirt", "FashionIQ shirt: Recall@10/50", {"val", "test", "train"}},
       fashioniq_reader("shirt"),
       score_fashioniq},
      {{"fashioniq-toptee", "FashionIQ toptee: Recall@10/50", {"val", "test", "train"}},
       fashioniq_reader("toptee"),
       score_fashioniq},
      {{"lasco", "LaSCo (COCO 2014 val): Recall@K", {"val", "train"}}, detail::read_lasco, score_lasco},
      {{"focus-coir", "Focus-CoIR (BDD100K): AP, AP@20, P@20/50 over each query's 500 candidates", {"test"}},
       detail::read_focus_coir,
       score_focus_coir},
      {{"triplets", "custom triplets JSONL (<root>/<split>.jsonl or the file itself): Recall@K, mAP@K", {"val"}},
       detail::read_triplets_split,
       score_triplets,
       true},
  };
  return rows;
}

const Registration& find_registration(std::string_view name) {
  for (const Registration& row : registrations())
    if (row.info.name == name) return row;
  std::string names;
  for (const Registration& row : registrations()) names += (names.empty() ? "" : ", ") + row.info.name;
  throw Error(ErrorCode::kInvalidArgument, "unknown benchmark '" + std::string(name) + "' (available: " + names + ")");
}

void check_split(const Registration& row, std::string_view split) {
  if (row.any_split) {
    if (split.empty()) throw Error(ErrorCode::kInvalidArgument, "benchmark '" + row.info.name + "': empty split name");
    return;
  }
  std::string names;
  for (const std::string& known : row.info.splits) {
    if (known == split) return;
    names += (names.empty() ? "" : ", ") + known;
  }
  throw Error(ErrorCode::kInvalidArgument,
              "benchmark '" + row.info.name + "' has no split '" + std::string(split) + "' (available: " + names + ")");
}

}  // namespace

namespace detail {

Scorer scorer_for(std::string_view benchmark) { return find_registration(benchmark).score; }

}  // namespace detail

const std::vector<BenchmarkInfo>& list_benchmarks() {
  static const std::vector<BenchmarkInfo> infos = [] {
    std::vector<BenchmarkInfo> out;
    for (const Registration& row : registrations()) out.push_back(row.info);
    return out;
  }();
  return infos;
}

BenchmarkSplit read_benchmark(std::string_view name, const std::string& root, std::string_view split) {
  const Registration& row = find_registration(name);
  check_split(row, split);
  return row.read(root, split);
}

MetricReport score_rankings(const BenchmarkSplit& split, const Rankings& rankings) {
  return detail::scorer_for(split.benchmark)(split, rankings);
}

}  // namespace cir::eval
