// generate_world: held-out combinations, then per split families -> scenes (ids, jitter,
// captions) -> queries. Each random purpose draws from its own derived seed, so changing how
// captions are worded does not move a single object.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "synth/internal.h"

namespace cir::synth {

const Split& World::split(std::string_view name) const {
  for (const Split& s : splits)
    if (s.name == name) return s;
  throw Error(ErrorCode::kNotFound, "shapes world has no split '" + std::string(name) + "'");
}

bool World::is_held_out(Shape shape, Color color) const {
  return std::find(held_out.begin(), held_out.end(), ShapeColor{shape, color}) != held_out.end();
}

namespace {

using detail::ComboRules;
using detail::Family;
using detail::Rng;

// Tags for derive_seed: one stream per purpose.
enum SeedTag : uint64_t { kTagHeldOut = 1, kTagFamilies, kTagJitter, kTagCaptions, kTagQueries };

void require(bool ok, const std::string& message) {
  if (!ok) throw Error(ErrorCode::kInvalidArgument, "synth options: " + message);
}

void validate(const SynthOptions& o) {
  require(o.image_size == 64 || o.image_size == 128,
          "image_size must be 64 or 128, got " + std::to_string(o.image_size));
  require(o.n_scenes >= 1 && o.n_scenes <= 10'000'000, "n_scenes must be in [1, 10000000], got " +
                                                           std::to_string(o.n_scenes));
  require(o.val_fraction >= 0 && o.test_fraction >= 0 && o.val_fraction + o.test_fraction < 1,
          "val_fraction and test_fraction must be >= 0 with a sum below 1");
  require(o.held_out_fraction >= 0 && o.held_out_fraction <= 0.5, "held_out_fraction must be in [0, 0.5]");
  require(o.min_family_size >= 1 && o.max_family_size >= o.min_family_size && o.max_family_size <= 64,
          "family sizes must satisfy 1 <= min_family_size <= max_family_size <= 64");
  require(o.twin_probability >= 0 && o.twin_probability <= 1, "twin_probability must be in [0, 1]");
  require(o.add_sibling_probability >= 0 && o.add_sibling_probability <= 1,
          "add_sibling_probability must be in [0, 1]");
  require(o.n_captions >= 1 && o.n_captions <= 100, "n_captions must be in [1, 100]");
  require(o.max_queries_per_split >= 0, "max_queries_per_split must be >= 0");
  require(o.n_threads >= 0, "n_threads must be >= 0");
}

// Every shape loses the same number of colours, and the colours are spread over shapes by a
// seeded permutation, so each colour and each shape still appears in training.
std::vector<ShapeColor> choose_held_out(const SynthOptions& options) {
  const int per_shape = std::min(kNumColors - 1, static_cast<int>(std::lround(kNumColors * options.held_out_fraction)));
  std::vector<int> colors(kNumColors);
  for (int c = 0; c < kNumColors; ++c) colors[static_cast<size_t>(c)] = c;
  Rng rng(detail::derive_seed(options.seed, kTagHeldOut));
  rng.shuffle(colors);
  std::vector<ShapeColor> held_out;
  for (int s = 0; s < kNumShapes; ++s)
    for (int j = 0; j < per_shape; ++j)
      held_out.push_back({static_cast<Shape>(s),
                          static_cast<Color>(colors[static_cast<size_t>((s * per_shape + j) % kNumColors)])});
  return held_out;
}

ComboRules make_rules(const std::vector<ShapeColor>& held_out, bool novel) {
  ComboRules rules;
  rules.held_out_list = held_out;
  for (const ShapeColor& combo : held_out)
    rules.held_out[static_cast<size_t>(combo.shape)][static_cast<size_t>(combo.color)] = true;
  rules.allow_held_out = novel;
  rules.require_held_out = novel;
  return rules;
}

std::string numbered(const std::string& prefix, const char* format, size_t index) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, format, index);
  return prefix + buffer;
}

Scene make_scene(const Split& split, uint64_t split_tag, const std::vector<SceneObject>& layout,
                 const std::string& family_id, size_t index, const SynthOptions& options) {
  Scene scene;
  scene.id = numbered(split.name, "-%06zu", index);
  scene.file = "images/" + split.name + "/" + scene.id + ".png";
  scene.family = family_id;
  scene.objects = layout;
  jitter_scene(scene, options.image_size, detail::derive_seed(options.seed, kTagJitter, split_tag, index));
  Rng caption_rng(detail::derive_seed(options.seed, kTagCaptions, split_tag, index));
  scene.captions = detail::make_captions(scene.objects, options.n_captions, caption_rng);
  return scene;
}

// Families are drawn until the split's scene budget is used; the last one may be cut short.
void generate_split(Split& split, uint64_t split_tag, int n_scenes, const ComboRules& rules,
                    const SynthOptions& options) {
  Rng rng(detail::derive_seed(options.seed, kTagFamilies, split_tag));
  std::vector<Family> families;
  std::vector<std::vector<int>> family_scenes;
  while (static_cast<int>(split.scenes.size()) < n_scenes) {
    const int left = n_scenes - static_cast<int>(split.scenes.size());
    const int size = std::min(left, rng.range(options.min_family_size, options.max_family_size));
    Family family = detail::generate_family(size, rules, options, rng);
    const std::string family_id = numbered(split.name, "-f%05zu", families.size());
    std::vector<int> indices;
    for (const auto& layout : family.members) {
      indices.push_back(static_cast<int>(split.scenes.size()));
      split.scenes.push_back(make_scene(split, split_tag, layout, family_id, split.scenes.size(), options));
    }
    families.push_back(std::move(family));
    family_scenes.push_back(std::move(indices));
  }
  detail::build_queries(split, families, family_scenes, rules, options,
                        detail::derive_seed(options.seed, kTagQueries, split_tag));
}

struct SplitPlan {
  const char* name;
  int n_scenes;
  bool novel;
};

std::array<SplitPlan, 3> plan_splits(const SynthOptions& options, bool have_held_out) {
  const int n_val = static_cast<int>(std::lround(options.n_scenes * options.val_fraction));
  const int n_test = static_cast<int>(std::lround(options.n_scenes * options.test_fraction));
  const int n_train = std::max(0, options.n_scenes - n_val - n_test);
  return {{{"train", n_train, false},
           {"val", n_val, have_held_out && options.val_novel},
           {"test", n_test, have_held_out}}};
}

}  // namespace

World generate_world(const SynthOptions& options) {
  validate(options);
  World world;
  world.options = options;
  world.held_out = choose_held_out(options);
  uint64_t split_tag = 0;
  for (const SplitPlan& plan : plan_splits(options, !world.held_out.empty())) {
    Split split;
    split.name = plan.name;
    split.novel = plan.novel;
    generate_split(split, ++split_tag, plan.n_scenes, make_rules(world.held_out, plan.novel), options);
    world.splits.push_back(std::move(split));
  }
  return world;
}

}  // namespace cir::synth
