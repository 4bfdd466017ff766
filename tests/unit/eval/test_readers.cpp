// Every shipped annotation file parses with the counts measured in shared/benchmarks/README.md;
// the standard repository layouts resolve too; bad files fail with errors naming file and field.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "cir/eval.h"
#include "test_support.h"

namespace cir::eval {
namespace {

namespace fs = std::filesystem;
using cir::testing::TempDir;

std::string benchmarks_root() { return cir::testing::fixture_path("benchmarks"); }

void write_text(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

void link_file(const std::string& target, const std::string& link) {
  fs::create_directories(fs::path(link).parent_path());
  fs::create_symlink(target, link);
}

template <typename Fn>
void expect_error(Fn&& fn, ErrorCode code, const std::vector<std::string>& fragments) {
  try {
    fn();
    FAIL() << "expected cir::Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    for (const std::string& fragment : fragments)
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
          << "missing '" << fragment << "' in: " << e.what();
  }
}

// ---------------------------------------------------------------------------------------------
// CIRR

TEST(CirrReader, ValCountsAndFields) {
  CIR_REQUIRE_FIXTURE("benchmarks/cirr/captions/cap.rc2.val.json");
  const BenchmarkSplit split = read_benchmark("cirr", benchmarks_root(), "val");
  EXPECT_EQ(split.benchmark, "cirr");
  EXPECT_EQ(split.queries.size(), 4181u);
  EXPECT_EQ(split.gallery.size(), 2297u);
  EXPECT_TRUE(split.has_ground_truth());
  const EvalQuery& first = split.queries.front();
  EXPECT_EQ(first.id, "12060");
  EXPECT_EQ(first.reference, "dev-244-0-img0");
  EXPECT_EQ(first.texts, (std::vector<std::string>{"show three bottles of soft drink"}));
  EXPECT_EQ(first.targets, (std::vector<std::string>{"dev-1028-1-img1"}));
  EXPECT_EQ(first.extra.at("img_set_id"), "36");
  EXPECT_EQ(split.image_paths.at("dev-244-0-img0"), "dev/dev-244-0-img0.png");
  std::set<std::string> img_sets;
  int soft_lists_reference = 0;
  for (const EvalQuery& query : split.queries) {
    ASSERT_EQ(query.group.size(), 6u) << query.id;
    ASSERT_EQ(query.targets.size(), 1u) << query.id;
    EXPECT_NE(query.targets[0], query.reference);
    img_sets.insert(query.extra.at("img_set_id"));
    if (query.soft_targets.contains(query.reference)) ++soft_lists_reference;
  }
  EXPECT_EQ(img_sets.size(), 503u);
  // README: 37 val queries list the reference itself in target_soft (noisy annotation); the
  // reader keeps them, and the official metric ignores target_soft.
  EXPECT_EQ(soft_lists_reference, 37);
}

TEST(CirrReader, Test1HasNoTargetsAndKeepsTheBlankCaption) {
  CIR_REQUIRE_FIXTURE("benchmarks/cirr/captions/cap.rc2.test1.json");
  const BenchmarkSplit split = read_benchmark("cirr", benchmarks_root(), "test1");
  EXPECT_EQ(split.queries.size(), 4148u);
  EXPECT_EQ(split.gallery.size(), 2315u);
  EXPECT_FALSE(split.has_ground_truth());
  bool found_blank = false;
  for (const EvalQuery& query : split.queries) {
    EXPECT_TRUE(query.targets.empty());
    if (query.id == "27098") {
      EXPECT_EQ(query.texts, (std::vector<std::string>{" "}));
      found_blank = true;
    }
  }
  EXPECT_TRUE(found_blank);
}

TEST(CirrReader, AcceptsRootAtTheInnerCirrFolder) {
  CIR_REQUIRE_FIXTURE("benchmarks/cirr/captions/cap.rc2.val.json");
  const BenchmarkSplit split = read_benchmark("cirr", benchmarks_root() + "/cirr", "val");
  EXPECT_EQ(split.queries.size(), 4181u);
  // Images sit beside cirr/ in the CIRR layout, so paths climb one level from this root.
  EXPECT_EQ(split.image_paths.at("dev-244-0-img0"), "../dev/dev-244-0-img0.png");
}

// ---------------------------------------------------------------------------------------------
// CIRCO

TEST(CircoReader, ValAndTestCounts) {
  CIR_REQUIRE_FIXTURE("benchmarks/circo/annotations/val.json");
  const BenchmarkSplit val = read_benchmark("circo", benchmarks_root(), "val");
  EXPECT_EQ(val.queries.size(), 220u);
  EXPECT_TRUE(val.gallery.empty());  // COCO's image list is not in shared/benchmarks
  size_t n_ground_truth = 0;
  std::map<size_t, int> sizes;
  for (const EvalQuery& query : val.queries) {
    EXPECT_EQ(query.extra.at("target_img_id"), query.targets.front());
    n_ground_truth += query.targets.size();
    ++sizes[query.targets.size()];
  }
  EXPECT_EQ(sizes[1], 29);  // README: 1->29, 2->45, 3->46, 14->1
  EXPECT_EQ(sizes[2], 45);
  EXPECT_EQ(sizes[3], 46);
  EXPECT_EQ(sizes[14], 1);
  EXPECT_NEAR(static_cast<double>(n_ground_truth) / 220.0, 4.16, 0.005);
  EXPECT_EQ(val.queries[0].reference, "271520");
  EXPECT_EQ(val.image_paths.at("271520"), "circo/COCO2017_unlabeled/unlabeled2017/000000271520.jpg");

  const BenchmarkSplit test = read_benchmark("circo", benchmarks_root(), "test");
  EXPECT_EQ(test.queries.size(), 800u);
  EXPECT_FALSE(test.has_ground_truth());
}

TEST(CircoReader, StandardLayoutWithCocoImageInfo) {
  CIR_REQUIRE_FIXTURE("benchmarks/circo/annotations/val.json");
  TempDir dir;
  link_file(benchmarks_root() + "/circo/annotations/val.json", dir.str("annotations/val.json"));
  write_text(
      dir.str("COCO2017_unlabeled/annotations/image_info_unlabeled2017.json"),
      R"({"images": [{"id": 271520, "file_name": "000000271520.jpg"}, {"id": 7, "file_name": "000000000007.jpg"}]})");
  const BenchmarkSplit split = read_benchmark("circo", dir.str(), "val");
  EXPECT_EQ(split.gallery, (std::vector<std::string>{"271520", "7"}));
  EXPECT_EQ(split.image_paths.at("7"), "COCO2017_unlabeled/unlabeled2017/000000000007.jpg");
}

TEST(CircoReader, ListsTheImageFolderWhenCocoImageInfoIsAbsent) {
  CIR_REQUIRE_FIXTURE("benchmarks/circo/annotations/val.json");
  TempDir dir;
  link_file(benchmarks_root() + "/circo/annotations/val.json", dir.str("annotations/val.json"));
  for (const char* name : {"000000000042.jpg", "000000000007.jpg", "notes.txt", "thumb_1.jpg"})
    write_text(dir.str(std::string("COCO2017_unlabeled/unlabeled2017/") + name), "x");
  const BenchmarkSplit split = read_benchmark("circo", dir.str(), "val");
  EXPECT_EQ(split.gallery, (std::vector<std::string>{"7", "42"}));  // sorted by id, others skipped
  EXPECT_EQ(split.image_paths.at("42"), "COCO2017_unlabeled/unlabeled2017/000000000042.jpg");
}

// ---------------------------------------------------------------------------------------------
// FashionIQ

TEST(FashionIqReader, ValAndTestCountsPerCategory) {
  CIR_REQUIRE_FIXTURE("benchmarks/fashioniq/captions/cap.dress.val.json");
  struct Expected {
    std::string category;
    size_t val_queries, val_gallery, test_queries, empty_val_captions;
  };
  for (const Expected& e : {Expected{"dress", 2017, 3817, 2024, 0}, Expected{"shirt", 2038, 6346, 2038, 1},
                            Expected{"toptee", 1961, 5373, 2056, 2}}) {
    const BenchmarkSplit val = read_benchmark("fashioniq-" + e.category, benchmarks_root(), "val");
    EXPECT_EQ(val.queries.size(), e.val_queries) << e.category;
    EXPECT_EQ(val.gallery.size(), e.val_gallery) << e.category;
    size_t empty_captions = 0;
    for (const EvalQuery& query : val.queries) {
      ASSERT_EQ(query.texts.size(), 2u);
      ASSERT_EQ(query.targets.size(), 1u);
      for (const std::string& text : query.texts) empty_captions += text.empty();
    }
    EXPECT_EQ(empty_captions, e.empty_val_captions) << e.category;
    const BenchmarkSplit test = read_benchmark("fashioniq-" + e.category, benchmarks_root(), "test");
    EXPECT_EQ(test.queries.size(), e.test_queries) << e.category;
    EXPECT_FALSE(test.has_ground_truth()) << e.category;
  }
  const BenchmarkSplit dress = read_benchmark("fashioniq-dress", benchmarks_root(), "val");
  EXPECT_EQ(dress.queries[0].reference, "B005X4PL1G");
  EXPECT_EQ(dress.queries[0].targets[0], "B0084Y8XIU");
  EXPECT_EQ(dress.queries[0].extra.at("category"), "dress");
  EXPECT_EQ(dress.image_paths.at("B005X4PL1G"), "fashioniq/images/B005X4PL1G.png");
}

TEST(FashionIqReader, StandardLayoutPicksJpgWhenThatIsWhatExists) {
  CIR_REQUIRE_FIXTURE("benchmarks/fashioniq/captions/cap.dress.val.json");
  TempDir dir;
  link_file(benchmarks_root() + "/fashioniq/captions/cap.dress.val.json", dir.str("captions/cap.dress.val.json"));
  link_file(benchmarks_root() + "/fashioniq/image_splits/split.dress.val.json",
            dir.str("image_splits/split.dress.val.json"));
  write_text(dir.str("images/B009PMCJLW.jpg"), "not really a jpeg");  // first gallery entry
  const BenchmarkSplit split = read_benchmark("fashioniq-dress", dir.str(), "val");
  EXPECT_EQ(split.queries.size(), 2017u);
  EXPECT_EQ(split.image_paths.at("B005X4PL1G"), "images/B005X4PL1G.jpg");
}

// ---------------------------------------------------------------------------------------------
// Focus-CoIR

TEST(FocusCoirReader, QueriesCandidatesAndPositives) {
  CIR_REQUIRE_FIXTURE("benchmarks/focus_coir/data/focus_coir/queries.jsonl");
  const BenchmarkSplit split = read_benchmark("focus-coir", benchmarks_root(), "test");
  EXPECT_EQ(split.queries.size(), 102u);
  size_t positives = 0;
  for (const EvalQuery& query : split.queries) {
    ASSERT_EQ(query.candidates.size(), 500u) << query.id;
    EXPECT_GE(query.targets.size(), 31u);
    EXPECT_LE(query.targets.size(), 271u);
    positives += query.targets.size();
    EXPECT_TRUE(query.extra.contains("desc_text"));
  }
  EXPECT_EQ(positives, 10900u);
  EXPECT_EQ(split.gallery.size(), 23293u);  // candidates plus query images
  EXPECT_EQ(split.queries[0].id, "91234893486608");
  EXPECT_EQ(split.queries[0].reference, "584a1c52-8a46bfe4.jpg");
  EXPECT_EQ(split.image_paths.at("584a1c52-8a46bfe4.jpg"),
            "focus_coir/bdd100k/images/100k/train/584a1c52-8a46bfe4.jpg");
}

TEST(FocusCoirReader, FindsImagesInWhicheverBddSubsetHoldsThem) {
  CIR_REQUIRE_FIXTURE("benchmarks/focus_coir/data/focus_coir/queries.jsonl");
  TempDir dir;
  link_file(benchmarks_root() + "/focus_coir/data/focus_coir/queries.jsonl", dir.str("queries.jsonl"));
  write_text(dir.str("bdd100k/images/100k/val/584a1c52-8a46bfe4.jpg"), "x");
  const BenchmarkSplit split = read_benchmark("focus-coir", dir.str(), "test");
  EXPECT_EQ(split.image_paths.at("584a1c52-8a46bfe4.jpg"), "bdd100k/images/100k/val/584a1c52-8a46bfe4.jpg");
}

// ---------------------------------------------------------------------------------------------
// LaSCo

TEST(LascoReader, NamesTheMissingQueryFile) {
  CIR_REQUIRE_FIXTURE("benchmarks/lasco/downloads/lasco_val_corpus.json");
  expect_error([] { read_benchmark("lasco", benchmarks_root(), "val"); }, ErrorCode::kNotFound, {"lasco_val.json"});
}

TEST(LascoReader, CorpusIsTheGalleryAndQueriesMatchById) {
  CIR_REQUIRE_FIXTURE("benchmarks/lasco/downloads/lasco_val_corpus.json");
  TempDir dir;
  link_file(benchmarks_root() + "/lasco/downloads/lasco_val_corpus.json", dir.str("downloads/lasco_val_corpus.json"));
  write_text(dir.str("downloads/lasco_val.json"),
             R"([{"qid": 42000, "query-image": [42, "val2014/COCO_val2014_000000000042.jpg"],
                  "query-text": "The dog is asleep", "target-image": [73, "val2014/COCO_val2014_000000000073.jpg"]}])");
  const BenchmarkSplit split = read_benchmark("lasco", dir.str(), "val");
  EXPECT_EQ(split.gallery.size(), 39826u);
  ASSERT_EQ(split.queries.size(), 1u);
  EXPECT_EQ(split.queries[0].reference, "42");
  EXPECT_EQ(split.queries[0].targets, (std::vector<std::string>{"73"}));
  EXPECT_EQ(split.image_paths.at("42"), "val/val2014/COCO_val2014_000000000042.jpg");  // from the corpus
}

// ---------------------------------------------------------------------------------------------
// Custom triplets

TEST(TripletReader, ReadsJsonlWithOptionalGalleryFile) {
  TempDir dir;
  write_text(dir.str("val.jsonl"),
             "{\"id\": \"q1\", \"reference\": \"a.jpg\", \"text\": \"in red\", \"targets\": [\"b.jpg\"]}\n"
             "\n"
             "{\"reference\": \"c.jpg\", \"texts\": [\"x\", \"y\"], \"target\": \"a.jpg\"}\n");
  BenchmarkSplit split = read_benchmark("triplets", dir.str(), "val");
  ASSERT_EQ(split.queries.size(), 2u);
  EXPECT_EQ(split.queries[1].id, "1");
  EXPECT_EQ(split.queries[1].texts.size(), 2u);
  EXPECT_EQ(split.gallery, (std::vector<std::string>{"a.jpg", "b.jpg", "c.jpg"}));
  write_text(dir.str("gallery.txt"), "a.jpg\nb.jpg\nc.jpg\nd.jpg\n");
  split = read_benchmark("triplets", dir.str("val.jsonl"), "val");
  EXPECT_EQ(split.gallery.size(), 4u);
  EXPECT_NEAR(score_rankings(split, {{"b.jpg"}, {"d.jpg", "a.jpg"}}).value("recall@1"), 50.0, 1e-9);
}

// ---------------------------------------------------------------------------------------------
// Errors

TEST(ReaderErrors, UnknownNamesAndMissingFiles) {
  expect_error([] { read_benchmark("cirr-v3", "/tmp", "val"); }, ErrorCode::kInvalidArgument,
               {"unknown benchmark 'cirr-v3'", "fashioniq-dress"});
  expect_error([] { read_benchmark("cirr", "/tmp", "dev"); }, ErrorCode::kInvalidArgument,
               {"no split 'dev'", "val, test1"});
  TempDir dir;
  expect_error([&] { read_benchmark("circo", dir.str(), "val"); }, ErrorCode::kNotFound,
               {"CIRCO annotation file", dir.str("annotations/val.json"), dir.str("circo/annotations/val.json")});
}

TEST(ReaderErrors, MalformedJsonNamesTheFile) {
  TempDir dir;
  write_text(dir.str("annotations/val.json"), "[{\"id\": 0, \"reference_img_id\": 1,");
  expect_error([&] { read_benchmark("circo", dir.str(), "val"); }, ErrorCode::kCorrupt,
               {dir.str("annotations/val.json"), "malformed JSON"});
  write_text(dir.str("queries.jsonl"), "{\"id\": 1}\n{oops\n");
  expect_error([&] { read_benchmark("focus-coir", dir.str(), "test"); }, ErrorCode::kCorrupt,
               {"queries.jsonl: line 2", "malformed JSON"});
}

TEST(ReaderErrors, MissingAndMistypedFieldsNameEntryAndField) {
  TempDir dir;
  write_text(dir.str("cirr/image_splits/split.rc2.val.json"), R"({"dev-1-0-img0": "./dev/dev-1-0-img0.png"})");
  // Entry 1 lacks "caption".
  write_text(dir.str("cirr/captions/cap.rc2.val.json"),
             R"([{"pairid": 1, "reference": "a", "caption": "c", "img_set": {"id": 0, "members": ["a"]}},
                 {"pairid": 2, "reference": "a", "img_set": {"id": 0, "members": ["a"]}}])");
  expect_error([&] { read_benchmark("cirr", dir.str(), "val"); }, ErrorCode::kCorrupt,
               {"cap.rc2.val.json: entry 1 (pairid 2): field 'caption'", "missing"});
  // A string where an integer pairid belongs.
  write_text(dir.str("cirr/captions/cap.rc2.val.json"),
             R"([{"pairid": "1", "reference": "a", "caption": "c", "img_set": {"id": 0, "members": ["a"]}}])");
  expect_error([&] { read_benchmark("cirr", dir.str(), "val"); }, ErrorCode::kCorrupt,
               {"entry 0: field 'pairid': expected an integer, found string \"1\""});
  // Duplicate pairids.
  write_text(dir.str("cirr/captions/cap.rc2.val.json"),
             R"([{"pairid": 1, "reference": "a", "caption": "c", "img_set": {"id": 0, "members": ["a"]}},
                 {"pairid": 1, "reference": "a", "caption": "d", "img_set": {"id": 0, "members": ["a"]}}])");
  expect_error([&] { read_benchmark("cirr", dir.str(), "val"); }, ErrorCode::kCorrupt, {"pairid 1 appears twice"});
  // CIRCO ground truths must be COCO integers.
  write_text(dir.str("annotations/val.json"),
             R"([{"id": 0, "reference_img_id": 5, "relative_caption": "c", "shared_concept": "s",
                  "gt_img_ids": [1, "x"], "target_img_id": 1}])");
  expect_error([&] { read_benchmark("circo", dir.str(), "val"); }, ErrorCode::kCorrupt,
               {"entry 0 (id 0): field 'gt_img_ids[1]': expected an integer id, found string \"x\""});
  // FashionIQ triplet with one caption.
  write_text(dir.str("captions/cap.dress.val.json"), R"([{"candidate": "a", "target": "b", "captions": ["x"]}])");
  write_text(dir.str("image_splits/split.dress.val.json"), R"(["a", "b"])");
  expect_error([&] { read_benchmark("fashioniq-dress", dir.str(), "val"); }, ErrorCode::kCorrupt,
               {"entry 0: field 'captions': expected 2 captions, found 1 captions"});
  // Focus-CoIR label that is not [name, int], and a repeated candidate.
  write_text(dir.str("queries.jsonl"),
             R"({"id": 5, "query_img": "q.jpg", "name_text": "t", "labels": [["a.jpg", 1], ["b.jpg", "yes"]]})");
  expect_error([&] { read_benchmark("focus-coir", dir.str(), "test"); }, ErrorCode::kCorrupt,
               {"line 1 (id 5): field 'labels[1]'"});
  write_text(dir.str("queries.jsonl"),
             R"({"id": 5, "query_img": "q.jpg", "name_text": "t", "labels": [["a.jpg", 1], ["a.jpg", 0]]})");
  expect_error([&] { read_benchmark("focus-coir", dir.str(), "test"); }, ErrorCode::kCorrupt,
               {"field 'labels[1]'", "listed again"});
}

}  // namespace
}  // namespace cir::eval
