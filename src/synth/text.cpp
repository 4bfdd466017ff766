// Captions and modification texts from templates. Everything is lower case, like CSS's texts.
// Every word used maps back to one value (see vocab.cpp), so texts are unambiguous.
#include <algorithm>

#include "synth/internal.h"

namespace cir::synth::detail {

namespace {

// Either the canonical word ([0]) or a random paraphrase.
std::string_view choose(const std::vector<std::string_view>& pool, Rng* rng) {
  return rng == nullptr ? pool.front() : rng->pick(pool);
}

std::string with_article(const std::string& phrase) {
  const bool vowel = !phrase.empty() && std::string_view("aeiou").find(phrase[0]) != std::string_view::npos;
  return (vowel ? "an " : "a ") + phrase;
}

std::string join_list(const std::vector<std::string>& parts, std::string_view separator = ", ") {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += (i + 1 == parts.size()) ? std::string(" and ") : std::string(separator);
    out += parts[i];
  }
  return out;
}

PositionWord choose_position(const SceneObject& object, Rng* rng) {
  const auto& words = position_words(object.row, object.col);
  return rng == nullptr ? words.front() : rng->pick(words);
}

std::string position_phrase(const PositionWord& word) {
  return std::string(word.preposition) + " the " + std::string(word.noun);
}

// "large red circle" with any subset of the attributes; "object"/"shape"/"thing" stands in for
// an unnamed shape.
std::string attribute_phrase(const SceneObject& object, bool size, bool color, bool shape, Rng* rng) {
  static const std::vector<std::string_view> kNouns = {"object", "shape", "thing"};
  std::string out;
  if (size) out += std::string(choose(size_words(object.size), rng)) + " ";
  if (color) out += std::string(choose(color_words(object.color), rng)) + " ";
  out += std::string(shape ? choose(shape_words(object.shape), rng) : choose(kNouns, rng));
  return out;
}

std::string located_object(const SceneObject& object, Rng* rng) {
  return with_article(attribute_phrase(object, true, true, true, rng)) + " " +
         position_phrase(choose_position(object, rng));
}

std::vector<const SceneObject*> caption_order(const std::vector<SceneObject>& objects, Rng* rng) {
  std::vector<const SceneObject*> order;
  for (const SceneObject& object : objects) order.push_back(&object);
  if (rng != nullptr && rng->chance(0.5)) rng->shuffle(order);
  return order;
}

std::string count_prefix(size_t n, bool there_are) {
  if (n == 1) return there_are ? "there is " : "a single object: ";
  return (there_are ? "there are " : "") + std::string(count_word(static_cast<int>(n))) + " objects: ";
}

// Template 0 is the canonical one; the others paraphrase the same content.
std::string caption_from_template(const std::vector<SceneObject>& objects, int template_index, Rng* rng) {
  const std::vector<const SceneObject*> order = caption_order(objects, rng);
  std::vector<std::string> parts;
  if (template_index == 3) {
    for (const SceneObject* object : order)
      parts.push_back(position_phrase(choose_position(*object, rng)) + ", " +
                      with_article(attribute_phrase(*object, true, true, true, rng)));
    std::string out;
    for (size_t i = 0; i < parts.size(); ++i) out += (i > 0 ? "; " : "") + parts[i];
    return out;
  }
  for (const SceneObject* object : order) parts.push_back(located_object(*object, rng));
  const std::string list = join_list(parts);
  switch (template_index) {
    case 1: return count_prefix(objects.size(), true) + list;
    case 2: return count_prefix(objects.size(), false) + list;
    case 4: return "an image of " + list;
    default: return list;
  }
}

// Attribute subsets a referring expression may use, with weights: CSS mostly says
// "the <colour> <shape>"; the position is added only when needed or now and then.
struct ReferentForm {
  bool size, color, shape, position;
  int weight;
};
constexpr std::array<ReferentForm, 8> kReferentForms = {{
    {false, true, true, false, 6},
    {true, true, true, false, 3},
    {false, false, true, false, 2},
    {false, true, false, false, 2},
    {false, true, true, true, 2},
    {false, false, true, true, 1},
    {true, true, true, true, 1},
    {false, false, false, true, 1},
}};

bool form_is_unique(const std::vector<SceneObject>& objects, const SceneObject& target, const ReferentForm& form) {
  int matches = 0;
  for (const SceneObject& other : objects) {
    if (form.size && other.size != target.size) continue;
    if (form.color && other.color != target.color) continue;
    if (form.shape && other.shape != target.shape) continue;
    if (form.position && (other.row != target.row || other.col != target.col)) continue;
    ++matches;
  }
  return matches == 1;
}

// "the red circle", "the circle at the top left", "the object in the center": always denotes
// exactly one object of the reference.
std::string referent(const std::vector<SceneObject>& objects, const SceneObject& target, Rng& rng) {
  std::vector<const ReferentForm*> candidates;
  int total = 0;
  for (const ReferentForm& form : kReferentForms) {
    if (!form_is_unique(objects, target, form)) continue;
    candidates.push_back(&form);
    total += form.weight;
  }
  // The position forms are always unique (one object per cell), so candidates is never empty.
  int draw = static_cast<int>(rng.below(static_cast<uint64_t>(total)));
  const ReferentForm* form = candidates.back();
  for (const ReferentForm* candidate : candidates) {
    if (draw < candidate->weight) {
      form = candidate;
      break;
    }
    draw -= candidate->weight;
  }
  // Appending (not "the " + ...) sidesteps GCC 12's false -Wrestrict on literal + temporary.
  std::string out = "the ";
  out += attribute_phrase(target, form->size, form->color, form->shape, &rng);
  if (form->position) {
    out += ' ';
    out += position_phrase(choose_position(target, &rng));
  }
  return out;
}

std::string add_text(const Edit& edit, const SaidAttributes& said, Rng& rng) {
  SceneObject added;
  added.shape = edit.shape;
  added.color = edit.color;
  added.size = edit.size;
  added.row = edit.row;
  added.col = edit.col;
  const std::string object = with_article(attribute_phrase(added, said.size, said.color, said.shape, &rng));
  const PositionWord where = choose_position(added, &rng);
  switch (rng.below(4)) {
    case 0: return "add " + object + " " + position_phrase(where);
    case 1: return "add " + object + " to the " + std::string(where.noun);
    case 2: return "put " + object + " " + position_phrase(where);
    default: return "place " + object + " " + position_phrase(where);
  }
}

std::string remove_text(const std::string& ref, Rng& rng) {
  static const std::vector<std::string_view> kVerbs = {"remove", "delete", "take away", "get rid of"};
  return std::string(rng.pick(kVerbs)) + " " + ref;
}

std::string color_text(const std::string& ref, Color color, Rng& rng) {
  const std::string word(rng.pick(color_words(color)));
  switch (rng.below(4)) {
    case 0: return "make " + ref + " " + word;
    case 1: return "change " + ref + " to " + word;
    case 2: return "paint " + ref + " " + word;
    default: return ref + " should be " + word;
  }
}

std::string shape_text(const std::string& ref, Shape shape, Rng& rng) {
  const std::string word = with_article(std::string(rng.pick(shape_words(shape))));
  switch (rng.below(4)) {
    case 0: return "turn " + ref + " into " + word;
    case 1: return "make " + ref + " " + word;
    case 2: return "change " + ref + " into " + word;
    default: return "replace " + ref + " with " + word;
  }
}

std::string size_text(const std::string& ref, Size size, Rng& rng) {
  const bool large = size == Size::kLarge;
  switch (rng.below(4)) {
    case 0: return "make " + ref + " " + std::string(rng.pick(size_words(size)));
    case 1: return "make " + ref + (large ? " bigger" : " smaller");
    case 2: return (large ? "enlarge " : "shrink ") + ref;
    default: return (large ? "increase the size of " : "reduce the size of ") + ref;
  }
}

}  // namespace

std::vector<std::string> make_captions(const std::vector<SceneObject>& objects, int n_captions, Rng& rng) {
  std::vector<std::string> captions;
  captions.push_back(caption_from_template(objects, 0, nullptr));
  while (static_cast<int>(captions.size()) < n_captions) {
    std::string caption;
    // A few tries for a new string; a repeat is harmless (tiny scenes have few paraphrases).
    for (int attempt = 0; attempt < 8; ++attempt) {
      caption = caption_from_template(objects, rng.range(0, 4), &rng);
      if (std::find(captions.begin(), captions.end(), caption) == captions.end()) break;
    }
    captions.push_back(std::move(caption));
  }
  return captions;
}

SaidAttributes choose_said_attributes(Rng& rng) {
  // CSS leaves attributes unsaid now and then; colour or shape is always said so that an add
  // query never degenerates to "add an object".
  const double draw = rng.uniform();
  if (draw < 0.55) return {true, true, true};
  if (draw < 0.75) return {true, true, false};   // "add a red circle": any size
  if (draw < 0.85) return {false, true, false};  // "add a red object": any shape and size
  if (draw < 0.93) return {false, true, true};   // "add a small red object"
  return {true, false, rng.chance(0.5)};         // "add a (small) circle": any colour
}

std::string make_mod_text(const std::vector<SceneObject>& reference, const Edit& edit, const SaidAttributes& said,
                          Rng& rng) {
  if (edit.kind == ModKind::kAdd) return add_text(edit, said, rng);
  const int index = find_object(reference, edit.row, edit.col);
  if (index < 0) throw Error(ErrorCode::kInternal, "synth: modification text for an empty cell");
  const std::string ref = referent(reference, reference[static_cast<size_t>(index)], rng);
  switch (edit.kind) {
    case ModKind::kRemove: return remove_text(ref, rng);
    case ModKind::kChangeColor: return color_text(ref, edit.color, rng);
    case ModKind::kChangeShape: return shape_text(ref, edit.shape, rng);
    case ModKind::kChangeSize: return size_text(ref, edit.size, rng);
    case ModKind::kAdd: break;
  }
  return {};
}

}  // namespace cir::synth::detail
