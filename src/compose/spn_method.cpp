// SPN4CIR at query time (methods.md section 4.3): q = n(I(ref) + T_spn(text)), where T_spn is
// the fine-tuned text tower of `cir train spn`. Why a method with a model option instead of
// `cir search --model <spn dir>`: the index records its model's weight hash and the engine
// rightly refuses another model; SPN changes only the text tower, so the gallery vectors stay
// valid. This method loads the SPN directory for texts only and proves the claim on first use
// by checking that its image tower encodes a probe image exactly as the index's model does.
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <mutex>

#include "cir/model.h"
#include "cir/text.h"
#include "compose/methods.h"
#include "compose/pseudo_token.h"

namespace cir::compose {
namespace {

struct SpnModel {
  std::unique_ptr<model::ClipModel> model;
  std::unique_ptr<text::ClipTokenizer> tokenizer;
};

// Both models encode the same deterministic image; the SPN tower must match the index's.
void check_same_image_tower(const model::ClipModel& index_model, const model::ClipModel& spn, const std::string& dir) {
  const auto& a = index_model.spec();
  const auto& b = spn.spec();
  if (a.image_size != b.image_size || a.embed_dim != b.embed_dim || a.vision_width != b.vision_width ||
      a.vision_layers != b.vision_layers)
    throw Error(ErrorCode::kInvalidArgument, "method 'spn': model '" + dir + "' has another architecture than the index's model '" +
                                                 a.path + "'");
  const int64_t size = a.image_size;
  std::vector<float> pixels(static_cast<size_t>(3 * size * size));
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = std::sin(0.37f * static_cast<float>(i));
  const FloatMatrix fa = index_model.encode_images(pixels.data(), 1), fb = spn.encode_images(pixels.data(), 1);
  double diff = 0, norm = 0;
  for (int64_t c = 0; c < fa.cols; ++c) {
    diff = std::max(diff, double(std::abs(fa.row(0)[c] - fb.row(0)[c])));
    norm += double(fa.row(0)[c]) * fa.row(0)[c];
  }
  if (diff > 1e-4 * std::sqrt(norm) + 1e-6)
    throw Error(ErrorCode::kInvalidArgument, "method 'spn': the image tower of '" + dir + "' differs from the index's model '" +
                                                 a.path + "' (max feature difference " + std::to_string(diff) +
                                                 "); use the SPN model trained from the index's model");
}

std::shared_ptr<SpnModel> cached_model(const std::string& dir, const ComposeContext& context) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<SpnModel>> cache;
  if (!context.model)
    throw Error(ErrorCode::kUnsupported, "method 'spn' replaces a CLIP text tower; this index's model is not a CLIP");
  std::lock_guard<std::mutex> lock(mutex);
  const std::string key = dir + "|" + context.model->spec().path;
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  auto m = std::make_shared<SpnModel>();
  model::ModelOptions o;
  o.dtype = context.model->dtype();
  o.hash_weights = false;
  m->model = model::ClipModel::load(dir, o);
  // A checkpoint file (SPN4CIR clip4cir's best.pt) keeps its tokenizer files beside it.
  const std::string tokenizer_dir = std::filesystem::is_regular_file(dir) ? std::filesystem::path(dir).parent_path().string() : dir;
  m->tokenizer = std::make_unique<text::ClipTokenizer>(text::ClipTokenizer::from_directory(tokenizer_dir));
  check_same_image_tower(*context.model, *m->model, dir);
  cache.emplace(key, m);
  return m;
}

class SpnMethod : public Method {
 public:
  std::string name() const override { return "spn"; }
  std::string description() const override {
    return "SPN4CIR: n(I(ref) + T_spn(text)) with the text tower of `cir train spn` (option model=<dir>)";
  }
  bool needs_reference() const override { return true; }
  bool needs_text() const override { return true; }

  FloatMatrix compose(const std::vector<ComposeInput>& inputs, const ComposeContext& context) const override {
    detail::require_clip(context, name());
    const std::string dir = detail::head_option(context, name(), "model", "spn", "directory written by cir train spn");
    const auto spn = cached_model(dir, context);
    std::vector<std::string> texts;
    for (const auto& in : inputs) {
      if (in.texts.size() != 1)
        throw Error(ErrorCode::kInvalidArgument, "method 'spn' needs exactly one modification text, found " + std::to_string(in.texts.size()));
      texts.push_back(in.texts[0]);
    }
    const FloatMatrix t = spn->model->encode_texts(spn->tokenizer->tokenize(texts, spn->model->spec().context_length));
    const at::Tensor refs = detail::reference_tensor(inputs, context, name());
    const float* r = refs.data_ptr<float>();
    FloatMatrix out(t.rows, t.cols);
    for (int64_t i = 0; i < t.rows; ++i)
      for (int64_t c = 0; c < t.cols; ++c) out.row(i)[c] = r[i * t.cols + c] + t.row(i)[c];
    normalize_rows(out);
    return out;
  }
};

}  // namespace

std::shared_ptr<const Method> make_spn() { return std::make_shared<SpnMethod>(); }

}  // namespace cir::compose
