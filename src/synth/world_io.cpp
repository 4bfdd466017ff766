// write_world / load_world: the on-disk layout of docs/shapes-world.md. JSON stays inside this
// file (nlohmann is a private dependency); readers get cir::Error naming file, line and field.
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "synth/internal.h"

namespace cir::synth {

namespace {

namespace fs = std::filesystem;
// ordered_json keeps keys in the written order ("id" first), which reads better than sorted.
using json = nlohmann::ordered_json;

constexpr std::string_view kFormatName = "cir-shapes-world";  // also checked by world_load.cpp

json rgb_json(const std::array<uint8_t, 3>& rgb) { return json::array({rgb[0], rgb[1], rgb[2]}); }

json object_json(const SceneObject& o) {
  return {{"shape", shape_name(o.shape)},
          {"color", color_name(o.color)},
          {"size", size_name(o.size)},
          {"row", o.row},
          {"col", o.col},
          {"x", o.x},
          {"y", o.y},
          {"rotation", o.rotation_deg},
          {"rgb", rgb_json(o.rgb)}};
}

json scene_json(const Scene& scene) {
  json objects = json::array();
  for (const SceneObject& o : scene.objects) objects.push_back(object_json(o));
  return {{"id", scene.id},
          {"file", scene.file},
          {"family", scene.family},
          {"objects", std::move(objects)},
          {"background",
           {{"rgb", rgb_json(scene.background.rgb)},
            {"gradient", json::array({scene.background.gradient_x, scene.background.gradient_y})}}},
          {"captions", scene.captions}};
}

json spec_json(const ObjectSpec& spec) {
  json out = {{"row", spec.row}, {"col", spec.col}};
  if (spec.shape) out["shape"] = shape_name(*spec.shape);
  if (spec.color) out["color"] = color_name(*spec.color);
  if (spec.size) out["size"] = size_name(*spec.size);
  return out;
}

json query_json(const Query& q) {
  json spec = json::array();
  for (const ObjectSpec& s : q.target_spec) spec.push_back(spec_json(s));
  return {{"id", q.id},
          {"reference", q.reference_id},
          {"kind", mod_kind_name(q.kind)},
          {"text", q.text},
          {"cell", json::array({q.row, q.col})},
          {"targets", q.target_ids},
          {"target_spec", std::move(spec)}};
}

json options_json(const SynthOptions& o) {
  return {{"seed", o.seed},
          {"n_scenes", o.n_scenes},
          {"image_size", o.image_size},
          {"val_fraction", o.val_fraction},
          {"test_fraction", o.test_fraction},
          {"held_out_fraction", o.held_out_fraction},
          {"val_novel", o.val_novel},
          {"max_queries_per_split", o.max_queries_per_split},
          {"min_family_size", o.min_family_size},
          {"max_family_size", o.max_family_size},
          {"twin_probability", o.twin_probability},
          {"add_sibling_probability", o.add_sibling_probability},
          {"n_captions", o.n_captions},
          {"n_threads", o.n_threads}};
}

json stats_json(const SplitStats& s) {
  json per_kind = json::object();
  for (int k = 0; k < kNumModKinds; ++k)
    per_kind[std::string(mod_kind_name(static_cast<ModKind>(k)))] = s.queries_per_kind[static_cast<size_t>(k)];
  return {{"n_families", s.n_families},
          {"n_candidates", s.n_candidates},
          {"n_dropped_no_target", s.n_dropped_no_target},
          {"n_dropped_not_novel", s.n_dropped_not_novel},
          {"n_dropped_cap", s.n_dropped_cap},
          {"queries_per_kind", std::move(per_kind)},
          {"mean_targets", s.mean_targets}};
}

json vocabulary_json() {
  json shapes = json::array(), colors = json::array(), sizes = json::array(), kinds = json::array();
  for (int s = 0; s < kNumShapes; ++s) shapes.push_back(shape_name(static_cast<Shape>(s)));
  for (int c = 0; c < kNumColors; ++c)
    colors.push_back({{"name", color_name(static_cast<Color>(c))}, {"rgb", rgb_json(color_rgb(static_cast<Color>(c)))}});
  for (int z = 0; z < kNumSizes; ++z) sizes.push_back(size_name(static_cast<Size>(z)));
  for (int k = 0; k < kNumModKinds; ++k) kinds.push_back(mod_kind_name(static_cast<ModKind>(k)));
  return {{"shapes", shapes}, {"colors", colors}, {"sizes", sizes}, {"mod_kinds", kinds}};
}

json world_json(const World& world) {
  json held_out = json::array();
  for (const ShapeColor& c : world.held_out)
    held_out.push_back({{"shape", shape_name(c.shape)}, {"color", color_name(c.color)}});
  json splits = json::array();
  for (const Split& s : world.splits)
    splits.push_back({{"name", s.name},
                      {"novel", s.novel},
                      {"n_scenes", s.scenes.size()},
                      {"n_queries", s.queries.size()},
                      {"images", "images/" + s.name},
                      {"scenes", "scenes/" + s.name + ".jsonl"},
                      {"queries", "queries/" + s.name + ".jsonl"},
                      {"stats", stats_json(s.stats)}});
  json out = {{"format", kFormatName},
              {"version", world.version},
              {"seed", world.options.seed},
              {"image_size", world.options.image_size},
              {"grid_size", kGridSize},
              {"max_objects", kMaxObjects},
              {"options", options_json(world.options)},
              {"held_out", std::move(held_out)},
              {"splits", std::move(splits)}};
  out.update(vocabulary_json());
  return out;
}

template <typename Item>
std::string jsonl(const std::vector<Item>& items, json (*to_json)(const Item&)) {
  std::string out;
  for (const Item& item : items) out += to_json(item).dump() + "\n";
  return out;
}

// Plain write without fsync: thousands of images are made durable by one syncfs before
// world.json (the completion marker) is written, instead of one fsync each.
void write_plain(const fs::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) throw Error(ErrorCode::kIo, "cannot write " + path.string());
}

void sync_filesystem(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorCode::kIo, "cannot open " + dir.string() + " to sync it");
  const int rc = ::syncfs(fd);
  ::close(fd);
  if (rc != 0) throw Error(ErrorCode::kIo, "cannot sync the filesystem of " + dir.string());
}

void make_dirs(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(ErrorCode::kIo, "cannot create directory " + dir.string() + ": " + ec.message());
}

void write_images(const World& world, const fs::path& root) {
  std::vector<const Scene*> scenes;
  for (const Split& split : world.splits) {
    make_dirs(root / "images" / split.name);
    for (const Scene& scene : split.scenes) scenes.push_back(&scene);
  }
  parallel_for(static_cast<int64_t>(scenes.size()), world.options.n_threads, [&](int64_t i) {
    const Scene& scene = *scenes[static_cast<size_t>(i)];
    write_plain(root / scene.file, image::encode_png(render_scene(scene, world.options.image_size)));
  });
}

}  // namespace

void write_world(const World& world, const std::string& out_dir) {
  const fs::path root(out_dir);
  make_dirs(root);
  // A stale world.json would mark a half-rewritten directory as complete.
  std::error_code ec;
  fs::remove(root / "world.json", ec);
  if (ec) throw Error(ErrorCode::kIo, "cannot remove old " + (root / "world.json").string() + ": " + ec.message());
  make_dirs(root / "scenes");
  make_dirs(root / "queries");
  write_images(world, root);
  for (const Split& split : world.splits) {
    write_file_atomic((root / "scenes" / (split.name + ".jsonl")).string(), jsonl(split.scenes, &scene_json));
    write_file_atomic((root / "queries" / (split.name + ".jsonl")).string(), jsonl(split.queries, &query_json));
  }
  sync_filesystem(root);
  write_file_atomic((root / "world.json").string(), world_json(world).dump(2) + "\n");
}

}  // namespace cir::synth
