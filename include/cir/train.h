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
#include "cir/gen.h"

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
  /// SPN: extra triplets (SPN4CIR's cap.rc2.train.extend_*.json or cap.extend_*.train.json,
  /// e.g. from build_spn_data) appended to the world's train triplets, as SPN4CIR's --plus.
  std::string extra;
  /// phi: SEARLE's phrase table (gen::write_phrase_table layout); empty = no L_gpt term.
  std::string phrases;
  double gpt_weight = -1;      ///< phi lambda_gpt; < 0 = SEARLE's 0.75
  int concepts_top_k = 150;    ///< phi: nearest concepts per image to draw phrases from
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
  int64_t n_extra_triplets = 0;  ///< SPN: generated triplets sampled beside the real ones
  /// phi with phrases: where the table came from ("<model>@<url>" = compat mode), else empty.
  std::string gpt_phrases_source;
};

using HeadProgressFn = std::function<void(const HeadTrainProgress&)>;

/// CLIP4Cir stage 2: a Combiner on frozen CLIP features of the world's train triplets; CE over
/// in-batch targets with logits 100 q n(target)^T; Adam (default lr 2e-5 as CLIP4Cir; our small
/// worlds want ~1e-3). Writes {"epoch": steps, "Combiner": state_dict} to `out` (torch.load-able).
HeadTrainReport train_combiner(const HeadTrainOptions& options, const HeadProgressFn& on_progress = {});

/// SPN4CIR stage 2: only the text tower trains; query n(I(ref) + T(text)) against a static bank
/// of every train image's n(I(x)), CE at tau 0.02; AdamW (default lr 2e-5). With `extra`, the
/// generated triplets are sampled beside the real ones (one of an extra triplet's captions drawn
/// uniformly per sample). Writes a Hugging Face CLIP directory to `out` (image tower unchanged,
/// tokenizer files copied from model_dir).
HeadTrainReport train_spn(const HeadTrainOptions& options, const HeadProgressFn& on_progress = {});

/// SEARLE phi: OTI tokens of the train images (oti_steps each) distilled into phi with
/// symmetric NT-Xent at temperature 0.25; AdamW lr 1e-4, wd 0.01. With `phrases`, SEARLE's
/// L_gpt joins both (the OTI targets with weight 0.5, phi's loss L_distil + 0.75 L_gpt, phrases
/// from each image's concepts_top_k nearest concepts, every occurrence of the concept replaced).
/// Writes {"Phi": sd}, and with phrases `<out>.gen.json` naming the table's source and SHA-256.
HeadTrainReport train_phi(const HeadTrainOptions& options, const HeadProgressFn& on_progress = {});

/// SPN4CIR's scaled positives (generation.md §5.7) on a shapes world's train split.
struct SpnDataOptions {
  std::string world_dir;
  std::string model_dir;       ///< the CLIP whose image features pair the images (Unicom's stand-in)
  std::string out;             ///< the extra-triplets JSON; <out>.captions.json and <out>.optimized_images.json beside it
  std::string layout = "cirr"; ///< "cirr": cap.rc2.train.extend_*.json fields; "fiq": cap.extend_*.train.json fields
  int i2i_rank = 10;           ///< rank window start (upstream CIRR: 10000 of ~16k images); < 0 = any other image
  int i2i_rank_max = 50;       ///< window end (exclusive); <= i2i_rank = to the end of the ranking
  int k = 1;                   ///< targets per reference, drawn without replacement
  bool refer = false;          ///< only references that are references of real triplets
  int64_t max_triplets = 0;    ///< --K: keep a uniform subsample of this many (0 = all)
  std::vector<int> templates = {0, 1};  ///< --p_list: 0 "{t} instead of {r}", 1 "Unlike {r}, I want {t}", 2 "{t}"
  uint64_t seed = 42;
  int n_threads = 0;
};

struct SpnDataReport {
  int64_t n_images = 0;          ///< de-duplicated images of the train triplets
  int64_t n_duplicates = 0;      ///< images folded onto an identical one
  int64_t n_captioned = 0;
  int64_t n_failed = 0;          ///< images the captioner failed on (listed; rerun retries them)
  int64_t n_triplets = 0;
  int64_t n_fallback_texts = 0;  ///< template strings over CLIP's 77 tokens, replaced by the target caption
  std::string captioner;         ///< the captioner key
  std::vector<std::string> failures;
  std::string out, captions_file;
  double seconds = 0;
};

/// De-duplicates the train triplets' images (exact decoded pixels), captions each once with
/// `captioner` (provider_vlm with the "spn" preset, or a built-in), ranks images by the CLIP's
/// image-image cosine, draws k targets per reference from the rank window with a seeded PRNG and
/// fills the templates (one string per template id; over 77 tokens -> the target caption).
SpnDataReport build_spn_data(const SpnDataOptions& options, const gen::Captioner& captioner,
                             const HeadProgressFn& on_progress = {});

/// Pic2Word: IM2TEXT trained image-only with CLIP frozen: symmetric InfoNCE between n(I(x)) and
/// n(T("a photo of *")) with the mapped token at "*", CLIP's logit scale; AdamW lr 1e-4, wd 0.1.
/// Writes {"state_dict_img2text": sd}.
HeadTrainReport train_pic2word(const HeadTrainOptions& options, const HeadProgressFn& on_progress = {});

}  // namespace cir::train
