// Mapping networks from an image feature to a pseudo-word token, trained on the shapes world's
// train images with the CLIP frozen: SEARLE's phi (distilling OTI tokens, methods.md 3.4) and
// Pic2Word's IM2TEXT (image-only contrastive, methods.md section 7).
#include <torch/torch.h>

#include <filesystem>
#include <optional>

#include <nlohmann/json.hpp>

#include "cir/gen.h"
#include "compose/checkpoint.h"
#include "compose/gpt_phrases.h"
#include "compose/heads.h"
#include "compose/pseudo_token.h"
#include "model/clip_modules.h"
#include "train/head_data.h"

namespace cir::train {
namespace {

namespace F = torch::nn::functional;

struct FrozenSetup {
  std::unique_ptr<model::ClipModel> clip;
  model::ModelSpec spec;
  model::detail::ClipNet net{nullptr};  // frozen copy the loss backpropagates through
  std::unique_ptr<text::ClipTokenizer> tokenizer;
  at::Tensor images;  // [n, d] raw features of the train scenes
};

FrozenSetup frozen_setup(HeadTrainOptions& o, const HeadProgressFn& on_progress) {
  if (o.n_threads <= 0) o.n_threads = default_thread_count();
  model::set_torch_threads(o.n_threads);
  FrozenSetup s;
  model::ModelOptions mo;
  mo.n_threads = o.n_threads;
  mo.hash_weights = false;
  s.clip = model::ClipModel::load(o.model_dir, mo);
  if (on_progress) on_progress({"features", 0, o.steps, 0, 0});
  s.images = detail::encode_train_split(o.world_dir, *s.clip, o.n_threads).images;
  if (o.max_images > 0 && o.max_images < s.images.size(0)) s.images = s.images.narrow(0, 0, o.max_images).clone();
  s.net = model::detail::load_clip_net(o.model_dir, &s.spec);
  for (auto& p : s.net->parameters()) p.requires_grad_(false);
  s.tokenizer = std::make_unique<text::ClipTokenizer>(text::ClipTokenizer::from_directory(o.model_dir));
  return s;
}

int32_t require_token(const text::ClipTokenizer& tokenizer, const std::string& token, const std::string& command) {
  const auto id = tokenizer.token_id(token);
  if (!id) throw Error(ErrorCode::kUnsupported, "train " + command + ": the tokenizer has no '" + token + "' token");
  return *id;
}

std::vector<int64_t> sample_rows(const HeadTrainOptions& o, int step, int64_t n, uint64_t salt) {
  std::vector<int64_t> rows(static_cast<size_t>(o.batch_size));
  for (int i = 0; i < o.batch_size; ++i) rows[i] = static_cast<int64_t>(detail::sample_key(o.seed, step, i, salt) % static_cast<uint64_t>(n));
  return rows;
}

// SEARLE's phrases for phi (generation.md §4.3): the concept bank and each train image's nearest
// concepts, computed once.
struct PhiPhrases {
  compose::detail::ConceptBank bank;
  std::vector<std::vector<int64_t>> concepts;  // per train image, nearest first
  std::string sha256;
};

std::optional<PhiPhrases> phi_phrases(const HeadTrainOptions& o, FrozenSetup& s) {
  if (o.phrases.empty()) return std::nullopt;
  PhiPhrases p;
  p.sha256 = sha256_file(o.phrases);
  p.bank = compose::detail::make_concept_bank(*s.net, *s.tokenizer, gen::read_phrase_table(o.phrases));
  p.concepts = compose::detail::nearest_concepts(p.bank, s.images, o.concepts_top_k);
  return p;
}

// phi's L_gpt for one batch: per row a concept drawn uniformly from its image's nearest, a
// phrase uniformly from that concept's, every occurrence of the concept replaced by "$".
at::Tensor phi_gpt_loss(const HeadTrainOptions& o, FrozenSetup& s, const PhiPhrases& p, int32_t dollar, int step,
                        const std::vector<int64_t>& rows, const at::Tensor& tokens) {
  std::vector<std::string> with, plain;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& near = p.concepts[static_cast<size_t>(rows[i])];
    const uint64_t key = detail::sample_key(o.seed, step, static_cast<int>(i), 0x6a7);
    const int64_t c = near[key % near.size()];
    const auto& phrases = p.bank.phrases[static_cast<size_t>(c)];
    plain.push_back(phrases[detail::mix(key) % phrases.size()]);
    with.push_back(compose::detail::insert_placeholder(plain.back(), p.bank.names[static_cast<size_t>(c)], true));
  }
  return compose::detail::gpt_phrase_loss(*s.net, *s.tokenizer, dollar, tokens, with, plain);
}

// <out>.gen.json: which phrase table shaped this phi (generation.md §4.4: a provider-built table
// is compat mode and says so through its source).
void write_phi_sidecar(const HeadTrainOptions& o, const PhiPhrases& p, double weight) {
  const nlohmann::json sidecar = {{"gpt_phrases_source", p.bank.source},
                                  {"phrases_sha256", p.sha256},
                                  {"concepts", p.bank.names.size()},
                                  {"concepts_top_k", o.concepts_top_k},
                                  {"gpt_weight", weight}};
  write_file_atomic(o.out + ".gen.json", sidecar.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

// OTI tokens of every image, 32 at a time; cached beside the checkpoints so --resume does not
// pay for them twice (they are deterministic, so recomputing would give the same tokens).
at::Tensor oti_targets(const HeadTrainOptions& o, FrozenSetup& s, const HeadProgressFn& on_progress,
                       const PhiPhrases* phrases) {
  const auto cache = detail::checkpoint_dir_of(o) / "oti_targets.pt";
  if (o.resume && std::filesystem::exists(cache)) return compose::detail::read_state_dict(cache.string(), "oti").at("tokens");
  const int32_t dollar = require_token(*s.tokenizer, "$</w>", "phi");
  const int64_t n = s.images.size(0);
  std::vector<at::Tensor> chunks;
  for (int64_t first = 0; first < n; first += 32) {
    compose::detail::OtiOptions oti;
    oti.steps = o.oti_steps;
    oti.seed = o.seed + static_cast<uint64_t>(first);
    if (phrases) oti.gpt.bank = &phrases->bank;  // SEARLE's targets come from OTI with L_gpt
    chunks.push_back(compose::detail::invert_tokens(*s.net, *s.tokenizer, dollar, s.images.narrow(0, first, std::min<int64_t>(32, n - first)), oti));
    if (on_progress) on_progress({"oti", static_cast<int>(std::min<int64_t>(n, first + 32)), static_cast<int>(n), 0, 0});
  }
  const at::Tensor tokens = torch::cat(chunks).detach();
  std::filesystem::create_directories(cache.parent_path());
  compose::detail::write_state_dict(cache.string(), "oti", {{"tokens", tokens}});
  return tokens;
}

// Symmetric NT-Xent over 2B rows (SimCLR / PALAVRA): row i's positive is row i +- B, self-pairs
// excluded.
at::Tensor nt_xent(const at::Tensor& a, const at::Tensor& b, double temperature) {
  const int64_t n = a.size(0);
  const at::Tensor z = F::normalize(torch::cat({a, b}), F::NormalizeFuncOptions().dim(-1));
  at::Tensor sim = z.matmul(z.t()) / temperature;
  sim = sim.masked_fill(torch::eye(2 * n, at::kBool), -1e9);
  const at::Tensor labels = torch::cat({torch::arange(n, 2 * n), torch::arange(0, n)});
  return F::cross_entropy(sim, labels);
}

}  // namespace

HeadTrainReport train_phi(const HeadTrainOptions& options, const HeadProgressFn& on_progress) {
  detail::validate_head_options(options, "phi");
  HeadTrainOptions o = options;
  if (o.learning_rate <= 0) o.learning_rate = 1e-4;
  const double wd = o.weight_decay >= 0 ? o.weight_decay : 0.01;
  const double temperature = o.temperature > 0 ? o.temperature : 0.25;
  const double gpt_weight = o.gpt_weight >= 0 ? o.gpt_weight : 0.75;
  FrozenSetup s = frozen_setup(o, on_progress);
  const std::optional<PhiPhrases> phrases = phi_phrases(o, s);
  const at::Tensor targets = oti_targets(o, s, on_progress, phrases ? &*phrases : nullptr);
  const int32_t dollar = require_token(*s.tokenizer, "$</w>", "phi");
  const int64_t d = s.images.size(1);
  torch::manual_seed(o.seed);
  compose::detail::TokenMapper phi(compose::detail::MapperKind::kSearlePhi, d, o.hidden_dim > 0 ? o.hidden_dim : 4 * d,
                                   s.spec.text_width);
  torch::optim::AdamW optimizer(phi->parameters(), torch::optim::AdamWOptions(o.learning_rate).weight_decay(wd));
  auto loss_at = [&](int step) {
    const std::vector<int64_t> picked = sample_rows(o, step, s.images.size(0), 0x9b1);
    const at::Tensor rows = torch::tensor(picked);
    const at::Tensor tokens = phi->forward(s.images.index_select(0, rows));
    at::Tensor loss = nt_xent(tokens, targets.index_select(0, rows), temperature);
    if (phrases && gpt_weight > 0) loss = loss + gpt_weight * phi_gpt_loss(o, s, *phrases, dollar, step, picked, tokens);
    return loss;
  };
  HeadTrainReport report = detail::run_steps(o, *phi, optimizer, loss_at, on_progress);
  compose::detail::write_state_dict(o.out, "Phi", compose::detail::module_state(*phi), report.steps);
  if (phrases) {
    write_phi_sidecar(o, *phrases, gpt_weight);
    report.gpt_phrases_source = phrases->bank.source;
  }
  detail::finish_checkpoints(o);
  report.learning_rate = o.learning_rate;
  return report;
}

HeadTrainReport train_pic2word(const HeadTrainOptions& options, const HeadProgressFn& on_progress) {
  detail::validate_head_options(options, "pic2word");
  HeadTrainOptions o = options;
  if (o.learning_rate <= 0) o.learning_rate = 1e-4;
  const double wd = o.weight_decay >= 0 ? o.weight_decay : 0.1;
  FrozenSetup s = frozen_setup(o, on_progress);
  const int32_t star = require_token(*s.tokenizer, "*</w>", "pic2word");
  const auto [prompt_ids, prompt_end] = detail::token_tensors(s.tokenizer->tokenize({"a photo of *"}, s.spec.context_length));
  const int64_t d = s.images.size(1);
  torch::manual_seed(o.seed);
  compose::detail::TokenMapper mapper(compose::detail::MapperKind::kPic2Word, d, o.hidden_dim > 0 ? o.hidden_dim : 512,
                                      s.spec.text_width);
  torch::optim::AdamW optimizer(mapper->parameters(), torch::optim::AdamWOptions(o.learning_rate).weight_decay(wd));
  const double scale = s.net->logit_scale.defined() ? s.net->logit_scale.exp().item<double>() : 100.0;
  const at::Tensor ids = prompt_ids.expand({o.batch_size, prompt_ids.size(1)});
  const at::Tensor ends = prompt_end.expand({o.batch_size});
  const at::Tensor mask = (ids == star).to(at::kFloat).unsqueeze(-1);
  const at::Tensor base = [&] {
    torch::NoGradGuard no_grad;
    return s.net->embed_tokens(ids);
  }();
  auto loss_at = [&](int step) {
    const at::Tensor img = s.images.index_select(0, torch::tensor(sample_rows(o, step, s.images.size(0), 0x9a2)));
    const at::Tensor token = mapper->forward(img);
    const at::Tensor text = s.net->encode_text_embeddings(base * (1 - mask) + mask * token.unsqueeze(1), ends);
    const at::Tensor logits = scale * F::normalize(img, F::NormalizeFuncOptions().dim(-1))
                                          .matmul(F::normalize(text, F::NormalizeFuncOptions().dim(-1)).t());
    const at::Tensor labels = torch::arange(o.batch_size, at::kLong);
    return 0.5 * (F::cross_entropy(logits, labels) + F::cross_entropy(logits.t(), labels));
  };
  HeadTrainReport report = detail::run_steps(o, *mapper, optimizer, loss_at, on_progress);
  compose::detail::write_state_dict(o.out, "state_dict_img2text", compose::detail::module_state(*mapper), report.steps);
  detail::finish_checkpoints(o);
  report.learning_rate = o.learning_rate;
  return report;
}

}  // namespace cir::train
