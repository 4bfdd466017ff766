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
  int resumed_from = 0;  ///< the checkpoint step a --resume run started at (0 = fresh run)
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


// ---------------------------------------------------------------------------------------------
// Composition heads and text towers trained on the shapes world's train split with a frozen
// (or partly frozen) CLIP: CLIP4Cir's Combiner, SPN4CIR's stage 2, SEARLE's phi and Pic2Word's
// mapping network. Same contract as train_clip: deterministic for a seed (sampling and dropout
// depend only on (seed, step)), checkpoints every `checkpoint_every` steps, exact --resume.

/// Options shared by the head trainers; fields a trainer does not use are ignored.
struct HeadTrainOptions {
  std::string world_dir;       ///< a shapes world written by `cir synth` (train split used)
  std::string model_dir;       ///< the CLIP the heads sit on (Hugging Face directory)
  std::string out;             ///< output file (.pt) or, for SPN, a Hugging Face directory
  std::string checkpoint_dir;  ///< default: <out>.checkpoints
  bool resume = false;
  int steps = 300;
  int batch_size = 64;
  double learning_rate = 0;    ///< 0 = the method's default (reported by the CLI --help)
  double weight_decay = -1;    ///< < 0 = the method's default
  int checkpoint_every = 50;
  uint64_t seed = 0;
  int n_threads = 0;           ///< 0 = default_thread_count()
  bool keep_checkpoints = false;
  int projection_dim = 0;      ///< Combiner p; 0 = 4 * embed_dim (CLIP4Cir)
  int hidden_dim = 0;          ///< Combiner H, phi / Pic2Word hidden width; 0 = method default
  double temperature = 0;      ///< SPN tau (0 = 0.02), phi NT-Xent (0 = 0.25)
  int oti_steps = 350;         ///< phi: OTI steps per train image (the distillation targets)
  int max_images = 0;          ///< phi / Pic2Word: use at most this many train images (0 = all)
};

/// One line of head-training progress.
struct HeadTrainProgress {
  std::string stage;  ///< "features", "oti" (phi targets) or "train"
  int step = 0;
  int total_steps = 0;
  double loss = 0;
  double samples_per_s = 0;
};

struct HeadTrainReport {
  int steps = 0;
  int resumed_from = 0;  ///< the checkpoint step a --resume run started at (0 = fresh run)
  double first_loss = 0;
  double final_loss = 0;
  double seconds = 0;
  double learning_rate = 0;  ///< the rate used (after defaults)
  std::string out;
};

using HeadProgressFn = std::function<void(const HeadTrainProgress&)>;

/// CLIP4Cir stage 2: a Combiner on frozen CLIP features of the world's train triplets; CE over
/// in-batch targets with logits 100 q n(target)^T; Adam (default lr 2e-5 as CLIP4Cir; our small
/// worlds want ~1e-3). Writes {"epoch": steps, "Combiner": state_dict} to `out` (torch.load-able).
HeadTrainReport train_combiner(const HeadTrainOptions& options, const HeadProgressFn& on_progress = {});

/// SPN4CIR stage 2: only the text tower trains; query n(I(ref) + T(text)) against a static bank
/// of every train image's n(I(x)), CE at tau 0.02; AdamW (default lr 2e-5). Writes a Hugging
/// Face CLIP directory to `out` (image tower unchanged, tokenizer files copied from model_dir).
HeadTrainReport train_spn(const HeadTrainOptions& options, const HeadProgressFn& on_progress = {});

/// SEARLE phi: OTI tokens of the train images (L_cos only, oti_steps each) distilled into phi
/// with symmetric NT-Xent at temperature 0.25; AdamW lr 1e-4, wd 0.01. Writes {"Phi": sd}.
HeadTrainReport train_phi(const HeadTrainOptions& options, const HeadProgressFn& on_progress = {});

/// Pic2Word: IM2TEXT trained image-only with CLIP frozen: symmetric InfoNCE between n(I(x)) and
/// n(T("a photo of *")) with the mapped token at "*", CLIP's logit scale; AdamW lr 1e-4, wd 0.1.
/// Writes {"state_dict_img2text": sd}.
HeadTrainReport train_pic2word(const HeadTrainOptions& options, const HeadProgressFn& on_progress = {});

}  // namespace cir::train
