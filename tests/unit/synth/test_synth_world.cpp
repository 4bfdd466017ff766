// World generation: determinism, the novel protocol, statistics, files, errors, speed.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "test_support.h"
#include "unit/synth/synth_test_util.h"

namespace cir::synth {
namespace {

namespace fs = std::filesystem;
using testing::cached_world;
using testing::small_options;

// Every file under a directory, keyed by relative path.
std::map<std::string, std::vector<uint8_t>> read_tree(const fs::path& root) {
  std::map<std::string, std::vector<uint8_t>> files;
  for (const auto& entry : fs::recursive_directory_iterator(root))
    if (entry.is_regular_file()) files[fs::relative(entry.path(), root).string()] = read_file_bytes(entry.path().string());
  return files;
}

bool involves_held_out(const World& world, const Scene& reference, const Query& query) {
  for (const SceneObject& o : reference.objects)
    if (world.is_held_out(o.shape, o.color)) return true;
  for (const ObjectSpec& s : query.target_spec)
    if (s.shape && s.color && world.is_held_out(*s.shape, *s.color)) return true;
  return false;
}

const Scene& scene_by_id(const Split& split, const std::string& id) {
  for (const Scene& scene : split.scenes)
    if (scene.id == id) return scene;
  throw std::runtime_error("no scene " + id);
}

TEST(SynthWorld, SameSeedSameWorldDifferentSeedDifferentWorld) {
  const World a = generate_world(small_options(7));
  SynthOptions other_threads = small_options(7);
  other_threads.n_threads = 1;
  const World b = generate_world(other_threads);
  testing::expect_same_world(a, b);

  const World c = generate_world(small_options(8));
  size_t differing = 0;
  const Split& ta = a.split("train");
  const Split& tc = c.split("train");
  for (size_t i = 0; i < std::min(ta.scenes.size(), tc.scenes.size()); ++i)
    differing += !testing::same_scene(ta.scenes[i], tc.scenes[i]);
  EXPECT_GT(differing, ta.scenes.size() * 9 / 10);
}

TEST(SynthWorld, SameSeedByteIdenticalFiles) {
  SynthOptions options = small_options(21);
  options.n_scenes = 300;
  cir::testing::TempDir one, two, three;
  write_world(generate_world(options), one.str());
  options.n_threads = 1;  // thread count must not change a byte
  write_world(generate_world(options), two.str());
  const auto files_one = read_tree(one.path);
  const auto files_two = read_tree(two.path);
  ASSERT_EQ(files_one.size(), 300u + 7u);  // images + 3 scenes + 3 queries + world.json
  for (const auto& [path, bytes] : files_one) {
    if (path == "world.json") continue;  // records n_threads
    ASSERT_TRUE(files_two.count(path)) << path;
    EXPECT_EQ(bytes, files_two.at(path)) << path;
  }
  options.seed = 22;
  write_world(generate_world(options), three.str());
  const auto files_three = read_tree(three.path);
  EXPECT_NE(files_one.at("images/train/train-000000.png"), files_three.at("images/train/train-000000.png"));
  EXPECT_NE(files_one.at("scenes/train.jsonl"), files_three.at("scenes/train.jsonl"));
}

TEST(SynthWorld, NovelProtocol) {
  const World& world = cached_world();
  // A quarter of the 40 combinations, balanced: every shape loses 2 colours, every colour at least one shape.
  ASSERT_EQ(world.held_out.size(), 10u);
  for (int s = 0; s < kNumShapes; ++s) {
    int lost = 0;
    for (int c = 0; c < kNumColors; ++c) lost += world.is_held_out(static_cast<Shape>(s), static_cast<Color>(c));
    EXPECT_EQ(lost, 2);
  }
  const Split& train = world.split("train");
  EXPECT_FALSE(train.novel);
  std::set<std::pair<int, int>> seen;
  for (const Scene& scene : train.scenes)
    for (const SceneObject& o : scene.objects) {
      ASSERT_FALSE(world.is_held_out(o.shape, o.color)) << scene.id;
      seen.insert({static_cast<int>(o.shape), static_cast<int>(o.color)});
    }
  EXPECT_EQ(seen.size(), 30u);  // every allowed combination does occur in training
  for (const Query& q : train.queries)
    for (const ObjectSpec& s : q.target_spec)
      if (s.shape && s.color) {
        ASSERT_FALSE(world.is_held_out(*s.shape, *s.color)) << q.id;
      }

  for (const char* name : {"val", "test"}) {
    const Split& split = world.split(name);
    EXPECT_TRUE(split.novel) << name;
    ASSERT_FALSE(split.queries.empty()) << name;
    for (const Query& q : split.queries)
      ASSERT_TRUE(involves_held_out(world, scene_by_id(split, q.reference_id), q)) << q.id << ": " << q.text;
  }
}

TEST(SynthWorld, ValCanUseSeenCombinations) {
  SynthOptions options = small_options(3);
  options.n_scenes = 600;
  options.val_novel = false;
  const World world = generate_world(options);
  const Split& val = world.split("val");
  EXPECT_FALSE(val.novel);
  for (const Scene& scene : val.scenes)
    for (const SceneObject& o : scene.objects) ASSERT_FALSE(world.is_held_out(o.shape, o.color));
}

TEST(SynthWorld, SplitSizesAndStatistics) {
  const World& world = cached_world();
  ASSERT_EQ(world.splits.size(), 3u);
  EXPECT_EQ(world.split("train").scenes.size(), 1050u);
  EXPECT_EQ(world.split("val").scenes.size(), 150u);
  EXPECT_EQ(world.split("test").scenes.size(), 300u);
  std::set<std::string> ids;
  for (const Split& split : world.splits) {
    const SplitStats& s = split.stats;
    EXPECT_EQ(s.n_dropped_no_target, 0) << split.name;
    int total = 0;
    for (int k = 0; k < kNumModKinds; ++k) {
      EXPECT_GT(s.queries_per_kind[static_cast<size_t>(k)], 0) << split.name << " " << k;
      total += s.queries_per_kind[static_cast<size_t>(k)];
    }
    EXPECT_EQ(total, static_cast<int>(split.queries.size()));
    EXPECT_EQ(s.n_candidates, total + s.n_dropped_no_target + s.n_dropped_not_novel + s.n_dropped_cap);
    EXPECT_GE(s.mean_targets, 1.0);
    for (const Scene& scene : split.scenes) {
      ASSERT_TRUE(ids.insert(scene.id).second) << scene.id;
      EXPECT_EQ(scene.file, "images/" + split.name + "/" + scene.id + ".png");
      ASSERT_EQ(scene.captions.size(), 5u);
      ASSERT_GE(scene.objects.size(), 1u);
      ASSERT_LE(scene.objects.size(), static_cast<size_t>(kMaxObjects));
    }
  }
  // Several ground truths happen (twins, siblings, free attributes), and free attributes occur.
  size_t multi = 0, free_attribute = 0;
  for (const Query& q : world.split("train").queries) {
    multi += q.target_ids.size() > 1;
    for (const ObjectSpec& s : q.target_spec) free_attribute += !s.shape || !s.color || !s.size;
  }
  EXPECT_GT(multi, world.split("train").queries.size() / 10);
  EXPECT_GT(free_attribute, 50u);
}

TEST(SynthWorld, CanonicalCaptionNamesEveryObject) {
  for (const Scene& scene : cached_world().split("test").scenes) {
    const std::string& caption = scene.captions[0];
    for (const SceneObject& o : scene.objects) {
      const std::string phrase = std::string(size_name(o.size)) + " " + std::string(color_name(o.color)) + " " +
                                 std::string(shape_name(o.shape));
      EXPECT_NE(caption.find(phrase), std::string::npos) << scene.id << ": " << caption;
    }
  }
}

TEST(SynthWorld, QueryCapKeepsASample) {
  SynthOptions options = small_options(5);
  options.n_scenes = 600;
  options.max_queries_per_split = 40;
  const World world = generate_world(options);
  for (const Split& split : world.splits) {
    EXPECT_LE(split.queries.size(), 40u) << split.name;
    if (split.name == "train") {
      EXPECT_GT(split.stats.n_dropped_cap, 0);
    }
  }
}

TEST(SynthWorld, WriteLoadRoundTrip) {
  SynthOptions options = small_options(9);
  options.n_scenes = 400;
  options.image_size = 128;
  const World world = generate_world(options);
  cir::testing::TempDir dir;
  write_world(world, dir.str());
  const World loaded = load_world(dir.str());
  testing::expect_same_world(world, loaded);
  EXPECT_EQ(loaded.options.image_size, 128);
  EXPECT_EQ(loaded.options.n_scenes, 400);
  const Scene& scene = loaded.split("val").scenes.at(3);
  const image::ImageU8 png = image::decode_image_file(dir.str(scene.file));
  EXPECT_EQ(png.width, 128);
  EXPECT_EQ(png.rgb, render_scene(scene, 128).rgb);
}

void expect_load_error(const std::string& dir, ErrorCode code, const std::string& needle) {
  try {
    load_world(dir);
    ADD_FAILURE() << "expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

std::string replace_first(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

TEST(SynthWorld, LoadReportsMissingAndGarbledFiles) {
  SynthOptions options = small_options(4);
  options.n_scenes = 60;
  const World world = generate_world(options);
  cir::testing::TempDir dir;
  expect_load_error(dir.str(), ErrorCode::kNotFound, "world.json");
  write_world(world, dir.str());
  const std::string world_json = read_file_text(dir.str("world.json"));
  const std::string train_scenes = read_file_text(dir.str("scenes/train.jsonl"));

  write_file_atomic(dir.str("world.json"), "{\"format\": ");
  expect_load_error(dir.str(), ErrorCode::kCorrupt, "not valid JSON");
  write_file_atomic(dir.str("world.json"), replace_first(world_json, "\"version\": 1", "\"version\": 99"));
  expect_load_error(dir.str(), ErrorCode::kUnsupported, "version 99");
  write_file_atomic(dir.str("world.json"), replace_first(world_json, "\"seed\": 4", "\"seed\": \"four\""));
  expect_load_error(dir.str(), ErrorCode::kCorrupt, "field 'seed'");
  write_file_atomic(dir.str("world.json"), world_json);

  std::string bad = train_scenes;
  const size_t second_line = bad.find('\n') + 1;
  bad.insert(second_line, "{oops\n");
  write_file_atomic(dir.str("scenes/train.jsonl"), bad);
  expect_load_error(dir.str(), ErrorCode::kCorrupt, "scenes/train.jsonl:2");
  write_file_atomic(dir.str("scenes/train.jsonl"), replace_first(train_scenes, "\"color\":\"", "\"color\":\"mauve"));
  expect_load_error(dir.str(), ErrorCode::kCorrupt, "field 'color'");
  write_file_atomic(dir.str("scenes/train.jsonl"), train_scenes.substr(0, train_scenes.find('\n') + 1));
  expect_load_error(dir.str(), ErrorCode::kCorrupt, "world.json announces");
  write_file_atomic(dir.str("scenes/train.jsonl"), train_scenes);

  fs::remove(dir.path / "queries" / "test.jsonl");
  expect_load_error(dir.str(), ErrorCode::kNotFound, "queries/test.jsonl");
}

TEST(SynthWorld, RejectsBadOptions) {
  SynthOptions options;
  options.image_size = 100;
  EXPECT_THROW(generate_world(options), Error);
  options = SynthOptions{};
  options.val_fraction = 0.6;
  options.test_fraction = 0.6;
  EXPECT_THROW(generate_world(options), Error);
  options = SynthOptions{};
  options.min_family_size = 5;
  options.max_family_size = 2;
  try {
    generate_world(options);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("family"), std::string::npos);
  }
}

TEST(SynthWorld, SpeedSanity) {
  SynthOptions options = small_options(11);
  options.n_scenes = 2000;
  options.n_threads = 0;
  const auto start = std::chrono::steady_clock::now();
  const World world = generate_world(options);
  const auto generated = std::chrono::steady_clock::now();
  cir::testing::TempDir dir;
  write_world(world, dir.str());
  const auto written = std::chrono::steady_clock::now();
  const double gen_s = std::chrono::duration<double>(generated - start).count();
  const double write_s = std::chrono::duration<double>(written - generated).count();
  size_t n_queries = 0;
  for (const Split& s : world.splits) n_queries += s.queries.size();
  std::ostringstream line;
  line << "synth speed: 2000 scenes, " << n_queries << " queries: generate " << gen_s << " s, write (render+png) "
       << write_s << " s, " << 2000.0 / (gen_s + write_s) << " scenes/s end to end, threads "
       << default_thread_count();
  std::cout << line.str() << std::endl;
  RecordProperty("synth_speed", line.str());
}

}  // namespace
}  // namespace cir::synth
