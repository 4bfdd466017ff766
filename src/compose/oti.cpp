// SEARLE-OTI (methods.md section 3.3): per reference image, optimise one pseudo-word token v so
// that T(template with $ -> v) points where I(ref) points, then query with it as SEARLE does.
// With a phrase table (option phrases=FILE: `cir train phrases` output or SEARLE's GPTNeo27B
// table converted to JSON) the loss adds SEARLE's GPT regulariser, (L_cos + 0.5 L_gpt) / 1.5;
// without one it is L_cos only.
// A token costs `oti_steps` forward/backward passes of the text tower, so tokens are cached by
// the reference's query key (its gallery id): in memory (LRU) and optionally on disk.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <filesystem>
#include <list>
#include <mutex>
#include <random>
#include <set>
#include <unordered_map>

#include "cir/model.h"
#include "cir/text.h"
#include "compose/checkpoint.h"
#include "compose/gpt_phrases.h"
#include "compose/methods.h"
#include "compose/pseudo_token.h"
#include "model/clip_modules.h"

namespace cir::compose {
namespace {

using detail::PromptStyle;

struct OtiSettings : detail::OtiOptions {
  std::string cache_file;
  size_t cache_size = 10000;
  std::string phrases_file;    ///< SEARLE's phrase table; empty = no L_gpt
  std::string phrases_sha256;  ///< of phrases_file: the table is part of what made a token
  // Part of the cache key: a token is only valid for the model and settings that made it.
  std::string tag(const std::string& model) const {
    std::string t = model + "|" + std::to_string(steps) + "|" + std::to_string(lr) + "|" + std::to_string(seed);
    if (!phrases_file.empty())
      t += "|gpt:" + phrases_sha256.substr(0, 16) + ":" + std::to_string(gpt.top_k) + ":" + std::to_string(gpt.weight);
    return t;
  }
};

OtiSettings read_settings(const ComposeContext& c) {
  OtiSettings s;
  s.steps = static_cast<int>(detail::number_option(c, "searle-oti", "oti_steps", s.steps));
  s.lr = detail::number_option(c, "searle-oti", "oti_lr", s.lr);
  s.weight_decay = detail::number_option(c, "searle-oti", "oti_weight_decay", s.weight_decay);
  s.ema = detail::number_option(c, "searle-oti", "oti_ema", s.ema);
  s.seed = static_cast<uint64_t>(detail::number_option(c, "searle-oti", "seed", 0));
  s.cache_size = static_cast<size_t>(detail::number_option(c, "searle-oti", "oti_cache_size", 10000));
  s.cache_file = detail::find_option(c, "oti_cache").value_or("");
  s.phrases_file = detail::find_option(c, "phrases").value_or("");
  s.gpt.top_k = static_cast<int64_t>(detail::number_option(c, "searle-oti", "concepts_top_k", 15));
  s.gpt.weight = detail::number_option(c, "searle-oti", "gpt_weight", 0.5);
  if (s.steps < 1 || s.lr <= 0 || s.ema < 0 || s.ema >= 1)
    throw Error(ErrorCode::kInvalidArgument, "method 'searle-oti': need oti_steps >= 1, oti_lr > 0, 0 <= oti_ema < 1");
  if (s.gpt.top_k < 1 || s.gpt.weight < 0)
    throw Error(ErrorCode::kInvalidArgument, "method 'searle-oti': need concepts_top_k >= 1 and gpt_weight >= 0");
  if (!s.phrases_file.empty()) s.phrases_sha256 = sha256_file(s.phrases_file);
  return s;
}

// In-memory LRU of tokens by "<settings tag>|<query key>".
class TokenCache {
 public:
  std::optional<at::Tensor> get(const std::string& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return std::nullopt;
    order_.splice(order_.begin(), order_, it->second);
    return it->second->second;
  }
  void put(const std::string& key, const at::Tensor& token, size_t capacity) {
    if (auto it = index_.find(key); it != index_.end()) order_.erase(it->second);
    order_.emplace_front(key, token);
    index_[key] = order_.begin();
    while (order_.size() > std::max<size_t>(capacity, 1)) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
  }

 private:
  std::list<std::pair<std::string, at::Tensor>> order_;
  std::unordered_map<std::string, std::list<std::pair<std::string, at::Tensor>>::iterator> index_;
};

struct OtiState {
  std::mutex mutex;  // one inversion at a time: it already uses every intra-op thread
  TokenCache cache;
  std::map<std::string, model::detail::ClipNet> nets;  // trainable copies by model path
  std::set<std::string> loaded_files;
  // Concept banks by (model path, phrase table SHA-256): embedding a vocabulary is 24 text
  // encodings per concept, paid once per process.
  std::map<std::pair<std::string, std::string>, std::shared_ptr<const detail::ConceptBank>> banks;
};

OtiState& state() {
  static OtiState s;
  return s;
}

model::detail::ClipNet trainable_net(OtiState& st, const std::string& path) {
  if (auto it = st.nets.find(path); it != st.nets.end()) return it->second;
  auto net = model::detail::load_clip_net(path);
  for (auto& p : net->parameters()) p.requires_grad_(false);
  st.nets.emplace(path, net);
  return net;
}

std::shared_ptr<const detail::ConceptBank> concept_bank(OtiState& st, const OtiSettings& s, const std::string& model_path,
                                                        model::detail::ClipNetImpl& net, const text::ClipTokenizer& tokenizer) {
  const auto key = std::make_pair(model_path, s.phrases_sha256);
  if (auto it = st.banks.find(key); it != st.banks.end()) return it->second;
  auto bank = std::make_shared<const detail::ConceptBank>(detail::make_concept_bank(net, tokenizer, gen::read_phrase_table(s.phrases_file)));
  st.banks.emplace(key, bank);
  return bank;
}

// The disk cache is a torch.save-compatible file {"oti": {"<tag>|<key>": token}}.
void load_disk_cache(OtiState& st, const OtiSettings& s) {
  if (s.cache_file.empty() || st.loaded_files.count(s.cache_file) || !std::filesystem::exists(s.cache_file)) return;
  for (const auto& [key, token] : detail::read_state_dict(s.cache_file, "oti")) st.cache.put(key, token, s.cache_size);
  st.loaded_files.insert(s.cache_file);
}

void append_disk_cache(const OtiSettings& s, const std::map<std::string, at::Tensor>& fresh) {
  if (s.cache_file.empty() || fresh.empty()) return;
  std::map<std::string, at::Tensor> all;
  if (std::filesystem::exists(s.cache_file)) all = detail::read_state_dict(s.cache_file, "oti");
  for (const auto& [k, v] : fresh) all[k] = v;
  detail::write_state_dict(s.cache_file, "oti", all);
}

class SearleOti : public Method {
 public:
  std::string name() const override { return "searle-oti"; }
  std::string description() const override {
    return "SEARLE-OTI: per-reference optimised $ token, cached by gallery id; with phrases=FILE SEARLE's L_gpt "
           "regulariser too (options oti_steps, oti_cache, phrases, concepts_top_k, gpt_weight)";
  }
  bool needs_reference() const override { return true; }
  bool needs_text() const override { return false; }

  FloatMatrix compose(const std::vector<ComposeInput>& inputs, const ComposeContext& context) const override {
    detail::require_clip(context, name());
    const OtiSettings s = read_settings(context);
    const at::Tensor refs = detail::reference_tensor(inputs, context, name());
    const int32_t placeholder = detail::placeholder_id(context, PromptStyle::kSearle, name());
    const auto& spec = context.model->spec();
    const std::string tag = s.tag(spec.weights_sha256.empty() ? spec.path : spec.weights_sha256);
    at::Tensor tokens = torch::empty({refs.size(0), spec.text_width}, at::kFloat);
    auto& st = state();
    std::lock_guard<std::mutex> lock(st.mutex);
    try {
      load_disk_cache(st, s);
      std::vector<int64_t> missing;
      for (int64_t i = 0; i < refs.size(0); ++i) {
        const std::string key = i < static_cast<int64_t>(context.query_keys.size()) ? context.query_keys[static_cast<size_t>(i)] : "";
        auto hit = key.empty() ? std::nullopt : st.cache.get(tag + "|" + key);
        if (hit) tokens[i].copy_(*hit);
        else missing.push_back(i);
      }
      if (!missing.empty()) {
        auto net = trainable_net(st, spec.path);
        const at::Tensor sel = torch::tensor(missing, at::kLong);
        OtiSettings run = s;
        std::shared_ptr<const detail::ConceptBank> bank;
        if (!s.phrases_file.empty()) {
          bank = concept_bank(st, s, spec.path, *net, *context.tokenizer);
          run.gpt.bank = bank.get();
        }
        const at::Tensor fresh = detail::invert_tokens(*net, *context.tokenizer, placeholder, refs.index_select(0, sel), run);
        std::map<std::string, at::Tensor> to_disk;
        for (size_t j = 0; j < missing.size(); ++j) {
          const int64_t i = missing[j];
          tokens[i].copy_(fresh[static_cast<int64_t>(j)]);
          const std::string key = i < static_cast<int64_t>(context.query_keys.size()) ? context.query_keys[static_cast<size_t>(i)] : "";
          if (key.empty()) continue;
          st.cache.put(tag + "|" + key, fresh[static_cast<int64_t>(j)].clone(), s.cache_size);
          to_disk[tag + "|" + key] = fresh[static_cast<int64_t>(j)].clone();
        }
        append_disk_cache(s, to_disk);
      }
    } catch (const c10::Error& e) {
      throw Error(ErrorCode::kInternal, std::string("method 'searle-oti': ") + e.what_without_backtrace());
    }
    return detail::encode_prompts_with_tokens(inputs, context, PromptStyle::kSearle, tokens.contiguous(), name());
  }
};

}  // namespace

namespace detail {

namespace {

// Each image's phrase pool for L_gpt: every phrase of its top_k concepts, with the concept it
// came from (SEARLE pools them flat, so each concept weighs by its phrase count).
struct PhrasePool {
  std::vector<std::pair<int64_t, int64_t>> entries;  // (concept, phrase) indices into the bank
};

std::vector<PhrasePool> phrase_pools(const GptRegulariser& gpt, const at::Tensor& images) {
  std::vector<PhrasePool> pools;
  for (const auto& concepts : nearest_concepts(*gpt.bank, images, gpt.top_k)) {
    PhrasePool pool;
    for (const int64_t c : concepts)
      for (size_t p = 0; p < gpt.bank->phrases[static_cast<size_t>(c)].size(); ++p)
        pool.entries.emplace_back(c, static_cast<int64_t>(p));
    pools.push_back(std::move(pool));
  }
  return pools;
}

// L_gpt of one step: one phrase per image drawn from its pool, the first occurrence of its
// concept replaced by "$" (OTI's rule; phi training replaces every occurrence).
at::Tensor oti_gpt_loss(model::detail::ClipNetImpl& net, const text::ClipTokenizer& tokenizer, int32_t placeholder,
                        const at::Tensor& v, const GptRegulariser& gpt, const std::vector<PhrasePool>& pools,
                        std::mt19937_64& rng) {
  std::vector<std::string> with, plain;
  for (const PhrasePool& pool : pools) {
    const auto [c, p] = pool.entries[rng() % pool.entries.size()];
    const std::string& phrase = gpt.bank->phrases[static_cast<size_t>(c)][static_cast<size_t>(p)];
    plain.push_back(phrase);
    with.push_back(insert_placeholder(phrase, gpt.bank->names[static_cast<size_t>(c)], /*every_occurrence=*/false));
  }
  return gpt_phrase_loss(net, tokenizer, placeholder, v, with, plain);
}

}  // namespace

at::Tensor invert_tokens(model::detail::ClipNetImpl& net, const text::ClipTokenizer& tokenizer, int32_t placeholder,
                         const at::Tensor& images, const OtiOptions& s) {
  const auto& spec = net.spec();
  const int64_t m = images.size(0);
  std::vector<std::string> prompts;
  for (const auto& t : palavra_templates()) prompts.push_back(t.substr(0, t.find("{}")) + "$" + t.substr(t.find("{}") + 2));
  const auto [all_ids, all_ends] = token_tensors(tokenizer.tokenize(prompts, spec.context_length));
  const at::Tensor target = torch::nn::functional::normalize(images, torch::nn::functional::NormalizeFuncOptions().dim(-1));
  const bool with_gpt = s.gpt.bank != nullptr && s.gpt.weight > 0;
  const std::vector<PhrasePool> pools = with_gpt ? phrase_pools(s.gpt, images) : std::vector<PhrasePool>{};

  auto gen = at::make_generator<at::CPUGeneratorImpl>(s.seed);
  at::Tensor v = (torch::randn({m, spec.text_width}, gen, at::kFloat) * 0.02).requires_grad_(true);
  at::Tensor ema = v.detach().clone();
  torch::optim::AdamW opt({v}, torch::optim::AdamWOptions(s.lr).weight_decay(s.weight_decay));
  std::mt19937_64 rng(s.seed ^ 0x07157ull);
  std::mt19937_64 phrase_rng(s.seed ^ 0x69707431ull);  // its own stream: L_cos draws stay as without L_gpt
  for (int step = 0; step < s.steps; ++step) {
    std::vector<int64_t> pick(static_cast<size_t>(m));
    for (auto& p : pick) p = static_cast<int64_t>(rng() % palavra_templates().size());
    const at::Tensor sel = torch::tensor(pick, at::kLong);
    const at::Tensor ids = all_ids.index_select(0, sel);
    const at::Tensor mask = (ids == placeholder).to(at::kFloat).unsqueeze(-1);
    const at::Tensor embeds = net.embed_tokens(ids) * (1 - mask) + mask * v.unsqueeze(1);
    const at::Tensor feats = net.encode_text_embeddings(embeds, all_ends.index_select(0, sel));
    at::Tensor loss = (1 - torch::cosine_similarity(feats, target, 1)).mean();
    if (with_gpt)
      loss = (loss + s.gpt.weight * oti_gpt_loss(net, tokenizer, placeholder, v, s.gpt, pools, phrase_rng)) /
             (1 + s.gpt.weight);
    opt.zero_grad();
    loss.backward();
    opt.step();
    torch::NoGradGuard no_grad;
    ema.mul_(s.ema).add_(v.detach(), 1 - s.ema);
  }
  return ema;
}

}  // namespace detail

std::shared_ptr<const Method> make_searle_oti() { return std::make_shared<SearleOti>(); }

}  // namespace cir::compose
