// Shared by the trainer tests: a small generated shapes world and a BPE learned on its texts.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "cir/synth.h"
#include "cir/text.h"

namespace cir::train::testing {

/// Writes a world of `n_scenes` scenes (seed `seed`) to `world_dir` and a byte-level BPE of at
/// most `vocab_size` tokens, learned on every caption and query text, to `tokenizer_dir`.
inline void write_world_and_tokenizer(const std::filesystem::path& world_dir, const std::filesystem::path& tokenizer_dir,
                                      int n_scenes, uint64_t seed, int vocab_size) {
  synth::SynthOptions so;
  so.n_scenes = n_scenes;
  so.seed = seed;
  const synth::World world = synth::generate_world(so);
  synth::write_world(world, world_dir.string());
  std::vector<std::string> corpus;
  for (const auto& split : world.splits) {
    for (const auto& scene : split.scenes) corpus.insert(corpus.end(), scene.captions.begin(), scene.captions.end());
    for (const auto& q : split.queries) corpus.push_back(q.text);
  }
  text::BpeTrainOptions bo;
  bo.vocab_size = vocab_size;
  text::train_bpe(corpus, bo, tokenizer_dir.string());
}

}  // namespace cir::train::testing
