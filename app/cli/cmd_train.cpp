// `cir train <what>`: the training loops cir ships (tokenizer, small CLIP, composition heads).
#include <cstdio>
#include <iostream>
#include <sstream>

#include "cir/engine.h"
#include "cir/gen.h"
#include "cir/synth.h"
#include "cir/text.h"
#include "cir/train.h"
#include "cli_common.h"

namespace cir::cli {
namespace {

// "loss a -> b", or what a --resume run did when it found the schedule already complete.
std::string loss_summary(double first, double final, int resumed_from, int steps) {
  std::ostringstream out;
  if (resumed_from >= steps) {
    out << "nothing left to train (the checkpoint is at step " << resumed_from << "); exported it again";
    return out.str();
  }
  out << "loss " << first << " -> " << final;
  if (resumed_from > 0) out << " (resumed at step " << resumed_from << ")";
  return out.str();
}

// Every text the world's train split holds: captions and modification texts, so the
// vocabulary covers what queries say as well as what captions say.
std::vector<std::string> world_corpus(const std::string& world_dir) {
  const synth::World world = synth::load_world(world_dir);
  const auto& split = world.split("train");
  std::vector<std::string> corpus;
  for (const auto& scene : split.scenes) corpus.insert(corpus.end(), scene.captions.begin(), scene.captions.end());
  for (const auto& query : split.queries) corpus.push_back(query.text);
  return corpus;
}

void register_train_tokenizer(CLI::App& train) {
  struct Args {
    std::string world, corpus, out;
    text::BpeTrainOptions options;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = train.add_subcommand("tokenizer", "Learn a byte-level BPE (HF vocab.json + merges.txt)");
  cmd->add_option("--world", a->world, "A shapes world: train captions and query texts are the corpus");
  cmd->add_option("--corpus", a->corpus, "A UTF-8 text file, one sentence per line");
  cmd->add_option("--out", a->out, "Output directory")->required();
  cmd->add_option("--vocab-size", a->options.vocab_size, "Vocabulary size")->capture_default_str();
  cmd->add_option("--min-frequency", a->options.min_frequency, "Least pair count to merge")->capture_default_str();
  cmd->callback([a] {
    if (a->world.empty() == a->corpus.empty())
      throw Error(ErrorCode::kInvalidArgument, "give exactly one of --world or --corpus");
    const auto corpus = a->world.empty() ? read_lines(a->corpus) : world_corpus(a->world);
    const int64_t written = text::train_bpe(corpus, a->options, a->out);
    std::cout << "trained a BPE of " << written << " tokens (asked for " << a->options.vocab_size << ") on " << corpus.size() << " texts -> " << a->out
              << "\n";
  });
}

void register_train_clip(CLI::App& train) {
  auto o = std::make_shared<train::ClipTrainOptions>();
  auto* cmd = train.add_subcommand("clip", "Contrastive pre-training of a small CLIP on a shapes world");
  cmd->add_option("--world", o->world_dir, "Shapes world directory (cir synth)")->required();
  cmd->add_option("--tokenizer", o->tokenizer_dir, "Directory with vocab.json + merges.txt")->required();
  cmd->add_option("--out", o->out_dir, "Output Hugging Face CLIP directory")->required();
  cmd->add_option("--checkpoint-dir", o->checkpoint_dir, "Checkpoints (default <out>/checkpoints)");
  cmd->add_flag("--resume", o->resume, "Continue from the newest checkpoint");
  cmd->add_option("--steps", o->steps, "Optimiser steps")->capture_default_str();
  cmd->add_option("--batch-size", o->batch_size, "Image/caption pairs per step")->capture_default_str();
  cmd->add_option("--lr", o->learning_rate, "Peak learning rate (AdamW)")->capture_default_str();
  cmd->add_option("--weight-decay", o->weight_decay, "AdamW weight decay on matrices")->capture_default_str();
  cmd->add_option("--warmup", o->warmup_steps, "Linear warm-up steps")->capture_default_str();
  cmd->add_option("--checkpoint-every", o->checkpoint_every, "Steps between checkpoints")->capture_default_str();
  cmd->add_option("--eval-every", o->eval_every, "Steps between val caption->image R@1 (0 = never)")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed (init and sampling)")->capture_default_str();
  cmd->add_option("--threads", o->n_threads, "Threads (0 = all cores)");
  cmd->add_option("--embed-dim", o->arch.embed_dim)->capture_default_str();
  cmd->add_option("--patch-size", o->arch.patch_size)->capture_default_str();
  cmd->add_option("--vision-width", o->arch.vision_width)->capture_default_str();
  cmd->add_option("--vision-layers", o->arch.vision_layers)->capture_default_str();
  cmd->add_option("--vision-heads", o->arch.vision_heads)->capture_default_str();
  cmd->add_option("--text-width", o->arch.text_width)->capture_default_str();
  cmd->add_option("--text-layers", o->arch.text_layers)->capture_default_str();
  cmd->add_option("--text-heads", o->arch.text_heads)->capture_default_str();
  cmd->add_option("--image-size", o->arch.image_size)->capture_default_str();
  cmd->add_flag("--keep-checkpoints", o->keep_checkpoints, "Keep checkpoints/ after export");
  cmd->callback([o] {
    const auto report = train::train_clip(*o, [](const train::ClipTrainProgress& p) {
      if (p.step % 10 != 0 && p.val_r1 < 0 && p.step != p.total_steps) return;
      std::fprintf(stderr, "step %d/%d  loss %.4f  lr %.2e  scale %.1f  %.0f samples/s", p.step, p.total_steps, p.loss,
                   p.learning_rate, p.logit_scale, p.samples_per_s);
      if (p.val_r1 >= 0) std::fprintf(stderr, "  val caption->image R@1 %.3f", p.val_r1);
      std::fprintf(stderr, "\n");
    });
    std::cout << "trained " << report.steps << " steps in " << report.seconds << " s (" << report.n_parameters
              << " parameters), " << loss_summary(report.first_loss, report.final_loss, report.resumed_from, report.steps);
    if (report.val_r1 >= 0) std::cout << ", val caption->image R@1 " << report.val_r1;
    std::cout << "\nwrote " << report.out_dir << "\n";
  });
}

// The head trainers share one option set; `defaults` names each method's own defaults for --help.
void register_train_head(CLI::App& train, const std::string& name, const std::string& description,
                         const std::string& out_help, const std::string& defaults,
                         train::HeadTrainReport (*run)(const train::HeadTrainOptions&, const train::HeadProgressFn&)) {
  auto o = std::make_shared<train::HeadTrainOptions>();
  auto* cmd = train.add_subcommand(name, description);
  cmd->add_option("--world", o->world_dir, "Shapes world directory (cir synth); its train split is used")->required();
  cmd->add_option("--model", o->model_dir, "CLIP directory (Hugging Face layout, e.g. from cir train clip)")->required();
  cmd->add_option("--out", o->out, out_help)->required();
  cmd->add_option("--checkpoint-dir", o->checkpoint_dir, "Checkpoints (default <out>.checkpoints)");
  cmd->add_flag("--resume", o->resume, "Continue from the newest checkpoint");
  cmd->add_option("--steps", o->steps, "Optimiser steps")->capture_default_str();
  cmd->add_option("--batch-size", o->batch_size, "Samples per step")->capture_default_str();
  cmd->add_option("--lr", o->learning_rate, "Learning rate (0 = default: " + defaults + ")")->capture_default_str();
  cmd->add_option("--weight-decay", o->weight_decay, "Weight decay (< 0 = the method's default)");
  cmd->add_option("--checkpoint-every", o->checkpoint_every, "Steps between checkpoints")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed (init, sampling, dropout)")->capture_default_str();
  cmd->add_option("--threads", o->n_threads, "Threads (0 = all cores)");
  cmd->add_flag("--keep-checkpoints", o->keep_checkpoints, "Keep the checkpoint directory after export");
  if (name == "combiner") {
    cmd->add_option("--projection-dim", o->projection_dim, "Combiner projection width p (0 = 4 x embed dim)");
    cmd->add_option("--hidden-dim", o->hidden_dim, "Combiner hidden width H (0 = 8 x embed dim)");
  }
  if (name == "phi" || name == "pic2word")
    cmd->add_option("--hidden-dim", o->hidden_dim, "Hidden width (0 = phi 4 x embed dim, Pic2Word 512)");
  if (name == "spn" || name == "phi")
    cmd->add_option("--temperature", o->temperature, "Softmax temperature (0 = SPN 0.02, phi NT-Xent 0.25)");
  if (name == "phi") cmd->add_option("--oti-steps", o->oti_steps, "OTI steps per image (targets)")->capture_default_str();
  if (name == "phi" || name == "pic2word")
    cmd->add_option("--max-images", o->max_images, "Use at most this many train images (0 = all)");
  if (name == "spn")
    cmd->add_option("--extra", o->extra, "Generated triplets to add (cir train spn-data, or SPN4CIR's extend_*.json)");
  if (name == "phi") {
    cmd->add_option("--phrases", o->phrases, "SEARLE phrase table (cir train phrases) for the L_gpt term; none = off");
    cmd->add_option("--gpt-weight", o->gpt_weight, "lambda_gpt of phi's loss (< 0 = SEARLE's 0.75)");
    cmd->add_option("--concepts-top-k", o->concepts_top_k, "Nearest concepts per image to draw phrases from")
        ->capture_default_str();
  }
  cmd->callback([o, run] {
    const auto report = run(*o, [](const train::HeadTrainProgress& p) {
      if (p.stage != "train") {
        std::fprintf(stderr, "%s %d/%d\n", p.stage.c_str(), p.step, p.total_steps);
        return;
      }
      if (p.step % 10 != 0 && p.step != p.total_steps) return;
      std::fprintf(stderr, "step %d/%d  loss %.4f  %.0f samples/s\n", p.step, p.total_steps, p.loss, p.samples_per_s);
    });
    std::cout << "trained " << report.steps << " steps in " << report.seconds << " s at lr " << report.learning_rate
              << ", " << loss_summary(report.first_loss, report.final_loss, report.resumed_from, report.steps)
              << "\nwrote " << report.out << "\n";
    if (report.n_extra_triplets > 0) std::cout << "sampled " << report.n_extra_triplets << " extra triplets beside the real ones\n";
    if (!report.gpt_phrases_source.empty())
      std::cout << "L_gpt phrases from " << report.gpt_phrases_source << " (recorded in " << report.out << ".gen.json)\n";
  });
}

// "0,1" -> {0, 1} (SPN4CIR's --p_list).
std::vector<int> parse_id_list(const std::string& text) {
  std::vector<int> ids;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ',');) {
    try {
      size_t used = 0;
      ids.push_back(std::stoi(part, &used));
      if (used != part.size()) throw std::invalid_argument(part);
    } catch (const std::exception&) {
      throw Error(ErrorCode::kInvalidArgument, "--templates: expected ids like 0,1 (got '" + text + "')");
    }
  }
  return ids;
}

// `cir train spn-data`: SPN4CIR's scaled positives from a captioner and CLIP pairing.
void register_train_spn_data(CLI::App& train) {
  struct Args {
    train::SpnDataOptions o;
    std::string templates = "0,1";
    LlmFlags llm;
    std::string captioner;
    int words = 10;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = train.add_subcommand("spn-data", "SPN4CIR's generated positives: captions + CLIP image pairing + templates");
  cmd->add_option("--world", a->o.world_dir, "Shapes world directory (cir synth); its train triplets are used")->required();
  cmd->add_option("--model", a->o.model_dir, "CLIP directory whose image features pair the images")->required();
  cmd->add_option("--out", a->o.out, "Extra-triplets JSON (SPN4CIR's extend layout)")->required();
  cmd->add_option("--layout", a->o.layout, "cirr (cap.rc2.train.extend_*.json) or fiq (cap.extend_*.train.json)")
      ->capture_default_str();
  cmd->add_option("--i2i-rank", a->o.i2i_rank, "Rank window start (< 0: any other image)")->capture_default_str();
  cmd->add_option("--i2i-rank-max", a->o.i2i_rank_max, "Rank window end, exclusive (<= start: to the end)")->capture_default_str();
  cmd->add_option("--k", a->o.k, "Targets per reference")->capture_default_str();
  cmd->add_flag("--refer", a->o.refer, "Only references of real triplets");
  cmd->add_option("--max-triplets", a->o.max_triplets, "Keep a uniform subsample of this many (SPN4CIR --K; 0 = all)");
  cmd->add_option("--templates", a->templates, "Template ids (SPN4CIR --p_list): 0 '{t} instead of {r}', 1 'Unlike {r}, I want {t}', 2 '{t}'")
      ->capture_default_str();
  cmd->add_option("--seed", a->o.seed, "Pairing seed")->capture_default_str();
  cmd->add_option("--threads", a->o.n_threads, "Threads (0 = all cores)");
  cmd->add_option("--captioner", a->captioner, "provider_vlm (default with --llm) | shapes-oracle");
  cmd->add_option("--words", a->words, "Caption length asked for (SPN4CIR: FashionIQ 5, CIRR 10)")->capture_default_str();
  add_llm_flags(cmd, a->llm, "Response cache (SQLite; default <out>.llm-cache.sqlite): a rerun asks only for what is missing");
  cmd->get_option("--llm")->description("OpenAI-compatible vision server URL (or --captioner shapes-oracle)");
  cmd->callback([a] {
    a->o.templates = parse_id_list(a->templates);
    const std::string captioner_name = !a->captioner.empty() ? a->captioner : (a->llm.llm.empty() ? "" : "provider_vlm");
    if (captioner_name.empty())
      throw Error(ErrorCode::kInvalidArgument, "train spn-data: give --llm URL --llm-model NAME, or --captioner shapes-oracle");
    std::shared_ptr<gen::Provider> provider;
    if (!a->llm.llm.empty()) provider = gen::open_provider(provider_spec(a->llm, a->o.out + ".llm-cache.sqlite"));
    engine::register_builtin_generators();
    gen::CaptionerOptions co;
    co.preset = "spn";
    co.n = 1;
    co.words = a->words;
    const auto captioner = gen::make_captioner(captioner_name, provider, co);
    const auto r = train::build_spn_data(a->o, *captioner, [](const train::HeadTrainProgress& p) {
      if (p.stage == "captions") std::fprintf(stderr, "captions %d/%d\n", p.step, p.total_steps);
    });
    std::cout << "captioner " << r.captioner << ": " << r.n_images << " images (" << r.n_duplicates << " duplicates folded), "
              << r.n_captioned << " captioned, " << r.n_failed << " failed\n"
              << "wrote " << r.n_triplets << " triplets to " << r.out << " (" << r.n_fallback_texts
              << " template texts over 77 tokens replaced by the target caption) and captions to " << r.captions_file
              << " in " << r.seconds << " s\n";
    if (provider) std::cout << provider_usage_line(provider->stats()) << "\n";
    for (const std::string& f : r.failures) std::cout << "  failed: " << f << "\n";
    if (r.n_failed > 0) std::cout << "rerun the same command to retry the failed images (the rest come from the cache)\n";
  });
}

// `cir train phrases`: SEARLE's GPT phrase table through an OpenAI-compatible /v1/completions.
void register_train_phrases(CLI::App& train) {
  struct Args {
    LlmFlags llm;
    std::string concepts, out;
    gen::PhraseOptions phrase;
    int top_k = 50;
    bool quiet = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = train.add_subcommand("phrases", "SEARLE's GPT phrase table for L_gpt (OTI, phi) from a base model");
  add_llm_flags(cmd, a->llm, "Response cache (SQLite; default <out>.llm-cache.sqlite): a rerun asks only for what is missing");
  cmd->get_option("--llm")->required()->description("OpenAI-compatible server URL (http://host:port or .../v1)");
  cmd->get_option("--llm-model")->required();  // a base (non-chat) model: phrases are continuations
  cmd->add_option("--concepts", a->concepts, "Concept names: Open Images class-descriptions .csv (DisplayName) or one per line")
      ->required();
  cmd->add_option("--out", a->out, "Phrase table to write (JSON)")->required();
  cmd->add_option("--n", a->phrase.n, "Phrases per concept (SEARLE: 256)")->capture_default_str();
  cmd->add_option("--temperature", a->phrase.temperature, "Sampling temperature (SEARLE: 0.5)")->capture_default_str();
  cmd->add_option("--max-length", a->phrase.max_length, "Total tokens per phrase, prompt included (SEARLE: 35)")
      ->capture_default_str();
  cmd->add_option("--top-k", a->top_k, "top_k sent to servers that take it (HF default 50; 0 = not sent)")->capture_default_str();
  cmd->add_option("--seed", a->phrase.seed, "Run seed (mixed with each concept)")->capture_default_str();
  cmd->add_flag("--quiet", a->quiet, "No progress line");
  cmd->callback([a] {
    const std::vector<std::string> concepts = gen::read_concepts(a->concepts);
    a->phrase.top_k = a->top_k > 0 ? std::optional<int>(a->top_k) : std::nullopt;
    auto provider = gen::open_provider(provider_spec(a->llm, a->out + ".llm-cache.sqlite"));
    Progress progress("phrases", static_cast<int64_t>(concepts.size()), !a->quiet);
    std::vector<std::string> failed;
    const gen::PhraseTable table = gen::build_phrase_table(*provider, concepts, a->phrase, &failed,
                                                           [&](int64_t, int64_t) { progress.advance(1); });
    progress.finish();
    gen::write_phrase_table(a->out, table);
    const gen::PhraseTable kept = gen::filter_phrase_table(table);
    std::cout << "wrote " << a->out << ": " << table.phrases.size() << " of " << concepts.size() << " concepts, "
              << kept.phrases.size() << " pass SEARLE's filter; source " << table.source << " (compat mode)\n"
              << provider_usage_line(provider->stats()) << "\n";
    for (const std::string& f : failed) std::cout << "  failed: " << f << "\n";
    if (!failed.empty()) std::cout << "rerun the same command to retry the failed concepts (the rest come from the cache)\n";
  });
}

}  // namespace

void register_train_command(CLI::App& app) {
  auto* train = app.add_subcommand("train", "Train tokenizers and models");
  train->require_subcommand(1);
  register_train_tokenizer(*train);
  register_train_clip(*train);
  register_train_head(*train, "combiner", "CLIP4Cir Combiner on a frozen CLIP (shapes world train triplets)",
                      "Output .pt ({'Combiner': state_dict})", "2e-5, Adam", train::train_combiner);
  register_train_head(*train, "spn", "SPN4CIR stage 2: fine-tune the text tower against a static image bank",
                      "Output Hugging Face CLIP directory", "2e-5, AdamW", train::train_spn);
  register_train_head(*train, "phi", "SEARLE phi: distil OTI tokens of the train images",
                      "Output .pt ({'Phi': state_dict})", "1e-4, AdamW wd 0.01", train::train_phi);
  register_train_phrases(*train);
  register_train_spn_data(*train);
  register_train_head(*train, "pic2word", "Pic2Word IM2TEXT: image-only contrastive with CLIP frozen",
                      "Output .pt ({'state_dict_img2text': state_dict})", "1e-4, AdamW wd 0.1", train::train_pic2word);
}

}  // namespace cir::cli
