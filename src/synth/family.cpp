// Scene families, the CSS way of making sure ground truths exist: a random base layout plus
// single edits of it (add, remove, change colour/shape/size), some drawn twice ("twins": the
// same graph under different jitter) and some add edits with a "sibling" (same cell and colour,
// other shape or size) so that under-specified add queries have several targets.
#include <algorithm>

#include "synth/internal.h"

namespace cir::synth::detail {

namespace {

bool cell_less(const SceneObject& a, const SceneObject& b) {
  return a.row != b.row ? a.row < b.row : a.col < b.col;
}

bool combo_allowed(const ComboRules& rules, Shape shape, Color color) {
  return rules.allow_held_out || !rules.held_out[static_cast<size_t>(shape)][static_cast<size_t>(color)];
}

Shape random_shape(Rng& rng) { return static_cast<Shape>(rng.below(kNumShapes)); }
Color random_color(Rng& rng) { return static_cast<Color>(rng.below(kNumColors)); }
Size random_size(Rng& rng) { return static_cast<Size>(rng.below(kNumSizes)); }

// Rejection sampling over the 40 combinations; at most a quarter or so are ever excluded.
ShapeColor random_combo(const ComboRules& rules, Rng& rng) {
  for (;;) {
    const ShapeColor combo{random_shape(rng), random_color(rng)};
    if (combo_allowed(rules, combo.shape, combo.color)) return combo;
  }
}

SceneObject make_object(ShapeColor combo, Size size, int row, int col) {
  SceneObject object;
  object.shape = combo.shape;
  object.color = combo.color;
  object.size = size;
  object.row = row;
  object.col = col;
  return object;
}

// Object counts 1..5, slightly favouring the middle so both add and remove stay possible.
int random_object_count(Rng& rng) {
  static constexpr std::array<int, kMaxObjects> kWeights = {2, 3, 3, 3, 2};
  int draw = static_cast<int>(rng.below(13));
  for (int i = 0; i < kMaxObjects; ++i) {
    if (draw < kWeights[i]) return i + 1;
    draw -= kWeights[i];
  }
  return kMaxObjects;
}

std::vector<SceneObject> random_base(const ComboRules& rules, Rng& rng) {
  std::vector<int> cells(kGridSize * kGridSize);
  for (size_t i = 0; i < cells.size(); ++i) cells[i] = static_cast<int>(i);
  rng.shuffle(cells);
  const int n = random_object_count(rng);
  cells.resize(static_cast<size_t>(n));
  std::sort(cells.begin(), cells.end());
  std::vector<SceneObject> objects;
  for (int cell : cells)
    objects.push_back(make_object(random_combo(rules, rng), random_size(rng), cell / kGridSize, cell % kGridSize));
  if (rules.require_held_out && !rules.held_out_list.empty()) {
    SceneObject& chosen = objects[rng.below(objects.size())];
    const ShapeColor combo = rng.pick(rules.held_out_list);
    chosen.shape = combo.shape;
    chosen.color = combo.color;
  }
  return objects;
}

std::vector<ModKind> feasible_kinds(size_t n_objects) {
  std::vector<ModKind> kinds;
  if (n_objects < static_cast<size_t>(kMaxObjects)) kinds.push_back(ModKind::kAdd);
  if (n_objects > 1) kinds.push_back(ModKind::kRemove);
  kinds.push_back(ModKind::kChangeColor);
  kinds.push_back(ModKind::kChangeShape);
  kinds.push_back(ModKind::kChangeSize);
  return kinds;
}

std::vector<int> empty_cells(const std::vector<SceneObject>& objects) {
  std::vector<int> cells;
  for (int cell = 0; cell < kGridSize * kGridSize; ++cell)
    if (find_object(objects, cell / kGridSize, cell % kGridSize) < 0) cells.push_back(cell);
  return cells;
}

// Returns false when the chosen object admits no allowed new value (then the caller retries).
bool fill_change(const SceneObject& object, const ComboRules& rules, Rng& rng, Edit& edit) {
  if (edit.kind == ModKind::kChangeSize) {
    edit.size = object.size == Size::kSmall ? Size::kLarge : Size::kSmall;
    return true;
  }
  if (edit.kind == ModKind::kChangeColor) {
    std::vector<Color> options;
    for (int c = 0; c < kNumColors; ++c)
      if (static_cast<Color>(c) != object.color && combo_allowed(rules, object.shape, static_cast<Color>(c)))
        options.push_back(static_cast<Color>(c));
    if (options.empty()) return false;
    edit.color = rng.pick(options);
    return true;
  }
  std::vector<Shape> options;
  for (int s = 0; s < kNumShapes; ++s)
    if (static_cast<Shape>(s) != object.shape && combo_allowed(rules, static_cast<Shape>(s), object.color))
      options.push_back(static_cast<Shape>(s));
  if (options.empty()) return false;
  edit.shape = rng.pick(options);
  return true;
}

std::optional<Edit> random_edit(const std::vector<SceneObject>& base, const ComboRules& rules, Rng& rng) {
  Edit edit;
  edit.kind = rng.pick(feasible_kinds(base.size()));
  if (edit.kind == ModKind::kAdd) {
    const int cell = rng.pick(empty_cells(base));
    const ShapeColor combo = random_combo(rules, rng);
    edit.row = cell / kGridSize;
    edit.col = cell % kGridSize;
    edit.shape = combo.shape;
    edit.color = combo.color;
    edit.size = random_size(rng);
    return edit;
  }
  const SceneObject& object = base[rng.below(base.size())];
  edit.row = object.row;
  edit.col = object.col;
  if (edit.kind == ModKind::kRemove) return edit;
  if (!fill_change(object, rules, rng, edit)) return std::nullopt;
  return edit;
}

// Same cell and colour as the add edit, another shape or another size: "add a red object at
// the top left" then has (at least) two targets in the family.
std::optional<Edit> sibling_of(const Edit& add, const ComboRules& rules, Rng& rng) {
  Edit sibling = add;
  if (rng.chance(0.5)) {
    sibling.size = add.size == Size::kSmall ? Size::kLarge : Size::kSmall;
    return sibling;
  }
  std::vector<Shape> options;
  for (int s = 0; s < kNumShapes; ++s)
    if (static_cast<Shape>(s) != add.shape && combo_allowed(rules, static_cast<Shape>(s), add.color))
      options.push_back(static_cast<Shape>(s));
  if (options.empty()) return std::nullopt;
  sibling.shape = rng.pick(options);
  return sibling;
}

bool layout_known(const Family& family, const std::vector<SceneObject>& layout) {
  return std::any_of(family.members.begin(), family.members.end(),
                     [&](const auto& member) { return same_layout(member, layout); });
}

void add_member(Family& family, std::vector<SceneObject> layout, int edit_index, bool twin) {
  family.members.push_back(std::move(layout));
  family.edit_of.push_back(edit_index);
  family.is_twin.push_back(twin);
}

// Adds the edited layout unless the family already has it; returns whether it did.
bool add_edit_member(Family& family, const Edit& edit) {
  std::vector<SceneObject> layout = apply_edit(family.members[0], edit);
  if (layout_known(family, layout)) return false;
  family.edits.push_back(edit);
  add_member(family, std::move(layout), static_cast<int>(family.edits.size()) - 1, false);
  return true;
}

void maybe_add_twin(Family& family, size_t n_members, double probability, Rng& rng) {
  if (family.members.size() >= n_members || !rng.chance(probability)) return;
  const size_t last = family.members.size() - 1;
  add_member(family, family.members[last], family.edit_of[last], true);
}

}  // namespace

int find_object(const std::vector<SceneObject>& objects, int row, int col) {
  for (size_t i = 0; i < objects.size(); ++i)
    if (objects[i].row == row && objects[i].col == col) return static_cast<int>(i);
  return -1;
}

std::vector<SceneObject> apply_edit(const std::vector<SceneObject>& objects, const Edit& edit) {
  std::vector<SceneObject> out = objects;
  const int index = find_object(out, edit.row, edit.col);
  if (edit.kind == ModKind::kAdd) {
    if (index >= 0) throw Error(ErrorCode::kInternal, "synth: add edit into an occupied cell");
    out.push_back(make_object({edit.shape, edit.color}, edit.size, edit.row, edit.col));
    std::sort(out.begin(), out.end(), cell_less);
    return out;
  }
  if (index < 0) throw Error(ErrorCode::kInternal, "synth: edit of an empty cell");
  SceneObject& object = out[static_cast<size_t>(index)];
  switch (edit.kind) {
    case ModKind::kRemove: out.erase(out.begin() + index); break;
    case ModKind::kChangeColor: object.color = edit.color; break;
    case ModKind::kChangeShape: object.shape = edit.shape; break;
    case ModKind::kChangeSize: object.size = edit.size; break;
    case ModKind::kAdd: break;
  }
  return out;
}

Edit inverse_edit(const std::vector<SceneObject>& before, const Edit& edit) {
  Edit inverse = edit;
  const int index = find_object(before, edit.row, edit.col);
  if (edit.kind == ModKind::kAdd) {
    inverse.kind = ModKind::kRemove;
    return inverse;
  }
  if (index < 0) throw Error(ErrorCode::kInternal, "synth: inverse of an edit of an empty cell");
  const SceneObject& object = before[static_cast<size_t>(index)];
  if (edit.kind == ModKind::kRemove) inverse.kind = ModKind::kAdd;
  inverse.shape = object.shape;
  inverse.color = object.color;
  inverse.size = object.size;
  return inverse;
}

bool same_layout(const std::vector<SceneObject>& a, const std::vector<SceneObject>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].row != b[i].row || a[i].col != b[i].col || a[i].shape != b[i].shape || a[i].color != b[i].color ||
        a[i].size != b[i].size)
      return false;
  }
  return true;
}

Family generate_family(int n_members, const ComboRules& rules, const SynthOptions& options, Rng& rng) {
  const size_t target = static_cast<size_t>(std::max(1, n_members));
  Family family;
  add_member(family, random_base(rules, rng), -1, false);
  maybe_add_twin(family, target, options.twin_probability, rng);
  // Bounded retries: a base whose edits are exhausted yields a smaller family instead of a hang.
  for (int attempt = 0; attempt < 64 && family.members.size() < target; ++attempt) {
    const std::optional<Edit> edit = random_edit(family.members[0], rules, rng);
    if (!edit || !add_edit_member(family, *edit)) continue;
    maybe_add_twin(family, target, options.twin_probability, rng);
    if (edit->kind != ModKind::kAdd || family.members.size() >= target ||
        !rng.chance(options.add_sibling_probability))
      continue;
    if (const std::optional<Edit> sibling = sibling_of(*edit, rules, rng); sibling && add_edit_member(family, *sibling))
      maybe_add_twin(family, target, options.twin_probability, rng);
  }
  return family;
}

}  // namespace cir::synth::detail
