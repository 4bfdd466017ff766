// Filling a ClipNet from a checkpoint (OpenAI names as they are, Hugging Face names through
// hf_rules) with every tensor's presence and shape checked, and writing a ClipNet back out as
// a Hugging Face CLIPModel directory.
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>

#include "cir/core.h"
#include "model/model_internal.h"
#include "model/safetensors.h"

namespace cir::model::detail {
namespace {

namespace fs = std::filesystem;

class SafetensorsSource final : public WeightSource {
 public:
  explicit SafetensorsSource(const std::string& path) : path_(path) {
    const std::string index_suffix = ".index.json";
    if (path.size() > index_suffix.size() && path.compare(path.size() - index_suffix.size(), index_suffix.size(), index_suffix) == 0) {
      open_sharded(path);
    } else {
      files_.emplace_back(path);
      for (const auto& [name, entry] : files_.back().entries()) where_[name] = 0;
    }
  }

  std::optional<std::vector<int64_t>> shape(const std::string& name) const override {
    const auto it = where_.find(name);
    if (it == where_.end()) return std::nullopt;
    return files_[it->second].entries().at(name).shape;
  }
  at::Tensor load(const std::string& name) const override {
    const auto it = where_.find(name);
    if (it == where_.end()) throw Error(ErrorCode::kNotFound, describe() + " has no tensor '" + name + "'");
    return files_[it->second].load_float(name);
  }
  std::vector<std::string> names() const override {
    std::vector<std::string> out;
    for (const auto& [name, file] : where_) out.push_back(name);
    return out;
  }
  std::string describe() const override { return "'" + path_ + "'"; }

 private:
  void open_sharded(const std::string& index_path) {
    using nlohmann::json;
    json doc;
    const std::string text = read_file_text(index_path);
    check_json_depth(text, "'" + index_path + "'");
    try {
      doc = json::parse(text);
    } catch (const json::exception& e) {
      throw Error(ErrorCode::kCorrupt, "'" + index_path + "' is not valid JSON: " + e.what());
    }
    if (!doc.is_object() || !doc.contains("weight_map") || !doc["weight_map"].is_object())
      throw Error(ErrorCode::kCorrupt, "'" + index_path + "' has no \"weight_map\" object");
    std::map<std::string, size_t> shard_index;
    const fs::path dir = fs::path(index_path).parent_path();
    for (const auto& [name, shard] : doc["weight_map"].items()) {
      if (!shard.is_string())
        throw Error(ErrorCode::kCorrupt, "'" + index_path + "': weight_map[\"" + name + "\"] must be a file name, found " + shard.dump());
      const std::string file = shard.get<std::string>();
      if (file.empty() || file.find('/') != std::string::npos || file == "..")
        throw Error(ErrorCode::kCorrupt, "'" + index_path + "': shard name '" + file + "' must be a plain file name");
      auto [it, inserted] = shard_index.emplace(file, files_.size());
      if (inserted) files_.emplace_back((dir / file).string());
      if (!files_[it->second].contains(name))
        throw Error(ErrorCode::kCorrupt, "'" + index_path + "' maps tensor '" + name + "' to shard '" + file +
                                             "', which does not contain it");
      where_[name] = it->second;
    }
  }

  std::string path_;
  std::vector<SafetensorsFile> files_;
  std::map<std::string, size_t> where_;
};

void add_block_rules(std::vector<HfRule>& rules, const std::string& ours, const std::string& hf) {
  using K = HfRule::Kind;
  const std::string a = hf + "self_attn.";
  rules.push_back({ours + "attn.in_proj_weight", {a + "q_proj.weight", a + "k_proj.weight", a + "v_proj.weight"}, K::kConcat});
  rules.push_back({ours + "attn.in_proj_bias", {a + "q_proj.bias", a + "k_proj.bias", a + "v_proj.bias"}, K::kConcat});
  for (const char* p : {"weight", "bias"}) {
    const std::string s = p;
    rules.push_back({ours + "attn.out_proj." + s, {a + "out_proj." + s}, K::kCopy});
    rules.push_back({ours + "ln_1." + s, {hf + "layer_norm1." + s}, K::kCopy});
    rules.push_back({ours + "ln_2." + s, {hf + "layer_norm2." + s}, K::kCopy});
    rules.push_back({ours + "mlp.c_fc." + s, {hf + "mlp.fc1." + s}, K::kCopy});
    rules.push_back({ours + "mlp.c_proj." + s, {hf + "mlp.fc2." + s}, K::kCopy});
  }
}

}  // namespace

std::unique_ptr<WeightSource> open_safetensors_source(const std::string& path) {
  return std::make_unique<SafetensorsSource>(path);
}

std::vector<HfRule> hf_rules(const ModelSpec& spec) {
  if (spec.image_tower != "vit")
    throw Error(ErrorCode::kUnsupported, "Hugging Face CLIP has only ViT image towers, not '" + spec.image_tower + "'");
  using K = HfRule::Kind;
  std::vector<HfRule> rules;
  const std::string ve = "vision_model.embeddings.";
  rules.push_back({"visual.conv1.weight", {ve + "patch_embedding.weight"}, K::kCopy});
  rules.push_back({"visual.class_embedding", {ve + "class_embedding"}, K::kCopy});
  rules.push_back({"visual.positional_embedding", {ve + "position_embedding.weight"}, K::kCopy});
  for (const char* p : {"weight", "bias"}) {
    const std::string s = p;
    rules.push_back({"visual.ln_pre." + s, {"vision_model.pre_layrnorm." + s}, K::kCopy});
    rules.push_back({"visual.ln_post." + s, {"vision_model.post_layernorm." + s}, K::kCopy});
    rules.push_back({"ln_final." + s, {"text_model.final_layer_norm." + s}, K::kCopy});
  }
  for (int i = 0; i < spec.vision_layers; ++i)
    add_block_rules(rules, "visual.transformer.resblocks." + std::to_string(i) + ".",
                    "vision_model.encoder.layers." + std::to_string(i) + ".");
  rules.push_back({"visual.proj", {"visual_projection.weight"}, K::kTranspose});
  rules.push_back({"token_embedding.weight", {"text_model.embeddings.token_embedding.weight"}, K::kCopy});
  rules.push_back({"positional_embedding", {"text_model.embeddings.position_embedding.weight"}, K::kCopy});
  for (int i = 0; i < spec.text_layers; ++i)
    add_block_rules(rules, "transformer.resblocks." + std::to_string(i) + ".", "text_model.encoder.layers." + std::to_string(i) + ".");
  rules.push_back({"text_projection", {"text_projection.weight"}, K::kTranspose});
  rules.push_back({"logit_scale", {"logit_scale"}, K::kCopy});
  return rules;
}

int64_t load_weights(ClipNetImpl& net, const WeightSource& source, bool hf_names) {
  std::map<std::string, HfRule> rules;
  if (hf_names)
    for (auto& r : hf_rules(net.spec())) rules.emplace(r.name, std::move(r));

  torch::NoGradGuard no_grad;
  auto targets = named_weights(net);
  targets.emplace_back("logit_scale", net.logit_scale);
  for (auto& [name, target] : targets) {
    const std::vector<int64_t> expected = target.sizes().vec();
    const bool optional = name == "logit_scale";
    HfRule rule{name, {name}, HfRule::Kind::kCopy};
    if (hf_names) {
      const auto it = rules.find(name);
      if (it == rules.end()) throw Error(ErrorCode::kInternal, "no Hugging Face name for tensor '" + name + "'");
      rule = it->second;
    }
    // Check every part before reading any, so the message names the first bad tensor.
    std::vector<std::vector<int64_t>> part_shapes;
    bool missing = false;
    for (const auto& src : rule.sources) {
      const auto s = source.shape(src);
      if (!s) {
        if (optional) {
          missing = true;
          break;
        }
        throw Error(ErrorCode::kModel, source.describe() + " lacks tensor '" + src + "' (expected shape " +
                                           shape_text(expected) + (src == name ? "" : ", for '" + name + "'") + ")");
      }
      part_shapes.push_back(*s);
    }
    if (missing) continue;
    std::vector<int64_t> found = part_shapes[0];
    if (rule.kind == HfRule::Kind::kTranspose && found.size() == 2) std::swap(found[0], found[1]);
    if (rule.kind == HfRule::Kind::kConcat) {
      for (size_t i = 1; i < part_shapes.size(); ++i) {
        if (part_shapes[i] != part_shapes[0] || found.empty())
          throw Error(ErrorCode::kModel, source.describe() + ": tensor '" + rule.sources[i] + "' has shape " +
                                             shape_text(part_shapes[i]) + ", expected " + shape_text(part_shapes[0]) +
                                             " like '" + rule.sources[0] + "'");
        found[0] += part_shapes[i][0];
      }
    }
    // logit_scale is 0-d in the reference but [1] in some exports: any single value will do.
    const bool scalar_ok = optional && std::accumulate(found.begin(), found.end(), int64_t{1}, std::multiplies<>()) == 1;
    if (found != expected && !scalar_ok) {
      std::string what = "'" + rule.sources[0] + "'";
      if (rule.kind == HfRule::Kind::kConcat) what = "q/k/v '" + rule.sources[0] + "' ...";
      if (rule.kind == HfRule::Kind::kTranspose) what += " (transposed)";
      throw Error(ErrorCode::kModel, source.describe() + ": tensor " + what + (rule.sources[0] == name ? "" : " for '" + name + "'") +
                                         " has shape " + shape_text(found) + ", expected " + shape_text(expected) +
                                         " from the model config");
    }
    at::Tensor value;
    if (rule.kind == HfRule::Kind::kConcat) {
      std::vector<at::Tensor> parts;
      for (const auto& src : rule.sources) parts.push_back(source.load(src));
      value = at::cat(parts, 0);
    } else {
      value = source.load(rule.sources[0]);
      if (rule.kind == HfRule::Kind::kTranspose) value = value.t();
    }
    target.copy_(value.reshape(expected));
  }
  int64_t n = 0;
  for (const auto& p : net.parameters()) n += p.numel();
  return n;
}

void save_hf_directory(ClipNetImpl& net, const ModelSpec& spec, const std::string& dir, const std::string& tokenizer_dir) {
  const ModelSpec& arch = net.spec();
  if (spec.image_tower != arch.image_tower || spec.embed_dim != arch.embed_dim || spec.vision_width != arch.vision_width ||
      spec.vision_layers != arch.vision_layers || spec.text_width != arch.text_width ||
      spec.text_layers != arch.text_layers || spec.image_size != arch.image_size || spec.patch_size != arch.patch_size ||
      spec.vocab_size != arch.vocab_size || spec.context_length != arch.context_length)
    throw Error(ErrorCode::kInvalidArgument, "save_hf_directory: the spec does not describe the network's architecture");
  const std::vector<HfRule> rules = hf_rules(spec);  // throws kUnsupported for ResNets
  const std::string config = hf_config_text(spec);
  const std::string preprocessor = hf_preprocessor_text(spec);

  std::map<std::string, at::Tensor> ours;
  for (const auto& item : net.named_parameters(true)) ours[item.key()] = item.value();
  for (const auto& [name, t] : named_weights(net)) ours[name] = t;
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& rule : rules) {
    const auto it = ours.find(rule.name);
    if (it == ours.end()) throw Error(ErrorCode::kInternal, "save_hf_directory: network has no tensor '" + rule.name + "'");
    const at::Tensor t = it->second.detach().to(at::kFloat);
    switch (rule.kind) {
      case HfRule::Kind::kCopy: out.emplace_back(rule.sources[0], t); break;
      case HfRule::Kind::kTranspose: out.emplace_back(rule.sources[0], t.t().contiguous()); break;
      case HfRule::Kind::kConcat: {
        const auto parts = t.chunk(3, 0);
        for (size_t i = 0; i < 3; ++i) out.emplace_back(rule.sources[i], parts[i].contiguous());
        break;
      }
    }
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(ErrorCode::kIo, "cannot create directory '" + dir + "': " + ec.message());
  write_safetensors((fs::path(dir) / "model.safetensors").string(), out);
  write_file_atomic((fs::path(dir) / "config.json").string(), config);
  write_file_atomic((fs::path(dir) / "preprocessor_config.json").string(), preprocessor);
  if (!tokenizer_dir.empty()) {
    for (const char* name : {"vocab.json", "merges.txt", "tokenizer_config.json"}) {
      const fs::path from = fs::path(tokenizer_dir) / name;
      if (!fs::exists(from)) continue;
      write_file_atomic((fs::path(dir) / name).string(), read_file_text(from.string()));
    }
  }
}

}  // namespace cir::model::detail
