// Private: one reader per benchmark family, registered by name in registry.cpp. Each returns the
// common BenchmarkSplit and throws cir::Error naming the file and field on bad input.
#pragma once

#include <string>
#include <string_view>

#include "cir/eval.h"

namespace cir::eval::detail {

/// CIRR rc2: cirr/captions/cap.rc2.<split>.json + cirr/image_splits/split.rc2.<split>.json.
BenchmarkSplit read_cirr(const std::string& root, std::string_view split);
/// CIRCO: annotations/<split>.json (+ COCO2017_unlabeled/ for the gallery when present).
BenchmarkSplit read_circo(const std::string& root, std::string_view split);
/// FashionIQ one category: captions/cap.<category>.<split>.json + image_splits/split.<...>.json.
BenchmarkSplit read_fashioniq(const std::string& root, std::string_view category, std::string_view split);
/// LaSCo: lasco_<split>.json + lasco_<split>_corpus.json (root or downloads/).
BenchmarkSplit read_lasco(const std::string& root, std::string_view split);
/// Focus-CoIR: queries.jsonl (root, data/focus_coir/ or focus_coir/data/focus_coir/).
BenchmarkSplit read_focus_coir(const std::string& root, std::string_view split);
/// Custom triplets: `root` is the .jsonl file itself or a folder holding <split>.jsonl.
BenchmarkSplit read_triplets_split(const std::string& root, std::string_view split);

/// "query <id>" naming for messages, shared by readers and scorers.
std::string describe_query(const EvalQuery& query);

}  // namespace cir::eval::detail
