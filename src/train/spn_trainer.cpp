// SPN4CIR stage 2 on the shapes world (methods.md section 4.3): the image tower is frozen, so
// the bank of normalised train-image features is computed once; the text tower trains against
// every train image as a negative. The result is a whole CLIP directory whose image tower is
// byte-for-byte the input's, so gallery vectors built with the input model stay valid.
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <map>

#include "model/clip_modules.h"
#include "train/head_data.h"

namespace cir::train {
namespace {

// The text tower's parameters: everything outside "visual" except the logit scale.
std::vector<at::Tensor> text_parameters(model::detail::ClipNetImpl& net) {
  std::vector<at::Tensor> params;
  for (auto& p : net.named_parameters()) {
    const bool text = p.key().rfind("visual", 0) != 0 && p.key() != "logit_scale";
    p.value().requires_grad_(text);
    if (text) params.push_back(p.value());
  }
  return params;
}

// A generated triplet (SPN4CIR's --plus data): scene rows and its captions, one drawn per sample.
struct ExtraTriplet {
  int64_t reference = 0;
  int64_t target = 0;
  std::vector<std::string> texts;
};

std::string field_of(const nlohmann::json& e, std::initializer_list<const char*> keys) {
  for (const char* k : keys)
    if (e.contains(k) && e[k].is_string()) return e[k].get<std::string>();
  return "";
}

// Either of SPN4CIR's layouts: CIRR (reference, target_hard, caption) or FashionIQ (candidate,
// target, captions). Names are scene ids of the world's train split.
std::vector<ExtraTriplet> read_extra_triplets(const std::string& path, const std::vector<std::string>& scene_ids) {
  const std::string text = read_file_text(path);
  check_json_depth(text, "extra triplets '" + path + "'");
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::kCorrupt, "extra triplets '" + path + "': invalid JSON: " + e.what());
  }
  if (!root.is_array()) throw Error(ErrorCode::kCorrupt, "extra triplets '" + path + "': expected a list of triplets");
  std::map<std::string, int64_t> row;
  for (size_t i = 0; i < scene_ids.size(); ++i) row[scene_ids[i]] = static_cast<int64_t>(i);
  std::vector<ExtraTriplet> out;
  for (size_t i = 0; i < root.size(); ++i) {
    const auto& e = root[i];
    const std::string where = "extra triplets '" + path + "' entry " + std::to_string(i);
    if (!e.is_object()) throw Error(ErrorCode::kCorrupt, where + " is not an object");
    const std::string ref = field_of(e, {"reference", "candidate"}), tgt = field_of(e, {"target_hard", "target"});
    const nlohmann::json* caps = e.contains("caption") ? &e["caption"] : e.contains("captions") ? &e["captions"] : nullptr;
    if (ref.empty() || tgt.empty() || !caps || !caps->is_array() || caps->empty())
      throw Error(ErrorCode::kCorrupt, where + ": needs reference/candidate, target_hard/target and a caption(s) list");
    ExtraTriplet t;
    for (const auto& [name, slot] : {std::pair{ref, &t.reference}, std::pair{tgt, &t.target}}) {
      auto it = row.find(name);
      if (it == row.end())
        throw Error(ErrorCode::kInvalidArgument, where + ": '" + name + "' is not a scene of the world's train split");
      *slot = it->second;
    }
    for (const auto& c : *caps)
      if (c.is_string()) t.texts.push_back(c.get<std::string>());
    if (t.texts.empty()) throw Error(ErrorCode::kCorrupt, where + ": its caption list holds no strings");
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

HeadTrainReport train_spn(const HeadTrainOptions& options, const HeadProgressFn& on_progress) {
  detail::validate_head_options(options, "spn");
  HeadTrainOptions o = options;
  if (o.n_threads <= 0) o.n_threads = default_thread_count();
  if (o.learning_rate <= 0) o.learning_rate = 2e-5;
  const double tau = o.temperature > 0 ? o.temperature : 0.02;
  const double wd = o.weight_decay >= 0 ? o.weight_decay : 0.01;  // AdamW's default, as SPN4CIR
  model::set_torch_threads(o.n_threads);
  model::ModelOptions mo;
  mo.n_threads = o.n_threads;
  mo.hash_weights = false;
  const auto clip = model::ClipModel::load(o.model_dir, mo);
  if (on_progress) on_progress({"features", 0, o.steps, 0, 0});
  const detail::EncodedWorld world = detail::encode_train_split(o.world_dir, *clip, o.n_threads);
  const at::Tensor bank = torch::nn::functional::normalize(world.images, torch::nn::functional::NormalizeFuncOptions().dim(-1));
  const auto tokenizer = text::ClipTokenizer::from_directory(o.model_dir);

  model::ModelSpec spec;
  auto net = model::detail::load_clip_net(o.model_dir, &spec);
  torch::optim::AdamW optimizer(text_parameters(*net),
                                torch::optim::AdamWOptions(o.learning_rate).betas({0.9, 0.999}).eps(1e-7).weight_decay(wd));
  const std::vector<ExtraTriplet> extra = o.extra.empty() ? std::vector<ExtraTriplet>{}
                                                           : read_extra_triplets(o.extra, world.scene_ids);
  // Pre-tokenise every text once: the real triplets' texts, then each extra triplet's captions.
  std::vector<std::string> texts;
  for (const auto& t : world.triplets) texts.push_back(t.text);
  std::vector<int64_t> extra_first_text;
  for (const auto& e : extra) {
    extra_first_text.push_back(static_cast<int64_t>(texts.size()));
    texts.insert(texts.end(), e.texts.begin(), e.texts.end());
  }
  const TokenBatch all_tokens = tokenizer.tokenize(texts, spec.context_length);
  const int64_t ctx = all_tokens.context_length;
  const int64_t n_real = static_cast<int64_t>(world.triplets.size());
  const int64_t n_triplets = n_real + static_cast<int64_t>(extra.size());
  auto loss_at = [&](int step) {
    TokenBatch batch;
    batch.n_texts = o.batch_size;
    batch.context_length = ctx;
    std::vector<int64_t> ref, tgt;
    for (int i = 0; i < o.batch_size; ++i) {
      const uint64_t key = detail::sample_key(o.seed, step, i, 0x5b4);
      const int64_t q = static_cast<int64_t>(key % static_cast<uint64_t>(n_triplets));
      int64_t text_row = q;
      if (q < n_real) {
        const auto& t = world.triplets[static_cast<size_t>(q)];
        ref.push_back(t.reference);
        tgt.push_back(t.targets[detail::mix(key) % t.targets.size()]);
      } else {
        const auto& e = extra[static_cast<size_t>(q - n_real)];
        ref.push_back(e.reference);
        tgt.push_back(e.target);
        text_row = extra_first_text[static_cast<size_t>(q - n_real)] + static_cast<int64_t>(detail::mix(key) % e.texts.size());
      }
      batch.ids.insert(batch.ids.end(), all_tokens.ids.begin() + text_row * ctx, all_tokens.ids.begin() + (text_row + 1) * ctx);
      batch.lengths.push_back(all_tokens.lengths[static_cast<size_t>(text_row)]);
    }
    const auto [ids, ends] = detail::token_tensors(batch);
    const at::Tensor text = net->encode_text(ids, ends);
    const at::Tensor query = torch::nn::functional::normalize(world.images.index_select(0, torch::tensor(ref)) + text,
                                                              torch::nn::functional::NormalizeFuncOptions().dim(-1));
    const at::Tensor logits = query.matmul(bank.t()) / tau;
    return torch::nn::functional::cross_entropy(logits, torch::tensor(tgt));
  };
  HeadTrainReport report = detail::run_steps(o, *net, optimizer, loss_at, on_progress);
  report.n_extra_triplets = static_cast<int64_t>(extra.size());
  net->eval();
  model::detail::save_hf_directory(*net, spec, o.out, o.model_dir);
  detail::finish_checkpoints(o);
  report.learning_rate = o.learning_rate;
  return report;
}

}  // namespace cir::train
