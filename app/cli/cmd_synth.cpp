// `cir synth`: generate a shapes world (docs/shapes-world.md).
#include <chrono>
#include <iostream>

#include "cir/synth.h"
#include "cli_common.h"

namespace cir::cli {

void register_synth_command(CLI::App& app) {
  auto options = std::make_shared<synth::SynthOptions>();
  auto out = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("synth", "Generate a synthetic shapes world (images, captions, CIR queries)");
  cmd->add_option("--out", *out, "Output directory")->required();
  cmd->add_option("--seed", options->seed, "Random seed")->capture_default_str();
  cmd->add_option("--n-scenes", options->n_scenes, "Scenes over all splits")->capture_default_str();
  cmd->add_option("--image-size", options->image_size, "64 or 128")->capture_default_str();
  cmd->add_option("--max-queries", options->max_queries_per_split, "Queries kept per split (0 = all)")
      ->capture_default_str();
  cmd->add_option("--threads", options->n_threads, "Threads (0 = all cores)");
  cmd->callback([options, out] {
    const auto t0 = std::chrono::steady_clock::now();
    const synth::World world = synth::generate_world(*options);
    synth::write_world(world, *out);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (const auto& split : world.splits)
      std::cout << split.name << ": " << split.scenes.size() << " scenes, " << split.queries.size()
                << " queries (mean " << split.stats.mean_targets << " targets)\n";
    std::cout << "wrote " << *out << " in " << seconds << " s\n";
  });
}

}  // namespace cir::cli
