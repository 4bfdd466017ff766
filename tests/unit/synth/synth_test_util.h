// Shared helpers for the synth tests: one cached world, and struct comparisons.
#pragma once

#include <gtest/gtest.h>

#include "cir/synth.h"

namespace cir::synth::testing {

/// Options of the cached test world: small enough to build in well under a second.
inline SynthOptions small_options(uint64_t seed = 7) {
  SynthOptions options;
  options.seed = seed;
  options.n_scenes = 1500;
  options.n_threads = 2;
  return options;
}

/// Generated once per test binary: several tests inspect the same world.
inline const World& cached_world() {
  static const World world = generate_world(small_options());
  return world;
}

inline bool same_object(const SceneObject& a, const SceneObject& b) {
  return a.shape == b.shape && a.color == b.color && a.size == b.size && a.row == b.row && a.col == b.col &&
         a.x == b.x && a.y == b.y && a.rotation_deg == b.rotation_deg && a.rgb == b.rgb;
}

inline bool same_scene(const Scene& a, const Scene& b) {
  if (a.id != b.id || a.file != b.file || a.family != b.family || a.captions != b.captions ||
      a.objects.size() != b.objects.size() || a.background.rgb != b.background.rgb ||
      a.background.gradient_x != b.background.gradient_x || a.background.gradient_y != b.background.gradient_y)
    return false;
  for (size_t i = 0; i < a.objects.size(); ++i)
    if (!same_object(a.objects[i], b.objects[i])) return false;
  return true;
}

inline bool same_spec(const ObjectSpec& a, const ObjectSpec& b) {
  return a.row == b.row && a.col == b.col && a.shape == b.shape && a.color == b.color && a.size == b.size;
}

inline bool same_query(const Query& a, const Query& b) {
  if (a.id != b.id || a.reference_id != b.reference_id || a.kind != b.kind || a.text != b.text || a.row != b.row ||
      a.col != b.col || a.target_ids != b.target_ids || a.target_spec.size() != b.target_spec.size())
    return false;
  for (size_t i = 0; i < a.target_spec.size(); ++i)
    if (!same_spec(a.target_spec[i], b.target_spec[i])) return false;
  return true;
}

/// Compares everything but the options' n_threads (a runtime knob, not part of the world).
inline void expect_same_world(const World& a, const World& b) {
  ASSERT_EQ(a.version, b.version);
  ASSERT_EQ(a.options.seed, b.options.seed);
  ASSERT_EQ(a.held_out, b.held_out);
  ASSERT_EQ(a.splits.size(), b.splits.size());
  for (size_t s = 0; s < a.splits.size(); ++s) {
    const Split& x = a.splits[s];
    const Split& y = b.splits[s];
    ASSERT_EQ(x.name, y.name);
    ASSERT_EQ(x.novel, y.novel);
    ASSERT_EQ(x.scenes.size(), y.scenes.size()) << x.name;
    ASSERT_EQ(x.queries.size(), y.queries.size()) << x.name;
    for (size_t i = 0; i < x.scenes.size(); ++i) ASSERT_TRUE(same_scene(x.scenes[i], y.scenes[i])) << x.scenes[i].id;
    for (size_t i = 0; i < x.queries.size(); ++i) ASSERT_TRUE(same_query(x.queries[i], y.queries[i])) << x.queries[i].id;
    EXPECT_EQ(x.stats.queries_per_kind, y.stats.queries_per_kind);
    EXPECT_EQ(x.stats.n_candidates, y.stats.n_candidates);
    EXPECT_EQ(x.stats.mean_targets, y.stats.mean_targets);
  }
}

}  // namespace cir::synth::testing
