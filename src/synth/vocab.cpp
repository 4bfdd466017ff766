// Names, colours and the word pools captions and modification texts draw from.
#include <algorithm>

#include "synth/internal.h"

namespace cir::synth {

namespace {

constexpr std::array<std::string_view, kNumShapes> kShapeNames = {"square", "circle", "triangle", "diamond", "star"};
constexpr std::array<std::string_view, kNumColors> kColorNames = {"gray",   "red",    "blue", "green",
                                                                  "brown",  "purple", "cyan", "yellow"};
constexpr std::array<std::string_view, kNumSizes> kSizeNames = {"small", "large"};
constexpr std::array<std::string_view, kNumModKinds> kModKindNames = {"add", "remove", "change_color",
                                                                      "change_shape", "change_size"};

// methods.md 6.2: the CSS 2D renderer's palette, kept exactly so the world reads like CSS.
constexpr std::array<std::array<uint8_t, 3>, kNumColors> kColorRgb = {{
    {87, 87, 87},     // gray
    {244, 35, 35},    // red
    {42, 75, 215},    // blue
    {29, 205, 20},    // green
    {129, 74, 25},    // brown
    {129, 38, 192},   // purple
    {41, 208, 208},   // cyan
    {255, 238, 51},   // yellow
}};

template <typename Enum, size_t N>
std::optional<Enum> parse_name(const std::array<std::string_view, N>& names, std::string_view name) {
  const auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end()) return std::nullopt;
  return static_cast<Enum>(it - names.begin());
}

}  // namespace

std::string_view shape_name(Shape shape) { return kShapeNames.at(static_cast<size_t>(shape)); }
std::string_view color_name(Color color) { return kColorNames.at(static_cast<size_t>(color)); }
std::string_view size_name(Size size) { return kSizeNames.at(static_cast<size_t>(size)); }
std::string_view mod_kind_name(ModKind kind) { return kModKindNames.at(static_cast<size_t>(kind)); }

std::optional<Shape> parse_shape(std::string_view name) { return parse_name<Shape>(kShapeNames, name); }
std::optional<Color> parse_color(std::string_view name) { return parse_name<Color>(kColorNames, name); }
std::optional<Size> parse_size(std::string_view name) { return parse_name<Size>(kSizeNames, name); }
std::optional<ModKind> parse_mod_kind(std::string_view name) { return parse_name<ModKind>(kModKindNames, name); }

std::array<uint8_t, 3> color_rgb(Color color) { return kColorRgb.at(static_cast<size_t>(color)); }

namespace detail {

// Synonym pools stay small and unambiguous: every word maps back to exactly one value, so a
// query text can always be read back (the unit tests parse them independently).
const std::vector<std::string_view>& shape_words(Shape shape) {
  static const std::array<std::vector<std::string_view>, kNumShapes> kWords = {{
      {"square"},
      {"circle"},
      {"triangle"},
      {"diamond"},
      {"star"},
  }};
  return kWords.at(static_cast<size_t>(shape));
}

const std::vector<std::string_view>& color_words(Color color) {
  static const std::array<std::vector<std::string_view>, kNumColors> kWords = {{
      {"gray", "grey"},
      {"red"},
      {"blue"},
      {"green"},
      {"brown"},
      {"purple"},
      {"cyan"},
      {"yellow"},
  }};
  return kWords.at(static_cast<size_t>(color));
}

const std::vector<std::string_view>& size_words(Size size) {
  static const std::array<std::vector<std::string_view>, kNumSizes> kWords = {{
      {"small", "tiny", "little"},
      {"large", "big"},
  }};
  return kWords.at(static_cast<size_t>(size));
}

// Nouns are chosen so that the longest position phrase found in a text names exactly one cell
// ("top left corner" contains "top left" contains "left", all the same or a longer match).
const std::vector<PositionWord>& position_words(int row, int col) {
  static const std::array<std::vector<PositionWord>, kGridSize * kGridSize> kWords = {{
      {{"top left", "at"}, {"upper left", "in"}, {"top left corner", "in"}},
      {{"top", "at"}, {"top center", "at"}, {"top middle", "in"}},
      {{"top right", "at"}, {"upper right", "in"}, {"top right corner", "in"}},
      {{"left", "on"}, {"middle left", "at"}, {"center left", "at"}},
      {{"center", "in"}, {"middle", "in"}},
      {{"right", "on"}, {"middle right", "at"}, {"center right", "at"}},
      {{"bottom left", "at"}, {"lower left", "in"}, {"bottom left corner", "in"}},
      {{"bottom", "at"}, {"bottom center", "at"}, {"bottom middle", "in"}},
      {{"bottom right", "at"}, {"lower right", "in"}, {"bottom right corner", "in"}},
  }};
  return kWords.at(static_cast<size_t>(row * kGridSize + col));
}

std::string_view count_word(int n) {
  static constexpr std::array<std::string_view, kMaxObjects + 1> kWords = {"zero", "one",  "two",
                                                                           "three", "four", "five"};
  return kWords.at(static_cast<size_t>(n));
}

}  // namespace detail
}  // namespace cir::synth
