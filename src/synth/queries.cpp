// Queries from families: base -> each edited member (the edit) and member -> base (its
// inverse). Ground truths are not taken from the family but computed by matching the target
// description against every scene of the split, so coincidental matches (twins, siblings, other
// families) are listed too.
#include <algorithm>
#include <cstdio>

#include "synth/internal.h"

namespace cir::synth {

bool scene_matches(const std::vector<ObjectSpec>& spec, const Scene& scene) {
  if (spec.size() != scene.objects.size()) return false;
  for (const ObjectSpec& want : spec) {
    const int index = detail::find_object(scene.objects, want.row, want.col);
    if (index < 0) return false;
    const SceneObject& have = scene.objects[static_cast<size_t>(index)];
    if (want.shape && *want.shape != have.shape) return false;
    if (want.color && *want.color != have.color) return false;
    if (want.size && *want.size != have.size) return false;
  }
  return true;
}

namespace detail {

namespace {

// A proposed query before its ground truths are known.
struct Draft {
  int reference = 0;  ///< scene index in the split
  Edit edit;
  std::string text;
  std::vector<ObjectSpec> spec;
  std::vector<int> targets;
};

ObjectSpec full_spec(const SceneObject& object) {
  return ObjectSpec{object.row, object.col, object.shape, object.color, object.size};
}

int cell_mask_of(const std::vector<SceneObject>& objects) {
  int mask = 0;
  for (const SceneObject& object : objects) mask |= 1 << (object.row * kGridSize + object.col);
  return mask;
}

int cell_mask_of(const std::vector<ObjectSpec>& spec) {
  int mask = 0;
  for (const ObjectSpec& object : spec) mask |= 1 << (object.row * kGridSize + object.col);
  return mask;
}

bool is_held_out(const ComboRules& rules, Shape shape, Color color) {
  return rules.held_out[static_cast<size_t>(shape)][static_cast<size_t>(color)];
}

// Novel protocol: the reference shows a held-out combination, or the target description names
// one completely (shape and colour both given).
bool involves_held_out(const std::vector<SceneObject>& reference, const std::vector<ObjectSpec>& spec,
                       const ComboRules& rules) {
  for (const SceneObject& object : reference)
    if (is_held_out(rules, object.shape, object.color)) return true;
  for (const ObjectSpec& object : spec)
    if (object.shape && object.color && is_held_out(rules, *object.shape, *object.color)) return true;
  return false;
}

// One draft per direction; in novel splits an add that would hide the held-out combination
// behind a free attribute states every attribute instead.
Draft make_draft(const Split& split, int reference, const Edit& edit, const ComboRules& rules, Rng& rng) {
  const std::vector<SceneObject>& objects = split.scenes[static_cast<size_t>(reference)].objects;
  SaidAttributes said;
  if (edit.kind == ModKind::kAdd) said = choose_said_attributes(rng);
  Draft draft{reference, edit, {}, make_target_spec(objects, edit, said), {}};
  if (split.novel && edit.kind == ModKind::kAdd && !involves_held_out(objects, draft.spec, rules)) {
    said = SaidAttributes{};
    draft.spec = make_target_spec(objects, edit, said);
  }
  draft.text = make_mod_text(objects, edit, said, rng);
  return draft;
}

std::vector<Draft> propose(const Split& split, const std::vector<Family>& families,
                           const std::vector<std::vector<int>>& family_scenes, const ComboRules& rules, Rng& rng) {
  std::vector<Draft> drafts;
  for (size_t f = 0; f < families.size(); ++f) {
    const Family& family = families[f];
    const int base = family_scenes[f][0];
    for (size_t m = 1; m < family.members.size(); ++m) {
      // Twins repeat an earlier member's edit: they become extra targets, not extra queries.
      if (family.edit_of[m] < 0 || family.is_twin[m]) continue;
      const Edit& edit = family.edits[static_cast<size_t>(family.edit_of[m])];
      drafts.push_back(make_draft(split, base, edit, rules, rng));
      drafts.push_back(make_draft(split, family_scenes[f][m], inverse_edit(family.members[0], edit), rules, rng));
    }
  }
  return drafts;
}

// Scenes grouped by occupied cells: a target must occupy exactly the spec's cells.
using CellIndex = std::array<std::vector<int>, 1 << (kGridSize * kGridSize)>;

CellIndex index_by_cells(const std::vector<Scene>& scenes) {
  CellIndex index;
  for (size_t i = 0; i < scenes.size(); ++i)
    index[static_cast<size_t>(cell_mask_of(scenes[i].objects))].push_back(static_cast<int>(i));
  return index;
}

void find_targets(const std::vector<Scene>& scenes, const CellIndex& index, Draft& draft) {
  for (int candidate : index[static_cast<size_t>(cell_mask_of(draft.spec))])
    if (scene_matches(draft.spec, scenes[static_cast<size_t>(candidate)])) draft.targets.push_back(candidate);
  if (std::find(draft.targets.begin(), draft.targets.end(), draft.reference) != draft.targets.end())
    throw Error(ErrorCode::kInternal, "synth: a query's reference satisfies its own modification (a no-op edit)");
}

// Keeps a seeded sample of `cap` drafts in their original order.
void apply_cap(std::vector<Draft>& drafts, int cap, Rng& rng, SplitStats& stats) {
  if (cap <= 0 || drafts.size() <= static_cast<size_t>(cap)) return;
  std::vector<size_t> order(drafts.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  rng.shuffle(order);
  order.resize(static_cast<size_t>(cap));
  std::sort(order.begin(), order.end());
  std::vector<Draft> kept;
  for (size_t i : order) kept.push_back(std::move(drafts[i]));
  stats.n_dropped_cap = static_cast<int>(drafts.size() - kept.size());
  drafts = std::move(kept);
}

std::string query_id(const std::string& split, size_t index) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "-q%06zu", index);
  return split + buffer;
}

Query finish_query(const Split& split, Draft& draft, size_t index) {
  Query query;
  query.id = query_id(split.name, index);
  query.reference_id = split.scenes[static_cast<size_t>(draft.reference)].id;
  query.kind = draft.edit.kind;
  query.text = std::move(draft.text);
  query.row = draft.edit.row;
  query.col = draft.edit.col;
  query.target_spec = std::move(draft.spec);
  for (int target : draft.targets) query.target_ids.push_back(split.scenes[static_cast<size_t>(target)].id);
  return query;
}

}  // namespace

std::vector<ObjectSpec> make_target_spec(const std::vector<SceneObject>& reference, const Edit& edit,
                                         const SaidAttributes& said) {
  std::vector<ObjectSpec> spec;
  for (const SceneObject& object : apply_edit(reference, edit)) spec.push_back(full_spec(object));
  if (edit.kind != ModKind::kAdd) return spec;
  for (ObjectSpec& object : spec) {
    if (object.row != edit.row || object.col != edit.col) continue;
    if (!said.shape) object.shape.reset();
    if (!said.color) object.color.reset();
    if (!said.size) object.size.reset();
  }
  return spec;
}

void build_queries(Split& split, const std::vector<Family>& families, const std::vector<std::vector<int>>& family_scenes,
                   const ComboRules& rules, const SynthOptions& options, uint64_t seed) {
  Rng rng(seed);
  SplitStats& stats = split.stats;
  stats.n_families = static_cast<int>(families.size());
  std::vector<Draft> drafts = propose(split, families, family_scenes, rules, rng);
  stats.n_candidates = static_cast<int>(drafts.size());
  if (split.novel) {
    const auto not_novel = [&](const Draft& d) {
      return !involves_held_out(split.scenes[static_cast<size_t>(d.reference)].objects, d.spec, rules);
    };
    const size_t before = drafts.size();
    drafts.erase(std::remove_if(drafts.begin(), drafts.end(), not_novel), drafts.end());
    stats.n_dropped_not_novel = static_cast<int>(before - drafts.size());
  }
  apply_cap(drafts, options.max_queries_per_split, rng, stats);

  const CellIndex index = index_by_cells(split.scenes);
  parallel_for(static_cast<int64_t>(drafts.size()), options.n_threads,
               [&](int64_t i) { find_targets(split.scenes, index, drafts[static_cast<size_t>(i)]); });

  size_t n_targets = 0;
  for (Draft& draft : drafts) {
    if (draft.targets.empty()) {
      ++stats.n_dropped_no_target;
      continue;
    }
    n_targets += draft.targets.size();
    ++stats.queries_per_kind[static_cast<size_t>(draft.edit.kind)];
    split.queries.push_back(finish_query(split, draft, split.queries.size()));
  }
  stats.mean_targets = split.queries.empty() ? 0.0 : static_cast<double>(n_targets) / split.queries.size();
}

}  // namespace detail
}  // namespace cir::synth
