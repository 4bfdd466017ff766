// load_world: reads world.json and the per-split JSON Lines files back into the same structs.
// Every failure names the file (and line) and the field, with what was expected and found.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "synth/internal.h"

namespace cir::synth {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

[[noreturn]] void corrupt(const std::string& context, const std::string& message) {
  throw Error(ErrorCode::kCorrupt, context + ": " + message);
}

std::string type_of(const json& value) { return value.type_name(); }

// Typed, named access to one JSON object; `context` is "file" or "file:line".
class Fields {
 public:
  Fields(const json& value, std::string context) : value_(value), context_(std::move(context)) {
    if (!value_.is_object()) corrupt(context_, std::string("expected a JSON object, found ") + type_of(value_));
  }

  bool has(const char* name) const { return value_.contains(name); }

  const json& raw(const char* name) const {
    const auto it = value_.find(name);
    if (it == value_.end()) corrupt(context_, std::string("missing field '") + name + "'");
    return *it;
  }

  std::string string(const char* name) const { return typed(name, raw(name).is_string(), "a string").get<std::string>(); }
  bool boolean(const char* name) const { return typed(name, raw(name).is_boolean(), "a boolean").get<bool>(); }
  double number(const char* name) const { return typed(name, raw(name).is_number(), "a number").get<double>(); }
  const json& array(const char* name) const { return typed(name, raw(name).is_array(), "an array"); }
  const json& object(const char* name) const { return typed(name, raw(name).is_object(), "an object"); }

  int64_t integer(const char* name, int64_t lo, int64_t hi) const {
    const json& v = typed(name, raw(name).is_number_integer(), "an integer");
    const int64_t value = v.is_number_unsigned() && v.get<uint64_t>() > INT64_MAX ? INT64_MAX : v.get<int64_t>();
    if (value < lo || value > hi)
      corrupt(context_, std::string("field '") + name + "' expected in [" + std::to_string(lo) + ", " +
                            std::to_string(hi) + "], found " + std::to_string(value));
    return value;
  }

  uint64_t unsigned_integer(const char* name) const {
    return typed(name, raw(name).is_number_unsigned(), "a non-negative integer").get<uint64_t>();
  }

  template <typename T>
  T name_of(const char* name, std::optional<T> (*parse)(std::string_view)) const {
    const std::string text = string(name);
    const std::optional<T> value = parse(text);
    if (!value) corrupt(context_, std::string("field '") + name + "' has unknown value '" + text + "'");
    return *value;
  }

  const std::string& context() const { return context_; }

 private:
  const json& typed(const char* name, bool ok, const char* expected) const {
    if (!ok) corrupt(context_, std::string("field '") + name + "' expected " + expected + ", found " + type_of(raw(name)));
    return raw(name);
  }

  const json& value_;
  std::string context_;
};

json parse_json(const std::string& text, const std::string& context) {
  check_json_depth(text, context);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for numbers like 1E400
    corrupt(context, std::string("not valid JSON (") + e.what() + ")");
  }
}

std::array<uint8_t, 3> parse_rgb(const json& value, const std::string& context, const char* name) {
  if (!value.is_array() || value.size() != 3) corrupt(context, std::string("field '") + name + "' expected [r, g, b]");
  std::array<uint8_t, 3> rgb{};
  for (size_t c = 0; c < 3; ++c) {
    if (!value[c].is_number_integer() || value[c].get<int64_t>() < 0 || value[c].get<int64_t>() > 255)
      corrupt(context, std::string("field '") + name + "' expected integers in [0, 255]");
    rgb[c] = static_cast<uint8_t>(value[c].get<int64_t>());
  }
  return rgb;
}

int parse_cell_index(const Fields& f, const char* name) { return static_cast<int>(f.integer(name, 0, kGridSize - 1)); }

SceneObject parse_object(const json& value, const std::string& context) {
  const Fields f(value, context);
  SceneObject o;
  o.shape = f.name_of<Shape>("shape", &parse_shape);
  o.color = f.name_of<Color>("color", &parse_color);
  o.size = f.name_of<Size>("size", &parse_size);
  o.row = parse_cell_index(f, "row");
  o.col = parse_cell_index(f, "col");
  o.x = f.number("x");
  o.y = f.number("y");
  o.rotation_deg = f.number("rotation");
  o.rgb = parse_rgb(f.raw("rgb"), context, "rgb");
  return o;
}

Scene parse_scene(const json& value, const std::string& context) {
  const Fields f(value, context);
  Scene scene;
  scene.id = f.string("id");
  scene.file = f.string("file");
  scene.family = f.string("family");
  for (const json& o : f.array("objects")) scene.objects.push_back(parse_object(o, context + " (object)"));
  if (scene.objects.empty() || scene.objects.size() > static_cast<size_t>(kMaxObjects))
    corrupt(context, "field 'objects' expected 1.." + std::to_string(kMaxObjects) + " objects, found " +
                         std::to_string(scene.objects.size()));
  const Fields background(f.object("background"), context + " (background)");
  scene.background.rgb = parse_rgb(background.raw("rgb"), background.context(), "rgb");
  const json& gradient = background.array("gradient");
  if (gradient.size() != 2 || !gradient[0].is_number_integer() || !gradient[1].is_number_integer())
    corrupt(background.context(), "field 'gradient' expected [x, y] integers");
  scene.background.gradient_x = gradient[0].get<int>();
  scene.background.gradient_y = gradient[1].get<int>();
  for (const json& caption : f.array("captions")) {
    if (!caption.is_string()) corrupt(context, "field 'captions' expected strings");
    scene.captions.push_back(caption.get<std::string>());
  }
  return scene;
}

ObjectSpec parse_spec(const json& value, const std::string& context) {
  const Fields f(value, context);
  ObjectSpec spec;
  spec.row = parse_cell_index(f, "row");
  spec.col = parse_cell_index(f, "col");
  if (f.has("shape")) spec.shape = f.name_of<Shape>("shape", &parse_shape);
  if (f.has("color")) spec.color = f.name_of<Color>("color", &parse_color);
  if (f.has("size")) spec.size = f.name_of<Size>("size", &parse_size);
  return spec;
}

Query parse_query(const json& value, const std::string& context) {
  const Fields f(value, context);
  Query q;
  q.id = f.string("id");
  q.reference_id = f.string("reference");
  q.kind = f.name_of<ModKind>("kind", &parse_mod_kind);
  q.text = f.string("text");
  const json& cell = f.array("cell");
  if (cell.size() != 2 || !cell[0].is_number_integer() || !cell[1].is_number_integer() || cell[0].get<int>() < 0 ||
      cell[0].get<int>() >= kGridSize || cell[1].get<int>() < 0 || cell[1].get<int>() >= kGridSize)
    corrupt(context, "field 'cell' expected [row, col] in 0.." + std::to_string(kGridSize - 1));
  q.row = cell[0].get<int>();
  q.col = cell[1].get<int>();
  for (const json& t : f.array("targets")) {
    if (!t.is_string()) corrupt(context, "field 'targets' expected scene id strings");
    q.target_ids.push_back(t.get<std::string>());
  }
  for (const json& s : f.array("target_spec")) q.target_spec.push_back(parse_spec(s, context + " (target_spec)"));
  return q;
}

// One parsed item per non-empty line; `relative` names the file in messages.
template <typename Item>
std::vector<Item> read_jsonl(const fs::path& root, const std::string& relative,
                             Item (*parse)(const json&, const std::string&)) {
  const std::string text = read_file_text((root / relative).string());
  std::vector<Item> items;
  size_t start = 0, line = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    ++line;
    const std::string row = text.substr(start, end - start);
    start = end + 1;
    if (row.empty()) continue;
    const std::string context = relative + ":" + std::to_string(line);
    items.push_back(parse(parse_json(row, context), context));
  }
  return items;
}

SynthOptions parse_options(const Fields& f) {
  SynthOptions o;
  o.seed = f.unsigned_integer("seed");
  o.n_scenes = static_cast<int>(f.integer("n_scenes", 1, 10'000'000));
  o.image_size = static_cast<int>(f.integer("image_size", 8, 4096));
  o.val_fraction = f.number("val_fraction");
  o.test_fraction = f.number("test_fraction");
  o.held_out_fraction = f.number("held_out_fraction");
  o.val_novel = f.boolean("val_novel");
  o.max_queries_per_split = static_cast<int>(f.integer("max_queries_per_split", 0, INT32_MAX));
  o.min_family_size = static_cast<int>(f.integer("min_family_size", 1, 64));
  o.max_family_size = static_cast<int>(f.integer("max_family_size", 1, 64));
  o.twin_probability = f.number("twin_probability");
  o.add_sibling_probability = f.number("add_sibling_probability");
  o.n_captions = static_cast<int>(f.integer("n_captions", 1, 100));
  o.n_threads = static_cast<int>(f.integer("n_threads", 0, 4096));
  return o;
}

SplitStats parse_stats(const Fields& f) {
  SplitStats s;
  s.n_families = static_cast<int>(f.integer("n_families", 0, INT32_MAX));
  s.n_candidates = static_cast<int>(f.integer("n_candidates", 0, INT32_MAX));
  s.n_dropped_no_target = static_cast<int>(f.integer("n_dropped_no_target", 0, INT32_MAX));
  s.n_dropped_not_novel = static_cast<int>(f.integer("n_dropped_not_novel", 0, INT32_MAX));
  s.n_dropped_cap = static_cast<int>(f.integer("n_dropped_cap", 0, INT32_MAX));
  const Fields per_kind(f.object("queries_per_kind"), f.context() + " (queries_per_kind)");
  for (int k = 0; k < kNumModKinds; ++k)
    s.queries_per_kind[static_cast<size_t>(k)] =
        static_cast<int>(per_kind.integer(std::string(mod_kind_name(static_cast<ModKind>(k))).c_str(), 0, INT32_MAX));
  s.mean_targets = f.number("mean_targets");
  return s;
}

// Cross-file consistency: counts as announced, unique ids, queries pointing at real scenes.
void check_split(const Split& split, const Fields& entry) {
  const std::string scenes_file = "scenes/" + split.name + ".jsonl";
  if (static_cast<int64_t>(split.scenes.size()) != entry.integer("n_scenes", 0, INT64_MAX))
    corrupt(scenes_file, "holds " + std::to_string(split.scenes.size()) + " scenes, world.json announces " +
                             std::to_string(entry.integer("n_scenes", 0, INT64_MAX)));
  const std::string queries_file = "queries/" + split.name + ".jsonl";
  if (static_cast<int64_t>(split.queries.size()) != entry.integer("n_queries", 0, INT64_MAX))
    corrupt(queries_file, "holds " + std::to_string(split.queries.size()) + " queries, world.json announces " +
                              std::to_string(entry.integer("n_queries", 0, INT64_MAX)));
  std::unordered_set<std::string> ids;
  for (const Scene& scene : split.scenes)
    if (!ids.insert(scene.id).second) corrupt(scenes_file, "duplicate scene id '" + scene.id + "'");
  for (const Query& q : split.queries) {
    if (!ids.count(q.reference_id)) corrupt(queries_file, "query '" + q.id + "' references unknown scene '" + q.reference_id + "'");
    for (const std::string& t : q.target_ids)
      if (!ids.count(t)) corrupt(queries_file, "query '" + q.id + "' lists unknown target '" + t + "'");
  }
}

Split load_split(const fs::path& root, const json& value, const std::string& context) {
  const Fields entry(value, context);
  Split split;
  split.name = entry.string("name");
  if (split.name != "train" && split.name != "val" && split.name != "test")
    corrupt(context, "field 'name' expected train|val|test, found '" + split.name + "'");
  split.novel = entry.boolean("novel");
  split.stats = parse_stats(Fields(entry.object("stats"), context + " (stats)"));
  split.scenes = read_jsonl<Scene>(root, "scenes/" + split.name + ".jsonl", &parse_scene);
  split.queries = read_jsonl<Query>(root, "queries/" + split.name + ".jsonl", &parse_query);
  check_split(split, entry);
  return split;
}

}  // namespace

World load_world(const std::string& dir) {
  const fs::path root(dir);
  const std::string world_file = (root / "world.json").string();
  const json value = parse_json(read_file_text(world_file), world_file);
  const Fields f(value, world_file);
  if (f.string("format") != "cir-shapes-world")
    corrupt(world_file, "field 'format' expected 'cir-shapes-world', found '" + f.string("format") + "'");
  const int64_t version = f.integer("version", 0, INT32_MAX);
  if (version != kWorldFormatVersion)
    throw Error(ErrorCode::kUnsupported, world_file + ": format version " + std::to_string(version) +
                                             ", this build reads version " + std::to_string(kWorldFormatVersion));
  World world;
  world.version = static_cast<int>(version);
  world.options = parse_options(Fields(f.object("options"), world_file + " (options)"));
  // The top-level copies are what people read first; they must agree with the options.
  if (f.unsigned_integer("seed") != world.options.seed)
    corrupt(world_file, "field 'seed' disagrees with options.seed");
  if (f.integer("image_size", 8, 4096) != world.options.image_size)
    corrupt(world_file, "field 'image_size' disagrees with options.image_size");
  for (const json& combo : f.array("held_out")) {
    const Fields c(combo, world_file + " (held_out)");
    world.held_out.push_back({c.name_of<Shape>("shape", &parse_shape), c.name_of<Color>("color", &parse_color)});
  }
  for (const json& split : f.array("splits")) world.splits.push_back(load_split(root, split, world_file + " (splits)"));
  return world;
}

}  // namespace cir::synth
