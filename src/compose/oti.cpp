// SEARLE-OTI (methods.md section 3.3): per reference image, optimise one pseudo-word token v so
// that T(template with $ -> v) points where I(ref) points, then query with it as SEARLE does.
// The GPT regulariser (L_gpt, phrases from GPT-Neo about Open Images concepts) is not
// implemented: cir has no concept vocabulary or generated phrases, so the loss is L_cos only.
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
#include "compose/methods.h"
#include "compose/pseudo_token.h"
#include "model/clip_modules.h"

namespace cir::compose {
namespace {

using detail::PromptStyle;

// PALAVRA's templates as SEARLE's utils.get_templates lists them ("{}" = the pseudo-word).
const std::vector<std::string>& templates() {
  static const std::vector<std::string> t = {
      "This is a photo of a {}", "This photo contains a {}", "A photo of a {}", "This is an illustration of a {}",
      "This illustration contains a {}", "An illustrations of a {}", "This is a sketch of a {}", "This sketch contains a {}",
      "A sketch of a {}", "This is a diagram of a {}", "This diagram contains a {}", "A diagram of a {}", "A {}",
      "We see a {}", "{}", "We see a {} in this photo", "We see a {} in this image", "We see a {} in this illustration",
      "We see a {} photo", "We see a {} image", "We see a {} illustration", "{} photo", "{} image", "{} illustration"};
  return t;
}

struct OtiSettings : detail::OtiOptions {
  std::string cache_file;
  size_t cache_size = 10000;
  // Part of the cache key: a token is only valid for the model and settings that made it.
  std::string tag(const std::string& model) const {
    return model + "|" + std::to_string(steps) + "|" + std::to_string(lr) + "|" + std::to_string(seed);
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
  if (s.steps < 1 || s.lr <= 0 || s.ema < 0 || s.ema >= 1)
    throw Error(ErrorCode::kInvalidArgument, "method 'searle-oti': need oti_steps >= 1, oti_lr > 0, 0 <= oti_ema < 1");
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
    return "SEARLE-OTI: per-reference optimised $ token (L_cos only), cached by gallery id (options oti_steps, oti_cache)";
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
        const at::Tensor fresh = detail::invert_tokens(*net, *context.tokenizer, placeholder, refs.index_select(0, sel), s);
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

at::Tensor invert_tokens(model::detail::ClipNetImpl& net, const text::ClipTokenizer& tokenizer, int32_t placeholder,
                         const at::Tensor& images, const OtiOptions& s) {
  const auto& spec = net.spec();
  const int64_t m = images.size(0);
  std::vector<std::string> prompts;
  for (const auto& t : templates()) prompts.push_back(t.substr(0, t.find("{}")) + "$" + t.substr(t.find("{}") + 2));
  const TokenBatch tb = tokenizer.tokenize(prompts, spec.context_length);
  int64_t longest = 1;
  for (auto len : tb.lengths) longest = std::max<int64_t>(longest, len);
  const at::Tensor all_ids =
      torch::from_blob(const_cast<int32_t*>(tb.ids.data()), {tb.n_texts, tb.context_length}, at::kInt).narrow(1, 0, longest).to(at::kLong);
  const at::Tensor all_ends =
      torch::from_blob(const_cast<int32_t*>(tb.lengths.data()), {tb.n_texts}, at::kInt).to(at::kLong) - 1;
  const at::Tensor target = torch::nn::functional::normalize(images, torch::nn::functional::NormalizeFuncOptions().dim(-1));

  auto gen = at::make_generator<at::CPUGeneratorImpl>(s.seed);
  at::Tensor v = (torch::randn({m, spec.text_width}, gen, at::kFloat) * 0.02).requires_grad_(true);
  at::Tensor ema = v.detach().clone();
  torch::optim::AdamW opt({v}, torch::optim::AdamWOptions(s.lr).weight_decay(s.weight_decay));
  std::mt19937_64 rng(s.seed ^ 0x07157ull);
  for (int step = 0; step < s.steps; ++step) {
    std::vector<int64_t> pick(static_cast<size_t>(m));
    for (auto& p : pick) p = static_cast<int64_t>(rng() % templates().size());
    const at::Tensor sel = torch::tensor(pick, at::kLong);
    const at::Tensor ids = all_ids.index_select(0, sel);
    const at::Tensor mask = (ids == placeholder).to(at::kFloat).unsqueeze(-1);
    const at::Tensor embeds = net.embed_tokens(ids) * (1 - mask) + mask * v.unsqueeze(1);
    const at::Tensor feats = net.encode_text_embeddings(embeds, all_ends.index_select(0, sel));
    const at::Tensor loss = (1 - torch::cosine_similarity(feats, target, 1)).mean();
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
