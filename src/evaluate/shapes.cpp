// The shapes world as evaluation benchmarks (layout: docs/shapes-world.md).
#include <algorithm>
#include <filesystem>

#include "cir/evaluate.h"
#include "cir/synth.h"

namespace cir::evaluate {

eval::BenchmarkSplit read_shapes(const std::string& world_dir, const std::string& split_name, bool captions_only) {
  const synth::World world = synth::load_world(world_dir);
  const synth::Split& split = world.split(split_name.empty() ? "test" : split_name);
  eval::BenchmarkSplit out;
  out.benchmark = captions_only ? "shapes-captions" : "shapes";
  out.split = split.name;
  for (const auto& scene : split.scenes) {
    out.gallery.push_back(scene.id);
    out.image_paths[scene.id] = scene.file;
  }
  if (captions_only) {
    // Twins share a graph and so a canonical caption: each is a correct answer.
    std::map<std::string, std::vector<std::string>> by_caption;
    for (const auto& scene : split.scenes) by_caption[scene.captions.at(0)].push_back(scene.id);
    for (const auto& scene : split.scenes) {
      eval::EvalQuery q;
      q.id = scene.id;
      q.texts = {scene.captions.at(0)};
      q.targets = by_caption[scene.captions.at(0)];
      out.queries.push_back(std::move(q));
    }
    return out;
  }
  for (const auto& query : split.queries) {
    eval::EvalQuery q;
    q.id = query.id;
    q.reference = query.reference_id;
    q.texts = {query.text};
    q.targets = query.target_ids;
    q.extra["kind"] = std::string(synth::mod_kind_name(query.kind));
    out.queries.push_back(std::move(q));
  }
  return out;
}

eval::BenchmarkSplit read_any_benchmark(const std::string& name, const std::string& root, const std::string& split) {
  if (name == "shapes" || name == "shapes-captions") return read_shapes(root, split, name == "shapes-captions");
  // The eval registry knows the annotation formats; the shapes world is read here, one layer up,
  // so the unknown-name message is made here with both lists.
  const auto infos = eval::list_benchmarks();
  if (std::none_of(infos.begin(), infos.end(), [&](const auto& info) { return info.name == name; })) {
    std::string names;
    for (const auto& info : infos) names += (names.empty() ? "" : ", ") + info.name;
    throw Error(ErrorCode::kInvalidArgument,
                "unknown benchmark '" + name + "' (available: " + names + ", shapes, shapes-captions)");
  }
  std::string chosen = split;
  if (chosen.empty()) {
    for (const auto& info : eval::list_benchmarks())
      if (info.name == name && !info.splits.empty()) chosen = info.splits.front();
  }
  return eval::read_benchmark(name, root, chosen);
}

}  // namespace cir::evaluate
