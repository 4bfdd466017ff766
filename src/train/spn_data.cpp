// SPN4CIR's scaled positives (generation.md §5, the generic reimplementation of §5.7) on a
// shapes world's train split: de-duplicate the triplets' images by decoded pixels, caption each
// once, pair images by CLIP image-image similarity inside a rank window, and fill the
// modification templates. The output has SPN4CIR's cap.rc2.train.extend_*.json (CIRR) or
// cap.extend_*.train.json (FashionIQ) shape, so SPN4CIR's own reader takes it, and so does
// `cir train spn --extra`.
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "cir/gen.h"
#include "cir/image.h"
#include "cir/synth.h"
#include "train/head_data.h"

namespace cir::train {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// The image universe (§5.1): every scene named by the train triplets, references before targets,
// in first-appearance order; then exact-pixel duplicates folded onto their first member.
struct Universe {
  std::vector<int64_t> scenes;          // scene indices of the kept (first) members
  std::vector<int64_t> group_of_scene;  // per scene index: its position in `scenes`, -1 if unused
  std::set<int64_t> references;         // kept positions that are references of real triplets
  int64_t n_duplicates = 0;
};

Universe image_universe(const std::vector<detail::Triplet>& triplets, const synth::Split& split, const std::string& world_dir) {
  Universe u;
  u.group_of_scene.assign(split.scenes.size(), -1);
  std::vector<int64_t> order;
  std::vector<bool> seen(split.scenes.size(), false);
  auto visit = [&](int64_t s) {
    if (!seen[static_cast<size_t>(s)]) order.push_back(s);
    seen[static_cast<size_t>(s)] = true;
  };
  for (const auto& t : triplets) {
    visit(t.reference);
    for (int64_t target : t.targets) visit(target);
  }
  // Exact duplicates: same size and every decoded pixel equal. A hash of (size, pixels) finds
  // candidates in O(N); an equal hash is confirmed byte for byte by decoding the earlier image
  // again (only hashes stay in memory: a real train split is tens of thousands of photos).
  const auto pixels_of = [&](int64_t s) {
    const image::ImageU8 img = image::decode_image_file((fs::path(world_dir) / split.scenes[static_cast<size_t>(s)].file).string());
    std::vector<uint8_t> key(img.rgb);
    for (int v : {img.width, img.height})
      for (int b = 0; b < 4; ++b) key.push_back(static_cast<uint8_t>(v >> (8 * b)));
    return key;
  };
  std::map<std::string, std::vector<int64_t>> by_hash;  // hash -> kept scenes with it
  for (const int64_t s : order) {
    const std::vector<uint8_t> key = pixels_of(s);
    auto& bucket = by_hash[sha256_hex(key)];
    int64_t group = -1;
    for (const int64_t first : bucket)
      if (pixels_of(first) == key) group = u.group_of_scene[static_cast<size_t>(first)];
    if (group < 0) {
      group = static_cast<int64_t>(u.scenes.size());
      u.scenes.push_back(s);
      bucket.push_back(s);
    } else {
      ++u.n_duplicates;
    }
    u.group_of_scene[static_cast<size_t>(s)] = group;
  }
  for (const auto& t : triplets) u.references.insert(u.group_of_scene[static_cast<size_t>(t.reference)]);
  return u;
}

// §5.4's templates: 0 "{target} instead of {reference}", 1 "Unlike {reference}, I want {target}",
// 2 "{target}".
std::string fill_template(int id, const std::string& reference, const std::string& target) {
  switch (id) {
    case 0: return target + " instead of " + reference;
    case 1: return "Unlike " + reference + ", I want " + target;
    case 2: return target;
    default: throw Error(ErrorCode::kInvalidArgument, "train spn-data: template id " + std::to_string(id) + " (known: 0, 1, 2)");
  }
}

// Targets for one reference (§5.3 get_diff_id): k drawn without replacement from its rank window
// [rank, rank_max) of the image-image ranking (to the end when rank_max <= rank), or from every
// other image when rank < 0.
std::vector<int64_t> draw_targets(const at::Tensor& ranking, int64_t self, const SpnDataOptions& o, std::mt19937_64& rng) {
  const int64_t n = ranking.size(0);
  std::vector<int64_t> pool;
  if (o.i2i_rank >= 0) {
    const int64_t end = o.i2i_rank_max > o.i2i_rank ? std::min<int64_t>(o.i2i_rank_max, n) : n;
    const int64_t* r = ranking.data_ptr<int64_t>();
    for (int64_t p = o.i2i_rank; p < end; ++p)
      if (r[p] != self) pool.push_back(r[p]);
  } else {
    for (int64_t j = 0; j < n; ++j)
      if (j != self) pool.push_back(j);
  }
  std::vector<int64_t> out;
  for (int i = 0; i < o.k && !pool.empty(); ++i) {
    const size_t pick = static_cast<size_t>(rng() % pool.size());
    out.push_back(pool[pick]);
    pool.erase(pool.begin() + static_cast<std::ptrdiff_t>(pick));
  }
  return out;
}

// One caption per kept image through the captioner, in batches (the provider fans out and
// caches; a rerun after an interruption is answered from its cache).
std::vector<std::string> caption_images(const gen::Captioner& captioner, const synth::Split& split, const Universe& u,
                                        const std::string& world_dir, SpnDataReport& report,
                                        const std::function<void(const HeadTrainProgress&)>& on_progress) {
  constexpr size_t kBatch = 16;
  std::vector<std::string> captions(u.scenes.size());
  for (size_t first = 0; first < u.scenes.size(); first += kBatch) {
    std::vector<gen::CaptionInput> inputs;
    for (size_t i = first; i < std::min(u.scenes.size(), first + kBatch); ++i) {
      const auto& scene = split.scenes[static_cast<size_t>(u.scenes[i])];
      gen::CaptionInput in;
      in.item_id = scene.id;
      const std::string path = (fs::path(world_dir) / scene.file).string();
      in.image_bytes = read_file_bytes(path);
      in.image_mime = "image/png";
      in.metadata["path"] = path;
      inputs.push_back(std::move(in));
    }
    const auto results = captioner.caption_batch(inputs);
    for (size_t j = 0; j < results.size(); ++j) {
      if (results[j].captions.empty()) {
        ++report.n_failed;
        report.failures.push_back(inputs[j].item_id + ": " + results[j].error);
      } else {
        captions[first + j] = results[j].captions.front();
        ++report.n_captioned;
      }
    }
    if (on_progress)
      on_progress({"captions", static_cast<int>(std::min(u.scenes.size(), first + kBatch)), static_cast<int>(u.scenes.size()), 0, 0});
  }
  return captions;
}

json triplet_json(const SpnDataOptions& o, const std::string& reference, const std::string& target,
                  const std::vector<std::string>& texts, const std::string& caption1, const std::string& caption2) {
  if (o.layout == "fiq")
    return {{"target", target}, {"candidate", reference}, {"captions", texts}, {"caption1", caption1}, {"caption2", caption2}};
  return {{"target_hard", target}, {"reference", reference}, {"caption", texts}, {"pairid", 0},
          {"img_set", {{"members", {"xxx"}}}}, {"caption1", caption1}, {"caption2", caption2}};
}

void validate(const SpnDataOptions& o) {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) throw Error(ErrorCode::kInvalidArgument, "train spn-data: " + what);
  };
  need(!o.world_dir.empty(), "--world is required");
  need(!o.model_dir.empty(), "--model is required");
  need(!o.out.empty(), "--out is required");
  need(o.k >= 1, "--k must be at least 1");
  need(o.layout == "cirr" || o.layout == "fiq", "--layout must be cirr or fiq, not '" + o.layout + "'");
  need(!o.templates.empty(), "--templates needs at least one id");
  for (int t : o.templates) need(t >= 0 && t <= 2, "template ids are 0, 1 and 2 (got " + std::to_string(t) + ")");
}

}  // namespace

SpnDataReport build_spn_data(const SpnDataOptions& options, const gen::Captioner& captioner, const HeadProgressFn& on_progress) {
  validate(options);
  const auto start = std::chrono::steady_clock::now();
  SpnDataOptions o = options;
  if (o.n_threads <= 0) o.n_threads = default_thread_count();
  model::set_torch_threads(o.n_threads);
  model::ModelOptions mo;
  mo.n_threads = o.n_threads;
  mo.hash_weights = false;
  const auto clip = model::ClipModel::load(o.model_dir, mo);
  if (on_progress) on_progress({"features", 0, 0, 0, 0});
  const detail::EncodedWorld world = detail::encode_train_split(o.world_dir, *clip, o.n_threads);
  const synth::World w = synth::load_world(o.world_dir);
  const synth::Split& split = w.split("train");
  const Universe u = image_universe(world.triplets, split, o.world_dir);

  SpnDataReport report;
  report.n_images = static_cast<int64_t>(u.scenes.size());
  report.n_duplicates = u.n_duplicates;
  report.captioner = captioner.key();
  const std::vector<std::string> captions = caption_images(captioner, split, u, o.world_dir, report, on_progress);

  // §5.3 with CLIP for Unicom (§5.7 step 3): rank every kept image by cosine similarity.
  const at::Tensor feats = torch::nn::functional::normalize(
      world.images.index_select(0, torch::tensor(u.scenes, at::kLong)), torch::nn::functional::NormalizeFuncOptions().dim(-1));
  const at::Tensor ranking = std::get<1>(feats.matmul(feats.t()).sort(1, /*descending=*/true)).contiguous();

  const auto tokenizer = text::ClipTokenizer::from_directory(o.model_dir);
  const int context = clip->spec().context_length;
  std::mt19937_64 rng(o.seed);
  json triplets = json::array();
  for (int64_t i = 0; i < report.n_images; ++i) {
    if (o.refer && !u.references.count(i)) continue;
    if (captions[static_cast<size_t>(i)].empty()) continue;
    for (const int64_t j : draw_targets(ranking[i], i, o, rng)) {
      if (captions[static_cast<size_t>(j)].empty()) continue;
      const std::string& c1 = captions[static_cast<size_t>(i)];
      const std::string& c2 = captions[static_cast<size_t>(j)];
      std::vector<std::string> texts;
      for (int t : o.templates) {
        std::string text = fill_template(t, c1, c2);
        // Upstream's clip.tokenize without truncation raises past 77 tokens; the bare target caption replaces it.
        if (static_cast<int>(tokenizer.encode(text).size()) + 2 > context) {
          text = c2;
          ++report.n_fallback_texts;
        }
        texts.push_back(std::move(text));
      }
      triplets.push_back(triplet_json(o, split.scenes[static_cast<size_t>(u.scenes[static_cast<size_t>(i)])].id,
                                      split.scenes[static_cast<size_t>(u.scenes[static_cast<size_t>(j)])].id, texts, c1, c2));
    }
  }
  // --K: a uniform subsample of the triplets, order kept.
  if (o.max_triplets > 0 && static_cast<int64_t>(triplets.size()) > o.max_triplets) {
    std::vector<size_t> idx(triplets.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::shuffle(idx.begin(), idx.end(), rng);
    idx.resize(static_cast<size_t>(o.max_triplets));
    std::sort(idx.begin(), idx.end());
    json kept = json::array();
    for (size_t i : idx) kept.push_back(triplets[i]);
    triplets = std::move(kept);
  }
  report.n_triplets = static_cast<int64_t>(triplets.size());
  write_file_atomic(o.out, triplets.dump(1, ' ', false, json::error_handler_t::replace) + "\n");

  // The captions in SPN4CIR's mm_data layout, and the de-duplication in its optimized_images.json form.
  json caption_list = json::array();
  json names = json::array(), paths = json::array(), name_to_id = json::object();
  for (size_t i = 0; i < u.scenes.size(); ++i) {
    const auto& scene = split.scenes[static_cast<size_t>(u.scenes[i])];
    names.push_back(scene.id);
    paths.push_back(scene.file);
    if (!captions[i].empty()) caption_list.push_back({{"image_id", scene.id}, {"caption", captions[i]}, {"image_path", scene.file}});
  }
  for (size_t s = 0; s < split.scenes.size(); ++s)
    if (u.group_of_scene[s] >= 0) name_to_id[split.scenes[s].id] = u.group_of_scene[s];
  report.captions_file = o.out + ".captions.json";
  write_file_atomic(report.captions_file, caption_list.dump(1, ' ', false, json::error_handler_t::replace) + "\n");
  write_file_atomic(o.out + ".optimized_images.json", json::array({names, paths, name_to_id}).dump() + "\n");
  report.out = o.out;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace cir::train
