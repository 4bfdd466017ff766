// cir synth (L1): the "shapes world", a CSS-like composed-retrieval benchmark that cir generates
// itself because pretrained weights cannot be downloaded here. Scenes of 1-5 coloured shapes on a
// 3x3 grid, captions for training a tiny CLIP, and CIR queries (add / remove / change colour,
// shape, size) whose ground truths are every gallery scene of the split satisfying the modified
// scene description. The test split uses (shape, colour) combinations never seen in training.
//
// Contract: plain value types, no JSON or codec types cross this header. generate_world and
// render_scene are pure functions of their arguments: the same options give the same World and
// the same pixels (byte-identical files from write_world on the same build). write_world and
// load_world throw cir::Error naming the file and field (kNotFound for missing files, kCorrupt
// for garbled ones, kIo for refused writes); generate_world throws kInvalidArgument for bad
// options. Thread-safe: functions share no state; write_world renders on cir::parallel_for.
// Layout on disk and the generation rules: docs/shapes-world.md.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cir/core.h"
#include "cir/image.h"

namespace cir::synth {

/// Version of the on-disk format (world.json "version"); load_world refuses other versions.
inline constexpr int kWorldFormatVersion = 1;
/// The grid is kGridSize x kGridSize cells, at most one object per cell.
inline constexpr int kGridSize = 3;
/// Scenes hold 1..kMaxObjects objects.
inline constexpr int kMaxObjects = 5;

/// Object shapes. "square" is CSS's "rectangle" (drawn square).
enum class Shape : uint8_t { kSquare, kCircle, kTriangle, kDiamond, kStar };
inline constexpr int kNumShapes = 5;

/// The 8 CSS colours (RGB values in color_rgb).
enum class Color : uint8_t { kGray, kRed, kBlue, kGreen, kBrown, kPurple, kCyan, kYellow };
inline constexpr int kNumColors = 8;

/// The 2 CSS sizes.
enum class Size : uint8_t { kSmall, kLarge };
inline constexpr int kNumSizes = 2;

/// The CSS modification kinds.
enum class ModKind : uint8_t { kAdd, kRemove, kChangeColor, kChangeShape, kChangeSize };
inline constexpr int kNumModKinds = 5;

/// Stable lower-case names used in files: "square", "red", "small", "change_color", ...
std::string_view shape_name(Shape shape);
std::string_view color_name(Color color);
std::string_view size_name(Size size);
std::string_view mod_kind_name(ModKind kind);
/// Inverse of the *_name functions; std::nullopt for unknown names.
std::optional<Shape> parse_shape(std::string_view name);
std::optional<Color> parse_color(std::string_view name);
std::optional<Size> parse_size(std::string_view name);
std::optional<ModKind> parse_mod_kind(std::string_view name);
/// The CSS 2D renderer's RGB value of a colour (methods.md section 6.2).
std::array<uint8_t, 3> color_rgb(Color color);

/// A (shape, colour) combination; the novel protocol holds some out of training.
struct ShapeColor {
  Shape shape = Shape::kSquare;
  Color color = Color::kGray;
  bool operator==(const ShapeColor&) const = default;
};

/// One object of a scene graph. shape/color/size/row/col define what the object *is* (all that
/// retrieval ground truth looks at); x/y/rotation/rgb are rendering jitter.
struct SceneObject {
  Shape shape = Shape::kSquare;
  Color color = Color::kGray;
  Size size = Size::kSmall;
  int row = 0;  ///< grid row 0..2, top to bottom
  int col = 0;  ///< grid column 0..2, left to right
  double x = 0;  ///< jittered centre, pixels from the left edge of an image_size image
  double y = 0;  ///< jittered centre, pixels from the top edge
  double rotation_deg = 0;  ///< small jitter rotation (clockwise degrees; ignored for circles)
  std::array<uint8_t, 3> rgb{};  ///< drawn colour: the CSS colour plus noise
};

/// Background: a light tint plus a linear gradient, so equal graphs never render identically.
struct Background {
  std::array<uint8_t, 3> rgb{255, 255, 255};  ///< colour at the image centre
  int gradient_x = 0;  ///< added at the right edge, subtracted at the left (linear in between)
  int gradient_y = 0;  ///< added at the bottom edge, subtracted at the top
};

/// One gallery image's scene graph.
struct Scene {
  std::string id;      ///< unique across the world: "<split>-<6 digits>"
  std::string file;    ///< image path relative to the world directory: "images/<split>/<id>.png"
  std::string family;  ///< the base scene's family ("<split>-f<5 digits>"): base + single edits
  std::vector<SceneObject> objects;  ///< sorted by (row, col); at most one per cell
  Background background;
  std::vector<std::string> captions;  ///< [0] canonical, then paraphrases; all describe every object
};

/// One object of a target description. The cell is always fixed; an absent attribute is free
/// (any value satisfies it), as when a CSS add query says "add a red object".
struct ObjectSpec {
  int row = 0;
  int col = 0;
  std::optional<Shape> shape;
  std::optional<Color> color;
  std::optional<Size> size;
};

/// A composed query: reference image + modification text -> every matching gallery scene.
struct Query {
  std::string id;            ///< "<split>-q<6 digits>"
  std::string reference_id;  ///< the reference scene (never among target_ids)
  ModKind kind = ModKind::kAdd;
  std::string text;          ///< the modification, e.g. "make the green square purple"
  int row = 0;               ///< cell of the added, removed or changed object
  int col = 0;
  /// The modified scene: a target has exactly these objects (same count, same cells) with every
  /// given attribute equal; jitter is irrelevant.
  std::vector<ObjectSpec> target_spec;
  std::vector<std::string> target_ids;  ///< every scene of the split matching target_spec, in gallery order
};

/// What happened while building one split's queries (reported in world.json).
struct SplitStats {
  int n_families = 0;
  int n_candidates = 0;          ///< queries proposed by the families
  int n_dropped_no_target = 0;   ///< no gallery scene matched (should stay 0 with families)
  int n_dropped_not_novel = 0;   ///< novel-protocol split, no held-out combination involved
  int n_dropped_cap = 0;         ///< removed to honour max_queries_per_split
  std::array<int, kNumModKinds> queries_per_kind{};  ///< indexed by ModKind
  double mean_targets = 0;       ///< mean target_ids size over kept queries
};

/// One split: its gallery (all scenes) and its queries.
struct Split {
  std::string name;  ///< "train" | "val" | "test"
  bool novel = false;  ///< scenes built around held-out combinations (test; val if val_novel)
  std::vector<Scene> scenes;
  std::vector<Query> queries;
  SplitStats stats;
};

/// Runtime knobs of generate_world. Defaults give ~6000 scenes and ~10000 queries.
struct SynthOptions {
  uint64_t seed = 0;
  int n_scenes = 6000;           ///< over all splits
  int image_size = 64;           ///< 64 or 128 pixels square
  double val_fraction = 0.1;     ///< share of n_scenes in val
  double test_fraction = 0.2;    ///< share of n_scenes in test
  double held_out_fraction = 0.25;  ///< share of (shape, colour) combinations never in train
  bool val_novel = true;         ///< val follows test's novel protocol (else: seen combinations)
  int max_queries_per_split = 0;  ///< 0 = keep every query; else a seeded sample of this many
  int min_family_size = 4;       ///< scenes per family (base, edits, twins, siblings)
  int max_family_size = 8;
  double twin_probability = 0.3;  ///< a family member is drawn twice with different jitter
  double add_sibling_probability = 0.5;  ///< an add edit gets a same-colour sibling in its cell
  int n_captions = 5;            ///< captions per scene, >= 1
  int n_threads = 0;             ///< for query matching and write_world; 0 = default_thread_count()
};

/// The whole generated world. Images are not held: render_scene draws them from the graphs.
struct World {
  int version = kWorldFormatVersion;
  SynthOptions options;
  std::vector<ShapeColor> held_out;  ///< combinations absent from train
  std::vector<Split> splits;         ///< train, val, test in that order

  /// The split named `name`; throws kNotFound.
  const Split& split(std::string_view name) const;
  /// True when (shape, color) is held out of train.
  bool is_held_out(Shape shape, Color color) const;
};

/// Generates scene graphs, captions, queries and ground truths (no pixels). Throws
/// kInvalidArgument for bad options (image_size not 64/128, fractions out of range, ...).
World generate_world(const SynthOptions& options);

/// Writes world.json, images/<split>/<id>.png, scenes/<split>.jsonl and queries/<split>.jsonl
/// under out_dir (created if needed). world.json is written last (atomically): its presence
/// marks a complete world. Existing files are overwritten, others left alone. Throws kIo.
void write_world(const World& world, const std::string& out_dir);

/// Reads what write_world wrote (not the images). Throws kNotFound when a file is missing,
/// kCorrupt naming file, line and field when content is garbled, kUnsupported for another version.
World load_world(const std::string& dir);

/// Draws a scene at image_size x image_size (x/y are read in that pixel frame): background,
/// then each object with 4x4 supersampled anti-aliasing. Pure: same scene, same pixels.
image::ImageU8 render_scene(const Scene& scene, int image_size);

/// Replaces a scene's jitter (object x/y/rotation/rgb and background) with values drawn from
/// jitter_seed, keeping what the objects are. generate_world uses it; tests use it to get two
/// renderings of one graph.
void jitter_scene(Scene& scene, int image_size, uint64_t jitter_seed);

/// True when the scene has exactly the spec's objects (count, cells, given attributes).
bool scene_matches(const std::vector<ObjectSpec>& spec, const Scene& scene);

}  // namespace cir::synth
