// Private pieces of cir synth shared by its .cpp files: the PRNG, the vocabulary, edits,
// families and the text generators.
#pragma once

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "cir/synth.h"

namespace cir::synth::detail {

// ---------------------------------------------------------------------------------------------
// Randomness. std::mt19937_64's output sequence is fixed by the standard, but the std
// distributions (uniform_int_distribution, uniform_real_distribution, std::shuffle) are
// implementation-defined and differ between libstdc++ and libc++; every draw below is written
// out by hand so a seed means the same world everywhere.

/// splitmix64 finaliser: decorrelates derived seeds (world seed, split, scene index, purpose).
inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// A seed derived from a parent seed and up to three tags.
inline uint64_t derive_seed(uint64_t seed, uint64_t a, uint64_t b = 0, uint64_t c = 0) {
  return mix64(mix64(mix64(mix64(seed) ^ a) ^ b) ^ c);
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  uint64_t next() { return engine_(); }
  /// Uniform in [0, n) by rejection (no modulo bias); n > 0.
  uint64_t below(uint64_t n) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = engine_();
    while (x >= limit);
    return x % n;
  }
  /// Uniform integer in [lo, hi].
  int range(int lo, int hi) { return lo + static_cast<int>(below(static_cast<uint64_t>(hi - lo + 1))); }
  /// Uniform double in [0, 1) from the top 53 bits (exact).
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  /// Uniform double in [lo, hi).
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  bool chance(double p) { return uniform() < p; }
  template <typename T>
  const T& pick(const std::vector<T>& items) { return items[below(items.size())]; }
  /// Fisher-Yates, written out because std::shuffle's draw order is unspecified.
  template <typename T>
  void shuffle(std::vector<T>& items) {
    for (size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[below(i)]);
  }

 private:
  std::mt19937_64 engine_;
};

// ---------------------------------------------------------------------------------------------
// Vocabulary (vocab.cpp). Word lists are the paraphrase pools; [0] is the canonical word.

const std::vector<std::string_view>& shape_words(Shape shape);
const std::vector<std::string_view>& color_words(Color color);
const std::vector<std::string_view>& size_words(Size size);

/// A way to name a grid cell: "top left" used as "at the top left".
struct PositionWord {
  std::string_view noun;
  std::string_view preposition;
};
const std::vector<PositionWord>& position_words(int row, int col);

/// "one" .. "five".
std::string_view count_word(int n);

// ---------------------------------------------------------------------------------------------
// Scene graphs without jitter ("layouts") and single edits (family.cpp).

/// One edit of a layout. For kAdd the new object is (shape, color, size) at (row, col); for the
/// change kinds the field of that kind holds the new value.
struct Edit {
  ModKind kind = ModKind::kAdd;
  int row = 0;
  int col = 0;
  Shape shape = Shape::kSquare;
  Color color = Color::kGray;
  Size size = Size::kSmall;
};

/// Index of the object in cell (row, col), or -1.
int find_object(const std::vector<SceneObject>& objects, int row, int col);
/// The layout after the edit (objects stay sorted by cell).
std::vector<SceneObject> apply_edit(const std::vector<SceneObject>& objects, const Edit& edit);
/// The edit that takes apply_edit(before, edit) back to `before`.
Edit inverse_edit(const std::vector<SceneObject>& before, const Edit& edit);
/// Same objects in the same cells with the same attributes (jitter ignored).
bool same_layout(const std::vector<SceneObject>& a, const std::vector<SceneObject>& b);

/// Which attributes of an added object its query text states (the others are free).
struct SaidAttributes {
  bool shape = true;
  bool color = true;
  bool size = true;
};

/// One generated family: member layouts, and for each the edit from the base (members[0]).
struct Family {
  std::vector<std::vector<SceneObject>> members;
  std::vector<int> edit_of;  ///< index into edits, -1 for the base and its twins
  std::vector<Edit> edits;
  std::vector<bool> is_twin;  ///< a repeat of an earlier member's layout (drawn again)
};

/// Which combinations a split may use.
struct ComboRules {
  std::array<std::array<bool, kNumColors>, kNumShapes> held_out{};
  std::vector<ShapeColor> held_out_list;
  bool allow_held_out = false;  ///< false for train: no held-out combination anywhere
  bool require_held_out = false;  ///< novel splits: the base contains one
};

/// Draws one family of `n_members` scenes (base first).
Family generate_family(int n_members, const ComboRules& rules, const SynthOptions& options, Rng& rng);

// ---------------------------------------------------------------------------------------------
// Text (text.cpp).

/// n_captions captions of a layout: [0] canonical, then distinct paraphrases.
std::vector<std::string> make_captions(const std::vector<SceneObject>& objects, int n_captions, Rng& rng);
/// Picks which attributes an add query states (at least colour or shape).
SaidAttributes choose_said_attributes(Rng& rng);
/// The modification text for applying `edit` to `reference` (an unambiguous referring
/// expression for the object of remove/change kinds).
std::string make_mod_text(const std::vector<SceneObject>& reference, const Edit& edit, const SaidAttributes& said,
                          Rng& rng);

// ---------------------------------------------------------------------------------------------
// Queries (queries.cpp).

/// The target description of `edit` applied to `reference`.
std::vector<ObjectSpec> make_target_spec(const std::vector<SceneObject>& reference, const Edit& edit,
                                         const SaidAttributes& said);

/// Builds the queries of one split from its families; fills split.queries and split.stats.
/// `family_scenes[f]` lists family f's scene indices into split.scenes (members in order).
void build_queries(Split& split, const std::vector<Family>& families, const std::vector<std::vector<int>>& family_scenes,
                   const ComboRules& rules, const SynthOptions& options, uint64_t seed);

}  // namespace cir::synth::detail
