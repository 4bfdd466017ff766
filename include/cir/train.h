// cir train (L2): training loops in libtorch for the models cir ships itself — the small CLIP
// of the shapes world (and, later, composition heads).
//
// Contract: plain option/report structs; no torch types. Training is deterministic for a seed
// and resumable: checkpoints are written atomically every `checkpoint_every` steps and at the
// end; `resume` continues from the newest one and reaches the same state as an uninterrupted
// run. Errors: cir::Error naming the file or option (kInvalidArgument for bad options, kNotFound
// for a missing world/tokenizer, kCorrupt for a damaged checkpoint).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cir/core.h"

namespace cir::train {

/// Architecture of the small CLIP (OpenAI layout, ViT image tower).
struct ClipArchitecture {
  int embed_dim = 128;
  int image_size = 64;
  int patch_size = 8;
  int vision_width = 192;
  int vision_layers = 4;
  int vision_heads = 4;
  int text_width = 128;
  int text_layers = 4;
  int text_heads = 4;
  int context_length = 77;
};

struct ClipTrainOptions {
  std::string world_dir;      ///< a shapes world written by `cir synth`
  std::string tokenizer_dir;  ///< vocab.json + merges.txt (`cir train tokenizer`)
  std::string out_dir;        ///< the Hugging Face CLIP directory written at the end
  std::string checkpoint_dir; ///< default: <out_dir>/checkpoints
  bool resume = false;
  ClipArchitecture arch;
  int steps = 1500;
  int batch_size = 128;
  double learning_rate = 1e-3;
  double weight_decay = 0.1;
  int warmup_steps = 100;
  int checkpoint_every = 100;
  int eval_every = 250;       ///< caption->image R@1 on val scenes; 0 = never
  uint64_t seed = 0;
  int n_threads = 0;          ///< 0 = default_thread_count()
  bool keep_checkpoints = false;  ///< keep checkpoints/ next to the exported model
};

/// One line of training progress.
struct ClipTrainProgress {
  int step = 0;
  int total_steps = 0;
  double loss = 0;
  double learning_rate = 0;
  double logit_scale = 0;
  double samples_per_s = 0;
  double val_r1 = -1;  ///< caption->image R@1 on val when measured at this step, else -1
};

struct ClipTrainReport {
  int steps = 0;
  double final_loss = 0;
  double first_loss = 0;
  double seconds = 0;
  double val_r1 = -1;
  int64_t n_parameters = 0;
  std::string out_dir;
};

/// Contrastive pre-training (symmetric InfoNCE, learnable temperature, AdamW with warm-up and
/// cosine decay) of a small CLIP on the world's train-split image/caption pairs. Images are
/// re-rendered with fresh jitter each time they are drawn (the graph stays, so captions stay
/// true). Writes a Hugging Face CLIP directory (config, preprocessor config, safetensors,
/// tokenizer files) to out_dir.
ClipTrainReport train_clip(const ClipTrainOptions& options,
                           const std::function<void(const ClipTrainProgress&)>& on_progress = {});

}  // namespace cir::train
