// CLIP4Cir's Combiner at query time (methods.md section 4.1): raw reference and caption
// features in, normalised query out.
#include <torch/torch.h>

#include <cctype>
#include <mutex>

#include "compose/checkpoint.h"
#include "compose/heads.h"
#include "compose/methods.h"

namespace cir::compose {
namespace {

detail::Combiner cached_combiner(const std::string& path) {
  static std::mutex mutex;
  static std::map<std::string, detail::Combiner> cache;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = cache.find(path); it != cache.end()) return it->second;
  std::map<std::string, at::Tensor> state;
  try {
    state = detail::read_state_dict(path, "Combiner");
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kNotFound) throw;
    try {
      state = detail::read_state_dict(path, "");
    } catch (const Error&) {
      throw e;
    }
  }
  auto combiner = detail::combiner_from_state(state, path);
  cache.emplace(path, combiner);
  return combiner;
}

// CLIP4Cir's FashionIQ validation caption: "{c1.capitalize()} and {c2}".
std::string join_captions(const std::vector<std::string>& texts) {
  if (texts.size() == 1) return texts[0];
  std::string c1 = texts[0];
  for (auto& ch : c1) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (!c1.empty()) c1[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(c1[0])));
  return c1 + " and " + texts[1];
}

class CombinerMethod : public Method {
 public:
  std::string name() const override { return "combiner"; }
  std::string description() const override {
    return "CLIP4Cir Combiner on raw I(ref) and T(text) (option combiner=<.pt with 'Combiner'>)";
  }
  bool needs_reference() const override { return true; }
  bool needs_text() const override { return true; }

  FloatMatrix compose(const std::vector<ComposeInput>& inputs, const ComposeContext& context) const override {
    if (context.slots.multi_vector())
      throw Error(ErrorCode::kUnsupported, "method 'combiner' combines CLIP features; this index's model is not a CLIP");
    const std::string path = detail::head_option(context, name(), "combiner", "combiner.pt", "path of a CLIP4Cir Combiner checkpoint");
    const int64_t d = context.embed_dim;
    const int64_t n = static_cast<int64_t>(inputs.size());
    std::vector<std::string> texts;
    at::Tensor image = torch::empty({n, d}, at::kFloat);
    for (int64_t i = 0; i < n; ++i) {
      const auto& in = inputs[static_cast<size_t>(i)];
      if (!in.reference || static_cast<int64_t>(in.reference->size()) != d)
        throw Error(ErrorCode::kInvalidArgument, "method 'combiner' needs a reference image (a " + std::to_string(d) + "-d feature)");
      if (in.texts.empty() || in.texts.size() > 2)
        throw Error(ErrorCode::kInvalidArgument, "method 'combiner' needs one modification text (or two, FashionIQ), found " +
                                                     std::to_string(in.texts.size()));
      std::copy(in.reference->begin(), in.reference->end(), image[i].data_ptr<float>());
      texts.push_back(join_captions(in.texts));
    }
    const FloatMatrix text_feats = context.encode_texts(texts);
    auto combiner = cached_combiner(path);
    if (combiner->feature_dim != d)
      throw Error(ErrorCode::kModel, "method 'combiner': checkpoint '" + path + "' combines " +
                                         std::to_string(combiner->feature_dim) + "-d features, the index's are " + std::to_string(d) + "-d");
    FloatMatrix out(n, d);
    try {
      c10::InferenceMode guard;
      const at::Tensor text = torch::from_blob(const_cast<float*>(text_feats.data.data()), {n, d}, at::kFloat);
      const at::Tensor q = combiner->forward(image, text).contiguous();
      std::copy_n(q.data_ptr<float>(), out.data.size(), out.data.data());
    } catch (const c10::Error& e) {
      throw Error(ErrorCode::kInternal, std::string("method 'combiner': ") + e.what_without_backtrace());
    }
    return out;
  }
};

}  // namespace

std::shared_ptr<const Method> make_combiner() { return std::make_shared<CombinerMethod>(); }

}  // namespace cir::compose
