// Gallery captions in the index (engine::caption_index, index::CaptionStore) and their SEIZE-layout
// import/export, on a small index of fake vectors with fake image files: no model is loaded,
// the captioners are fakes registered here.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include "cir/engine.h"
#include "test_support.h"

namespace cir::engine {
namespace {

namespace fs = std::filesystem;
using cir::testing::TempDir;
using nlohmann::json;

constexpr int kDim = 8;

// An index of n items "img<i>.png" whose files exist under <tmp>/gallery (bytes = the name).
std::string make_index(const TempDir& tmp, int n) {
  const std::string dir = tmp.str("index");
  const std::string root = tmp.str("gallery");
  fs::create_directories(root);
  index::IndexManifest m;
  m.embed_dim = kDim;
  m.model = {"clip", "hf", "/models/test", "abc"};
  auto store = index::Store::create(dir, m);
  std::vector<float> vec(kDim, 0.f);
  vec[0] = 1.f;
  std::vector<index::NewItem> items;
  for (int i = 0; i < n; ++i) {
    index::NewItem it;
    it.external_id = "img" + std::to_string(i) + ".png";
    it.vectors = vec.data();
    it.n_vectors = 1;
    items.push_back(it);
    std::ofstream(root + "/" + it.external_id) << it.external_id;
  }
  store->add_items(items);
  store->flush();
  std::ofstream(dir + "/gallery.json") << json{{"root", root}}.dump();
  return dir;
}

// Captions "<item> #<s>"; counts the items it saw in a file named by the options' preset, so a
// child process's calls are visible to the parent. Kills its own process (SIGKILL, the kill -9
// of a crash) on the batch numbered `kill_at_batch` (1-based; 0 = never).
class CountingCaptioner : public gen::Captioner {
 public:
  CountingCaptioner(std::string log, int n, int kill_at_batch) : log_(std::move(log)), n_(n), kill_at_(kill_at_batch) {}
  std::string key() const override { return "counting:n" + std::to_string(n_); }
  std::vector<gen::CaptionResult> caption_batch(const std::vector<gen::CaptionInput>& inputs) const override {
    if (kill_at_ > 0 && ++batches_ == kill_at_) ::raise(SIGKILL);
    std::vector<gen::CaptionResult> out(inputs.size());
    std::ofstream log(log_, std::ios::app);
    for (size_t i = 0; i < inputs.size(); ++i) {
      log << inputs[i].item_id << "\n";
      for (int s = 0; s < n_; ++s) out[i].captions.push_back(inputs[i].item_id + " #" + std::to_string(s));
    }
    return out;
  }

 private:
  std::string log_;
  int n_;
  int kill_at_;
  mutable int batches_ = 0;
};

// The options' preset carries "<log file>|<kill_at_batch>": the factory has no other channel.
void register_counting_captioner() {
  gen::register_captioner("test-counting", [](std::shared_ptr<gen::Provider>, const gen::CaptionerOptions& o) {
    const auto bar = o.preset.find('|');
    return std::make_shared<const CountingCaptioner>(o.preset.substr(0, bar), o.n, std::stoi(o.preset.substr(bar + 1)));
  });
}

std::vector<std::string> read_log(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

CaptionIndexOptions counting_options(const std::string& log, int kill_at_batch) {
  CaptionIndexOptions o;
  o.generation.captioner = "test-counting";
  o.generation.captioner_options.preset = log + "|" + std::to_string(kill_at_batch);
  o.generation.captioner_options.n = 3;
  o.batch_size = 4;
  o.progress = false;
  return o;
}

TEST(CaptionIndex, ResumesAfterKill9WithoutCaptioningAnItemTwice) {
  TempDir tmp;
  const std::string dir = make_index(tmp, 18);
  register_counting_captioner();
  const std::string log = tmp.str("calls.log");
  // The child is killed inside its third batch: batches 1-2 (8 items) are committed, the third
  // is in flight and lost.
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    try {
      caption_index(dir, counting_options(log, 3));
    } catch (...) {
    }
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the child was meant to die by SIGKILL";
  ASSERT_EQ(read_log(log).size(), 8u);

  const CaptionIndexReport r = caption_index(dir, counting_options(log, 0));
  EXPECT_EQ(r.n_items, 18);
  EXPECT_EQ(r.n_already, 8);
  EXPECT_EQ(r.n_captioned, 10);
  EXPECT_EQ(r.n_failed, 0);
  // Every item was sent to the captioner exactly once over both runs.
  auto calls = read_log(log);
  std::sort(calls.begin(), calls.end());
  EXPECT_EQ(calls.size(), 18u);
  EXPECT_EQ(std::adjacent_find(calls.begin(), calls.end()), calls.end());
  // A third run finds nothing to do.
  const CaptionIndexReport again = caption_index(dir, counting_options(log, 0));
  EXPECT_EQ(again.n_already, 18);
  EXPECT_EQ(read_log(log).size(), 18u);

  auto store = index::CaptionStore::open(dir);
  const auto item = index::Store::open(dir, {.read_only = true})->find_by_external_id("img5.png");
  ASSERT_TRUE(item);
  EXPECT_EQ(store->captions(item->id, "counting:n3"),
            (std::vector<std::string>{"img5.png #0", "img5.png #1", "img5.png #2"}));
  // The captioner's spec is in manifest.json, and the index still opens.
  const json manifest = json::parse(read_file_text(dir + "/manifest.json"));
  ASSERT_TRUE(manifest.contains("captioners"));
  EXPECT_EQ(manifest["captioners"]["counting:n3"]["n"], 3);
  EXPECT_NO_THROW(index::Store::open(dir, {.read_only = true}));
}

TEST(CaptionIndex, ReportsItemsWhoseImageCannotBeRead) {
  TempDir tmp;
  const std::string dir = make_index(tmp, 5);
  fs::remove(tmp.str("gallery/img2.png"));
  register_counting_captioner();
  const CaptionIndexReport r = caption_index(dir, counting_options(tmp.str("calls.log"), 0));
  EXPECT_EQ(r.n_captioned, 4);
  EXPECT_EQ(r.n_failed, 1);
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_EQ(r.failures[0].first, "img2.png");
}

// A SEIZE-layout file: CIRCO-style numeric reference ids (matching zero-padded file stems), two
// queries on one reference, and one entry for an image the index lacks.
json seize_entries() {
  json entries = json::array();
  const auto entry = [](json ref, const std::string& mod, int base) {
    json e = {{"reference_img_id", ref}, {"relative_caption", mod}, {"shared_concept", "x"}};
    for (int s = 0; s < 4; ++s) {
      e["multi_caption_opt"].push_back("caption " + std::to_string(base) + "." + std::to_string(s));
      e["multi_gpt-3.5_opt"].push_back("edit " + mod + " " + std::to_string(s));
    }
    return e;
  };
  entries.push_back(entry(1, "is red", 1));
  entries.push_back(entry(1, "is blue", 1));
  entries.push_back(entry(3, "has two", 3));
  entries.push_back(entry(99, "is missing", 99));
  return entries;
}

// Items "00000000000<i>.png", as COCO names its files.
std::string make_coco_like_index(const TempDir& tmp, const std::string& name) {
  const std::string dir = tmp.str(name);
  index::IndexManifest m;
  m.embed_dim = kDim;
  m.model = {"clip", "hf", "/models/test", "abc"};
  auto store = index::Store::create(dir, m);
  std::vector<float> vec(kDim, 0.f);
  vec[1] = 1.f;
  std::vector<index::NewItem> items;
  for (int i = 0; i < 5; ++i) {
    index::NewItem it;
    it.external_id = "unlabeled2017/00000000000" + std::to_string(i) + ".jpg";
    it.vectors = vec.data();
    it.n_vectors = 1;
    items.push_back(it);
  }
  store->add_items(items);
  store->flush();
  return dir;
}

TEST(CaptionsImportExport, SeizeLayoutRoundTrips) {
  TempDir tmp;
  const std::string a = make_coco_like_index(tmp, "a");
  const std::string b = make_coco_like_index(tmp, "b");
  std::ofstream(tmp.str("seize.json")) << seize_entries().dump();
  const CaptionsImportReport r = import_captions(a, tmp.str("seize.json"));
  EXPECT_EQ(r.n_entries, 4);
  EXPECT_EQ(r.n_matched, 3);
  EXPECT_EQ(r.unmatched, std::vector<std::string>{"99"});
  EXPECT_EQ(r.n_captions, 8);  // two references x 4 (the repeated reference once)
  EXPECT_EQ(r.n_edits, 12);

  ASSERT_EQ(export_captions(a, tmp.str("out.json")), 3);
  const json exported = json::parse(read_file_text(tmp.str("out.json")));
  for (const auto& e : exported) {
    EXPECT_EQ(e["multi_caption_opt"].size(), 4u);
    EXPECT_EQ(e["multi_gpt-3.5_opt"].size(), 4u);
    EXPECT_TRUE(e.contains("relative_caption"));
  }
  // The export names references by external id; importing it elsewhere gives the same store.
  import_captions(b, tmp.str("out.json"));
  const auto sa = index::CaptionStore::open(a), sb = index::CaptionStore::open(b);
  const auto ca = sa->all_captions(r.captioner_key), cb = sb->all_captions(r.captioner_key);
  ASSERT_EQ(ca.size(), cb.size());
  for (size_t i = 0; i < ca.size(); ++i) {
    EXPECT_EQ(ca[i].item_id, cb[i].item_id);
    EXPECT_EQ(ca[i].text, cb[i].text);
  }
  const auto ea = sa->all_edits(r.editor_key), eb = sb->all_edits(r.editor_key);
  ASSERT_EQ(ea.size(), 12u);
  ASSERT_EQ(ea.size(), eb.size());
  for (size_t i = 0; i < ea.size(); ++i) {
    EXPECT_EQ(ea[i].modification, eb[i].modification);
    EXPECT_EQ(ea[i].slot, eb[i].slot);
    EXPECT_EQ(ea[i].text, eb[i].text);
    EXPECT_EQ(ea[i].caption, eb[i].caption);
  }
  const auto item = index::Store::open(a, {.read_only = true})->find_by_external_id("unlabeled2017/000000000001.jpg");
  ASSERT_TRUE(item);
  const auto edits = sa->edits(item->id, "is blue", r.editor_key);
  ASSERT_EQ(edits.size(), 4u);
  EXPECT_EQ(edits[2].text, "edit is blue 2");
  EXPECT_EQ(edits[2].caption, "caption 1.2");
}

TEST(CaptionsImportExport, RejectsAFileThatIsNotAListOfDicts) {
  TempDir tmp;
  const std::string a = make_coco_like_index(tmp, "a");
  std::ofstream(tmp.str("bad.json")) << R"({"multi_caption_opt": []})";
  try {
    import_captions(a, tmp.str("bad.json"));
    FAIL() << "expected kCorrupt";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
    EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos);
  }
  std::ofstream(tmp.str("bad2.json")) << R"([{"reference_img_id": 1, "multi_caption_opt": "not a list"}])";
  EXPECT_THROW(import_captions(a, tmp.str("bad2.json")), Error);
}

}  // namespace
}  // namespace cir::engine
