// Ground truth, checked independently of the generator: each query's *text* is parsed with the
// test's own vocabulary, its referent resolved in the reference scene graph (it must denote
// exactly one object), the modification applied, and every gallery scene of the split compared
// by the test's own matcher. The listed targets must be exactly the matching scenes. Nothing
// here calls the generator's matching (scene_matches) or reads Query::target_spec.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <tuple>

#include "unit/synth/synth_test_util.h"

namespace cir::synth {
namespace {

using testing::cached_world;

// ----- The test's own vocabulary (kept in sync with docs/shapes-world.md by hand). -----------

const std::map<std::string, Color> kColorWords = {
    {"gray", Color::kGray},     {"grey", Color::kGray},   {"red", Color::kRed},   {"blue", Color::kBlue},
    {"green", Color::kGreen},   {"brown", Color::kBrown}, {"purple", Color::kPurple}, {"cyan", Color::kCyan},
    {"yellow", Color::kYellow}};
const std::map<std::string, Shape> kShapeWords = {{"square", Shape::kSquare},
                                                  {"circle", Shape::kCircle},
                                                  {"triangle", Shape::kTriangle},
                                                  {"diamond", Shape::kDiamond},
                                                  {"star", Shape::kStar}};
const std::map<std::string, Size> kSizeWords = {
    {"small", Size::kSmall}, {"tiny", Size::kSmall}, {"little", Size::kSmall}, {"large", Size::kLarge}, {"big", Size::kLarge}};
const std::vector<std::pair<std::string, std::pair<int, int>>> kPositions = {
    {"top left", {0, 0}},        {"upper left", {0, 0}},      {"top left corner", {0, 0}},
    {"top", {0, 1}},             {"top center", {0, 1}},      {"top middle", {0, 1}},
    {"top right", {0, 2}},       {"upper right", {0, 2}},     {"top right corner", {0, 2}},
    {"left", {1, 0}},            {"middle left", {1, 0}},     {"center left", {1, 0}},
    {"center", {1, 1}},          {"middle", {1, 1}},
    {"right", {1, 2}},           {"middle right", {1, 2}},    {"center right", {1, 2}},
    {"bottom left", {2, 0}},     {"lower left", {2, 0}},      {"bottom left corner", {2, 0}},
    {"bottom", {2, 1}},          {"bottom center", {2, 1}},   {"bottom middle", {2, 1}},
    {"bottom right", {2, 2}},    {"lower right", {2, 2}},     {"bottom right corner", {2, 2}}};

std::vector<std::string> tokens_of(const std::string& text) {
  std::vector<std::string> tokens;
  std::istringstream in(text);
  for (std::string word; in >> word;) tokens.push_back(word);
  return tokens;
}

bool has_token(const std::vector<std::string>& tokens, const std::string& word) {
  return std::find(tokens.begin(), tokens.end(), word) != tokens.end();
}

// The longest position phrase occurring in the text, as a cell.
std::optional<std::pair<int, int>> find_position(const std::vector<std::string>& tokens) {
  std::optional<std::pair<int, int>> best;
  size_t best_length = 0;
  for (const auto& [phrase, cell] : kPositions) {
    const std::vector<std::string> words = tokens_of(phrase);
    for (size_t i = 0; i + words.size() <= tokens.size(); ++i) {
      if (!std::equal(words.begin(), words.end(), tokens.begin() + static_cast<std::ptrdiff_t>(i))) continue;
      if (words.size() > best_length) {
        best = cell;
        best_length = words.size();
      }
    }
  }
  return best;
}

template <typename T>
std::vector<T> words_of(const std::vector<std::string>& tokens, const std::map<std::string, T>& vocabulary) {
  std::vector<T> out;
  for (const std::string& token : tokens)
    if (const auto it = vocabulary.find(token); it != vocabulary.end()) out.push_back(it->second);
  return out;
}

// What a text says about one object; absent = not mentioned.
struct Description {
  std::optional<Shape> shape;
  std::optional<Color> color;
  std::optional<Size> size;
  std::optional<std::pair<int, int>> cell;
};

struct ParsedMod {
  Description subject;  ///< referent (remove/change) or the added object (add)
  std::optional<Shape> new_shape;
  std::optional<Color> new_color;
  std::optional<Size> new_size;
};

// At most one mention per attribute is expected on the referent side.
template <typename T>
std::optional<T> single(const std::vector<T>& values, const std::string& text) {
  EXPECT_LE(values.size(), 1u) << "ambiguous attribute in '" << text << "'";
  if (values.empty()) return std::nullopt;
  return values.front();
}

ParsedMod parse_mod(ModKind kind, const std::string& text) {
  const std::vector<std::string> tokens = tokens_of(text);
  std::vector<Shape> shapes = words_of(tokens, kShapeWords);
  std::vector<Color> colors = words_of(tokens, kColorWords);
  std::vector<Size> sizes = words_of(tokens, kSizeWords);
  ParsedMod mod;
  mod.subject.cell = find_position(tokens);
  if (kind == ModKind::kChangeColor) {
    EXPECT_FALSE(colors.empty()) << text;
    mod.new_color = colors.back();
    colors.pop_back();
  } else if (kind == ModKind::kChangeShape) {
    EXPECT_FALSE(shapes.empty()) << text;
    mod.new_shape = shapes.back();
    shapes.pop_back();
  } else if (kind == ModKind::kChangeSize) {
    if (has_token(tokens, "bigger") || has_token(tokens, "enlarge") || has_token(tokens, "increase")) {
      mod.new_size = Size::kLarge;
    } else if (has_token(tokens, "smaller") || has_token(tokens, "shrink") || has_token(tokens, "reduce")) {
      mod.new_size = Size::kSmall;
    } else {
      EXPECT_FALSE(sizes.empty()) << text;
      mod.new_size = sizes.back();
      sizes.pop_back();
    }
  }
  mod.subject.shape = single(shapes, text);
  mod.subject.color = single(colors, text);
  mod.subject.size = single(sizes, text);
  return mod;
}

bool fits(const SceneObject& o, const Description& d) {
  return (!d.shape || *d.shape == o.shape) && (!d.color || *d.color == o.color) && (!d.size || *d.size == o.size) &&
         (!d.cell || (d.cell->first == o.row && d.cell->second == o.col));
}

// The modified scene as the test understands it: per cell, the required description.
using Expectation = std::map<std::pair<int, int>, Description>;

Description exact(const SceneObject& o) { return {o.shape, o.color, o.size, std::pair{o.row, o.col}}; }

// Applies the parsed modification to the reference scene graph; fails the test when the text
// is ambiguous or refers to nothing.
std::optional<Expectation> expected_scene(const Scene& reference, ModKind kind, const ParsedMod& mod,
                                          const std::string& text) {
  Expectation expectation;
  for (const SceneObject& o : reference.objects) expectation[{o.row, o.col}] = exact(o);
  if (kind == ModKind::kAdd) {
    if (!mod.subject.cell) {
      ADD_FAILURE() << "add without a position: '" << text << "'";
      return std::nullopt;
    }
    if (expectation.count(*mod.subject.cell)) {
      ADD_FAILURE() << "add into an occupied cell: '" << text << "'";
      return std::nullopt;
    }
    if (!mod.subject.shape && !mod.subject.color) ADD_FAILURE() << "add names neither shape nor colour: " << text;
    expectation[*mod.subject.cell] = mod.subject;
    return expectation;
  }
  std::vector<const SceneObject*> matches;
  for (const SceneObject& o : reference.objects)
    if (fits(o, mod.subject)) matches.push_back(&o);
  if (matches.size() != 1) {
    ADD_FAILURE() << "referent of '" << text << "' matches " << matches.size() << " objects in " << reference.id;
    return std::nullopt;
  }
  const std::pair<int, int> cell{matches[0]->row, matches[0]->col};
  Description& target = expectation[cell];
  switch (kind) {
    case ModKind::kRemove: expectation.erase(cell); break;
    case ModKind::kChangeColor: target.color = mod.new_color; break;
    case ModKind::kChangeShape: target.shape = mod.new_shape; break;
    case ModKind::kChangeSize: target.size = mod.new_size; break;
    case ModKind::kAdd: break;
  }
  return expectation;
}

bool satisfies(const Scene& scene, const Expectation& expectation) {
  if (scene.objects.size() != expectation.size()) return false;
  for (const SceneObject& o : scene.objects) {
    const auto it = expectation.find({o.row, o.col});
    if (it == expectation.end() || !fits(o, it->second)) return false;
  }
  return true;
}

void check_split(const Split& split, size_t min_checked = 100) {
  std::map<std::string, const Scene*> by_id;
  for (const Scene& scene : split.scenes) by_id[scene.id] = &scene;
  size_t checked = 0;
  for (const Query& q : split.queries) {
    ASSERT_TRUE(by_id.count(q.reference_id)) << q.id;
    const Scene& reference = *by_id[q.reference_id];
    const ParsedMod mod = parse_mod(q.kind, q.text);
    const std::optional<Expectation> expectation = expected_scene(reference, q.kind, mod, q.text);
    ASSERT_TRUE(expectation.has_value()) << q.id << ": " << q.text;
    std::vector<std::string> expected;
    for (const Scene& scene : split.scenes)
      if (satisfies(scene, *expectation)) expected.push_back(scene.id);
    std::vector<std::string> listed = q.target_ids;
    std::sort(listed.begin(), listed.end());
    std::sort(expected.begin(), expected.end());
    ASSERT_EQ(listed, expected) << q.id << " '" << q.text << "' on " << reference.id;
    ASSERT_FALSE(listed.empty()) << q.id;
    ASSERT_FALSE(std::binary_search(listed.begin(), listed.end(), q.reference_id)) << q.id << " lists its reference";
    ++checked;
  }
  EXPECT_GE(checked, min_checked) << split.name;
}

Scene hand_scene(std::vector<std::tuple<Shape, Color, Size, int, int>> objects) {
  Scene scene;
  for (const auto& [shape, color, size, row, col] : objects) {
    SceneObject o;
    o.shape = shape;
    o.color = color;
    o.size = size;
    o.row = row;
    o.col = col;
    scene.objects.push_back(o);
  }
  return scene;
}

// The checker itself must not be vacuous: it accepts and rejects the right hand-made scenes.
TEST(SynthGroundTruth, CheckerSelfTest) {
  const Scene reference = hand_scene({{Shape::kCircle, Color::kRed, Size::kLarge, 0, 0},
                                      {Shape::kSquare, Color::kBlue, Size::kSmall, 1, 1}});
  const std::string recolour = "make the red circle grey";
  const auto e = expected_scene(reference, ModKind::kChangeColor, parse_mod(ModKind::kChangeColor, recolour), recolour);
  ASSERT_TRUE(e.has_value());
  EXPECT_TRUE(satisfies(hand_scene({{Shape::kCircle, Color::kGray, Size::kLarge, 0, 0},
                                    {Shape::kSquare, Color::kBlue, Size::kSmall, 1, 1}}),
                        *e));
  EXPECT_FALSE(satisfies(reference, *e));
  EXPECT_FALSE(satisfies(hand_scene({{Shape::kSquare, Color::kGray, Size::kLarge, 0, 0},
                                     {Shape::kSquare, Color::kBlue, Size::kSmall, 1, 1}}),
                         *e));
  const std::string add = "add a red object to the bottom right corner";
  const auto a = expected_scene(reference, ModKind::kAdd, parse_mod(ModKind::kAdd, add), add);
  ASSERT_TRUE(a.has_value());
  EXPECT_TRUE(satisfies(hand_scene({{Shape::kCircle, Color::kRed, Size::kLarge, 0, 0},
                                    {Shape::kSquare, Color::kBlue, Size::kSmall, 1, 1},
                                    {Shape::kStar, Color::kRed, Size::kSmall, 2, 2}}),
                        *a));
  EXPECT_FALSE(satisfies(hand_scene({{Shape::kCircle, Color::kRed, Size::kLarge, 0, 0},
                                     {Shape::kSquare, Color::kBlue, Size::kSmall, 1, 1},
                                     {Shape::kStar, Color::kRed, Size::kSmall, 2, 1}}),
                         *a));
  const std::string shrink = "shrink the circle at the top left";
  const ParsedMod s = parse_mod(ModKind::kChangeSize, shrink);
  EXPECT_EQ(s.new_size, Size::kSmall);
  EXPECT_EQ(s.subject.cell, (std::pair<int, int>{0, 0}));
}

TEST(SynthGroundTruth, TrainTargetsAreExactlyTheMatchingScenes) { check_split(cached_world().split("train")); }
TEST(SynthGroundTruth, ValTargetsAreExactlyTheMatchingScenes) { check_split(cached_world().split("val")); }
TEST(SynthGroundTruth, TestTargetsAreExactlyTheMatchingScenes) { check_split(cached_world().split("test")); }

TEST(SynthGroundTruth, AnotherSeedAndSize) {
  SynthOptions options = testing::small_options(12345);
  options.n_scenes = 800;
  options.min_family_size = 2;
  options.max_family_size = 12;
  options.twin_probability = 0.5;
  const World world = generate_world(options);
  for (const Split& split : world.splits) check_split(split, 20);
}

TEST(SynthGroundTruth, TextsUseEveryParaphraseKind) {
  // The parser above must have been exercised on the paraphrases it claims to understand.
  std::set<std::string> words;
  for (const Split& split : cached_world().splits)
    for (const Query& q : split.queries)
      for (const std::string& token : tokens_of(q.text)) words.insert(token);
  for (const char* word : {"grey", "tiny", "big", "upper", "corner", "bigger", "shrink", "object", "delete", "paint",
                           "into", "replace", "enlarge"})
    EXPECT_TRUE(words.count(word)) << word;
}

}  // namespace
}  // namespace cir::synth
