// cir_make_fake_root: builds the fake benchmark roots the integration tests run `cir eval` on
// (tests/integration/test_eval_benchmarks.sh, test_blip2_cli.sh), so they need no Python.
//
//   cir_make_fake_root <benchmark> <root> <shared_benchmarks_dir> <n>
//     benchmark: cirr | circo | fashioniq | lasco | focus-coir. Lays <root> out as
//     docs/benchmarks.md says: the annotations are symlinked from <shared_benchmarks_dir> (never
//     copied), and a 32x32 placeholder image is written for every image the first <n> queries
//     touch plus a few distractors (JPEG for .jpg, PNG otherwise). Each image has a background
//     colour and a rectangle taken from the SHA-256 of its path relative to <root>, so images
//     are distinct and rankings are not all ties. LaSCo: writes downloads/lasco_val.json, <n>
//     queries over the real val corpus. Prints "<benchmark>: <count> placeholder images".
//
//   cir_make_fake_root focus-blip2 <images_dir> <root>
//     A Focus-CoIR root from a folder of real images: the files (sorted by name) are copied
//     alternately into bdd100k/images/100k/train and .../val, and queries.jsonl gets 4 queries
//     whose candidates are all the other images.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cir/core.h"
#include "cir/image.h"

namespace fs = std::filesystem;
// Key order as in the annotation files: CIRR's "list(split)[:60]" depends on it.
using Json = nlohmann::ordered_json;

namespace {

struct Root {
  fs::path root;
  fs::path shared;
  std::string bench;

  // <root>/<dst> -> <shared>/<src>
  void link(const std::string& src, const std::string& dst) const {
    const fs::path target = root / dst;
    fs::create_directories(target.parent_path());
    fs::create_symlink(shared / src, target);  // os.symlink: files and folders alike
  }

  Json load(const std::string& rel) const {
    std::ifstream in(shared / rel);
    if (!in) throw std::runtime_error("cannot open " + (shared / rel).string());
    return Json::parse(in);
  }

  void write_images(const std::vector<std::string>& rels) const {
    const std::set<std::string> unique(rels.begin(), rels.end());  // sorted(set(paths))
    for (const std::string& rel : unique) {
      const fs::path path = root / rel;
      fs::create_directories(path.parent_path());
      const std::vector<uint8_t> bytes = placeholder(rel, rel.ends_with(".jpg"));
      std::ofstream out(path, std::ios::binary);
      out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
      if (!out) throw std::runtime_error("cannot write " + path.string());
    }
    std::cout << bench << ": " << unique.size() << " placeholder images" << std::endl;
  }

  // 32x32, background h[0:3], rectangle [x, y, x + 4 + h5 % 10, y + 4 + h6 % 10] (inclusive, as
  // Pillow's ImageDraw.rectangle) filled with h[7:10], where x = h3 % 20, y = h4 % 20.
  static std::vector<uint8_t> placeholder(const std::string& rel, bool jpeg) {
    const std::string hex = cir::sha256_hex(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(rel.data()), rel.size()));
    std::vector<uint8_t> h(hex.size() / 2);
    for (size_t i = 0; i < h.size(); ++i) h[i] = static_cast<uint8_t>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
    cir::image::ImageU8 img;
    img.width = img.height = 32;
    img.rgb.resize(32 * 32 * 3);
    const int x0 = h[3] % 20, y0 = h[4] % 20;
    const int x1 = std::min(31, x0 + 4 + h[5] % 10), y1 = std::min(31, y0 + 4 + h[6] % 10);
    for (int y = 0; y < 32; ++y) {
      for (int x = 0; x < 32; ++x) {
        const bool inside = x >= x0 && x <= x1 && y >= y0 && y <= y1;
        for (int c = 0; c < 3; ++c) img.rgb[(y * 32 + x) * 3 + c] = inside ? h[7 + c] : h[c];
      }
    }
    return jpeg ? cir::image::encode_jpeg(img) : cir::image::encode_png(img);
  }
};

// Python-style slice a[start::step][:limit].
Json stride(const Json& a, size_t start, size_t step, size_t limit) {
  Json out = Json::array();
  for (size_t i = start; i < a.size() && out.size() < limit; i += step) out.push_back(a[i]);
  return out;
}

void make_benchmark_root(const std::string& bench, const fs::path& root, const fs::path& shared, size_t n) {
  const Root r{root, shared, bench};
  std::vector<std::string> images;
  if (bench == "cirr") {
    r.link("cirr", "cirr");
    const Json split = r.load("cirr/image_splits/split.rc2.val.json");
    const Json all = r.load("cirr/captions/cap.rc2.val.json");
    const size_t nq = std::min(n, all.size());
    std::vector<std::string> names;
    for (size_t i = 0; i < nq; ++i) names.push_back(all[i].at("reference"));
    for (size_t i = 0; i < nq; ++i) names.push_back(all[i].at("target_hard"));
    for (size_t i = 0; i < nq; ++i)
      for (const auto& m : all[i].at("img_set").at("members")) names.push_back(m);
    size_t k = 0;
    for (auto it = split.begin(); it != split.end() && k < 60; ++it, ++k) names.push_back(it.key());
    for (const std::string& name : names) images.push_back(split.at(name).get<std::string>().substr(2));  // "./dev/....png"
  } else if (bench == "circo") {
    r.link("circo/annotations", "annotations");
    const Json queries = r.load("circo/annotations/val.json");
    std::vector<int64_t> ids;
    for (size_t i = 0; i < std::min(n, queries.size()); ++i) ids.push_back(queries[i].at("reference_img_id"));
    for (size_t i = 0; i < std::min(n, queries.size()); ++i)
      for (const auto& g : queries[i].at("gt_img_ids")) ids.push_back(g);
    for (size_t i = n; i < std::min(n + 10, queries.size()); ++i)  // distractors
      for (const auto& g : queries[i].at("gt_img_ids")) ids.push_back(g);
    for (int64_t id : ids) {
      char name[64];
      std::snprintf(name, sizeof name, "%012lld.jpg", static_cast<long long>(id));
      images.push_back(std::string("COCO2017_unlabeled/unlabeled2017/") + name);
    }
  } else if (bench == "fashioniq") {
    r.link("fashioniq/captions", "captions");
    r.link("fashioniq/image_splits", "image_splits");
    for (const std::string cat : {"dress", "shirt", "toptee"}) {
      const Json triplets = stride(r.load("fashioniq/captions/cap." + cat + ".val.json"), 0, 1, n);
      for (const auto& t : triplets) images.push_back("images/" + t.at("candidate").get<std::string>() + ".png");
      for (const auto& t : triplets) images.push_back("images/" + t.at("target").get<std::string>() + ".png");
      for (const auto& a : stride(r.load("fashioniq/image_splits/split." + cat + ".val.json"), 0, 1, 30))
        images.push_back("images/" + a.get<std::string>() + ".png");
    }
  } else if (bench == "lasco") {
    r.link("lasco/downloads/lasco_val_corpus.json", "downloads/lasco_val_corpus.json");
    const Json corpus = r.load("lasco/downloads/lasco_val_corpus.json");
    const std::vector<std::string> texts = {"the same scene at night", "with a dog instead of a cat", "seen from above",
                                            "in black and white"};
    const Json picks = stride(corpus, 0, 997, 2 * n);
    if (picks.size() < 2 * n) throw std::runtime_error("lasco: the corpus is too small for " + std::to_string(n) + " queries");
    Json queries = Json::array();
    for (size_t i = 0; i < n; ++i) {
      const Json& ref = picks[2 * i];
      const Json& tgt = picks[2 * i + 1];
      queries.push_back({{"qid", 1000 + i},
                         {"query-text", texts[i % texts.size()]},
                         {"query-image", Json::array({ref.at("id"), ref.at("path").get<std::string>().substr(4)})},  // drop "val/"
                         {"target-image", Json::array({tgt.at("id"), tgt.at("path").get<std::string>().substr(4)})}});
    }
    std::ofstream out(root / "downloads/lasco_val.json");
    out << queries.dump();
    if (!out) throw std::runtime_error("cannot write " + (root / "downloads/lasco_val.json").string());
    for (const auto& c : picks) images.push_back(c.at("path"));
    for (const auto& c : stride(corpus, 5, 1499, 40)) images.push_back(c.at("path"));
  } else if (bench == "focus-coir") {
    const std::string rel = "focus_coir/data/focus_coir/queries.jsonl";
    r.link(rel, "queries.jsonl");
    std::ifstream in(shared / rel);
    if (!in) throw std::runtime_error("cannot open " + (shared / rel).string());
    std::vector<Json> queries;
    for (std::string line; queries.size() < n && std::getline(in, line);) {
      if (line.find_first_not_of(" \t\r\n") != std::string::npos) queries.push_back(Json::parse(line));
    }
    std::vector<std::string> names;
    for (const auto& q : queries) names.push_back(q.at("query_img"));
    for (const auto& q : queries)
      for (const auto& label : q.at("labels")) names.push_back(label.at(0));
    for (const std::string& name : names) images.push_back("bdd100k/images/100k/train/" + name);
  } else {
    throw std::runtime_error("unknown benchmark " + bench);
  }
  r.write_images(images);
}

void make_focus_blip2_root(const fs::path& images_dir, const fs::path& root) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(images_dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  const fs::path base = root / "bdd100k/images/100k";
  fs::create_directories(base / "train");
  fs::create_directories(base / "val");
  for (size_t i = 0; i < names.size(); ++i) {
    fs::copy_file(images_dir / names[i], base / (i % 2 == 0 ? "train" : "val") / names[i],
                  fs::copy_options::overwrite_existing);
  }
  const std::vector<std::string> texts = {"White truck in front of the car", "a red dress", "a dog",
                                          "a car in urban area"};
  std::ofstream out(root / "queries.jsonl");
  for (size_t q = 0; q < texts.size(); ++q) {
    Json labels = Json::array();
    for (size_t i = 0; i < names.size(); ++i) {
      if (i != q) labels.push_back(Json::array({names[i], static_cast<int>((i + q) % 3 == 0)}));
    }
    const Json query = {{"id", int64_t{91234893486600} + static_cast<int64_t>(q)},
                        {"query_img", names.at(q)},
                        {"labels", labels},
                        {"name_text", texts[q]},
                        {"desc_text", texts[q]}};
    out << query.dump() << "\n";
  }
  if (!out) throw std::runtime_error("cannot write " + (root / "queries.jsonl").string());
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.size() == 3 && args[0] == "focus-blip2") {
      make_focus_blip2_root(args[1], args[2]);
      return 0;
    }
    if (args.size() == 4) {
      const long long n = std::stoll(args[3]);
      if (n < 0) throw std::runtime_error("n must be >= 0");
      make_benchmark_root(args[0], args[1], args[2], static_cast<size_t>(n));
      return 0;
    }
  } catch (const std::exception& e) {
    std::cerr << "cir_make_fake_root: " << e.what() << "\n";
    return 1;
  }
  std::cerr << "usage: cir_make_fake_root <cirr|circo|fashioniq|lasco|focus-coir> <root> <shared_benchmarks_dir> <n>\n"
               "       cir_make_fake_root focus-blip2 <images_dir> <root>\n";
  return 2;
}
