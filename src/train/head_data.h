// Private to cir_train: what the head trainers share — the world's train split encoded once by
// the frozen CLIP, deterministic sampling, and resumable checkpoints of (module, optimiser, step).
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cir/model.h"
#include "cir/text.h"
#include "cir/train.h"
#include "compose/pseudo_token.h"

namespace cir::train::detail {

/// One training triplet of the world: reference scene, modification text, target scenes.
struct Triplet {
  int64_t reference = 0;
  std::string text;
  std::vector<int64_t> targets;
};

/// The train split with the frozen CLIP's raw features.
struct EncodedWorld {
  at::Tensor images;  ///< [n_scenes, d] raw image features (scenes rendered with stored jitter)
  at::Tensor texts;   ///< [n_triplets, d] raw text features of the triplets' texts
  std::vector<Triplet> triplets;
  std::vector<std::string> scene_ids;  ///< per row of `images`
};

/// Renders and encodes every train scene and every train query's text with `model`.
EncodedWorld encode_train_split(const std::string& world_dir, const model::ClipModel& model, int n_threads);

/// splitmix64 (same as the CLIP trainer): sampling depends only on (seed, step, slot).
uint64_t mix(uint64_t x);
uint64_t sample_key(uint64_t seed, int step, int slot, uint64_t salt);

/// Token ids [B, L] (trimmed to the longest row) and end positions [B] of a TokenBatch.
using compose::detail::token_tensors;

/// Checks the options every head trainer needs; kInvalidArgument naming the flag.
void validate_head_options(const HeadTrainOptions& o, const std::string& command, bool needs_model = true);

/// <out>.checkpoints unless options name a directory.
std::filesystem::path checkpoint_dir_of(const HeadTrainOptions& o);

/// Atomically writes {module, optimizer, step} to dir/checkpoint.pt.
void save_checkpoint(torch::nn::Module& module, torch::optim::Optimizer& optimizer, int step,
                     const std::filesystem::path& dir);
/// Restores what save_checkpoint wrote; returns the step (0 when there is no checkpoint).
/// kCorrupt naming the file when it cannot be read.
int load_checkpoint(torch::nn::Module& module, torch::optim::Optimizer& optimizer, const std::filesystem::path& dir);

/// Runs `steps` optimiser steps of `loss_at(step)` from the resume point with progress,
/// checkpoints and the report filled; seeds torch's generator per step so dropout is exact on
/// resume. `module` and `optimizer` are what the checkpoints hold.
HeadTrainReport run_steps(const HeadTrainOptions& o, torch::nn::Module& module, torch::optim::Optimizer& optimizer,
                          const std::function<at::Tensor(int step)>& loss_at, const HeadProgressFn& on_progress);

/// Removes the checkpoint directory unless asked to keep it (or it was given explicitly).
void finish_checkpoints(const HeadTrainOptions& o);

}  // namespace cir::train::detail
