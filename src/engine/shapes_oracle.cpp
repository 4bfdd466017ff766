// The "shapes-oracle" captioner and editor: deterministic stand-ins for BLIP-2 and the LLM on the
// shapes world (include/cir/synth.h). They read the annotations that generated the images, so
// SEIZE, LDRE and CIReVL can be measured on the retrieval half alone: the captions are the
// scene's own captions, an edit is a caption of the query's first ground-truth target. An upper
// bound for what a perfect generator gives, never a model result.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "cir/engine.h"
#include "cir/synth.h"

namespace cir::engine {
namespace fs = std::filesystem;

namespace {

// One loaded world with the lookups the oracle needs.
struct WorldIndex {
  synth::World world;
  std::map<std::string, const synth::Scene*> scenes;  // by scene id
  // (reference scene id, modification text) -> query
  std::map<std::pair<std::string, std::string>, const synth::Query*> queries;
};

// A gallery image of the world lives at <world>/images/<split>/<scene id>.png.
std::string world_dir_of(const std::string& image_path) {
  return fs::path(image_path).parent_path().parent_path().parent_path().string();
}

std::string scene_id_of(const std::string& image_path) { return fs::path(image_path).stem().string(); }

// Worlds are loaded once per process: an eval run captions 1,200 images of one world.
std::shared_ptr<const WorldIndex> load_world_index(const std::string& world_dir) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const WorldIndex>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = cache[world_dir];
  if (slot) return slot;
  auto index = std::make_shared<WorldIndex>();
  index->world = synth::load_world(world_dir);
  for (const auto& split : index->world.splits) {
    for (const auto& scene : split.scenes) index->scenes[scene.id] = &scene;
    for (const auto& query : split.queries) index->queries[{query.reference_id, query.text}] = &query;
  }
  slot = index;
  return slot;
}

// The scene an image path shows; nullptr (with `why`) for images outside a shapes world.
const synth::Scene* find_scene(const std::string& image_path, std::shared_ptr<const WorldIndex>& world, std::string& why) {
  const std::string dir = world_dir_of(image_path);
  if (image_path.empty() || !fs::exists(fs::path(dir) / "world.json")) {
    why = "'" + image_path + "' is not an image of a shapes world (no world.json at '" + dir + "')";
    return nullptr;
  }
  world = load_world_index(dir);
  auto it = world->scenes.find(scene_id_of(image_path));
  if (it == world->scenes.end()) {
    why = "scene '" + scene_id_of(image_path) + "' is not in the world at '" + dir + "'";
    return nullptr;
  }
  return it->second;
}

std::string metadata_value(const std::map<std::string, std::string>& metadata, const std::string& key) {
  auto it = metadata.find(key);
  return it == metadata.end() ? "" : it->second;
}

class ShapesOracleCaptioner : public gen::Captioner {
 public:
  explicit ShapesOracleCaptioner(int n) : n_(n) {}
  // n is part of the key: the 15 captions of SEIZE and CIReVL's 1 are different stored sets.
  std::string key() const override { return "shapes-oracle:n" + std::to_string(n_); }

  std::vector<gen::CaptionResult> caption_batch(const std::vector<gen::CaptionInput>& inputs) const override {
    std::vector<gen::CaptionResult> out(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      std::shared_ptr<const WorldIndex> world;
      const synth::Scene* scene = find_scene(metadata_value(inputs[i].metadata, "path"), world, out[i].error);
      if (!scene || scene->captions.empty()) {
        out[i].n_failed = n_;
        continue;
      }
      // The scene's paraphrases in turn: [0] canonical, then the others, cycling past their count.
      for (int s = 0; s < n_; ++s) out[i].captions.push_back(scene->captions[static_cast<size_t>(s) % scene->captions.size()]);
    }
    return out;
  }

 private:
  int n_;
};

class ShapesOracleEditor : public gen::Editor {
 public:
  std::string key() const override { return "shapes-oracle"; }
  std::map<std::string, std::string> prompt_sha256() const override { return {}; }

  // An edit of slot s is caption s of the query's first target: the description a perfect
  // editor would write. Queries the world does not know get the §6.5 fallback (the caption).
  std::vector<gen::EditResult> edit_batch(const std::vector<gen::EditInput>& inputs) const override {
    std::vector<gen::EditResult> out(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      out[i].text = inputs[i].caption;
      out[i].failed = true;
      std::shared_ptr<const WorldIndex> world;
      std::string why;
      const synth::Scene* reference = find_scene(metadata_value(inputs[i].metadata, "path"), world, why);
      if (!reference) continue;
      auto q = world->queries.find({reference->id, inputs[i].modification});
      if (q == world->queries.end() || q->second->target_ids.empty()) continue;
      auto target = world->scenes.find(q->second->target_ids.front());
      if (target == world->scenes.end() || target->second->captions.empty()) continue;
      const auto& captions = target->second->captions;
      const size_t slot = static_cast<size_t>(std::max(0, std::atoi(metadata_value(inputs[i].metadata, "slot").c_str())));
      out[i].text = captions[slot % captions.size()];
      out[i].raw = out[i].text;
      out[i].failed = false;
    }
    return out;
  }
};

}  // namespace

void register_builtin_generators() {
  static std::once_flag once;
  std::call_once(once, [] {
    gen::register_captioner("shapes-oracle", [](std::shared_ptr<gen::Provider>, const gen::CaptionerOptions& options) {
      // n = 0 is the preset's count, as for provider_vlm.
      const int n = options.n > 0 ? options.n : (options.preset == "cirevl" ? 1 : 15);
      return std::make_shared<const ShapesOracleCaptioner>(n);
    });
    gen::register_editor("shapes-oracle", [](std::shared_ptr<gen::Provider>, const gen::SamplingOptions*) {
      return std::make_shared<const ShapesOracleEditor>();
    });
  });
}

}  // namespace cir::engine
