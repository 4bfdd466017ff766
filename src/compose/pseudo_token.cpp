// SEARLE (phi) and Pic2Word: a mapping network turns the raw reference feature into one word
// embedding that replaces a placeholder token in a prompt (methods.md sections 3.2 and 7).
#include "compose/pseudo_token.h"

#include <torch/torch.h>

#include <mutex>

#include "cir/model.h"
#include "cir/text.h"
#include "compose/checkpoint.h"
#include "compose/heads.h"
#include "compose/methods.h"

namespace cir::compose {
namespace detail {
namespace {

// SEARLE strips FashionIQ captions of ".?, " at both ends (Python str.strip(".?, ")).
std::string strip_caption(const std::string& s) {
  const char* chars = ".?, ";
  const auto b = s.find_first_not_of(chars);
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(chars);
  return s.substr(b, e - b + 1);
}

}  // namespace

std::string placeholder_word(PromptStyle style) { return style == PromptStyle::kSearle ? "$" : "*"; }

std::vector<std::string> build_prompts(PromptStyle style, const std::vector<std::string>& texts,
                                       const std::string& method) {
  if (texts.size() > 2)
    throw Error(ErrorCode::kInvalidArgument, "method '" + method + "' takes one modification text or two (FashionIQ), found " +
                                                 std::to_string(texts.size()));
  if (style == PromptStyle::kSearle) {
    if (texts.empty()) return {"a photo of $"};
    if (texts.size() == 1) return {"a photo of $ that " + texts[0]};
    const std::string c1 = strip_caption(texts[0]), c2 = strip_caption(texts[1]);
    return {"a photo of $ that " + c1 + " and " + c2, "a photo of $ that " + c2 + " and " + c1};
  }
  if (texts.empty()) return {"a photo of *"};
  if (texts.size() == 1) return {"a photo of * , " + texts[0]};
  return {"a photo of * , " + texts[1] + " and " + texts[0]};
}

void require_clip(const ComposeContext& context, const std::string& method) {
  if (!context.model || !context.tokenizer)
    throw Error(ErrorCode::kUnsupported, "method '" + method + "' runs the CLIP text tower itself; this index's model is not a CLIP");
}

int32_t placeholder_id(const ComposeContext& context, PromptStyle style, const std::string& method) {
  const std::string token = placeholder_word(style) + "</w>";
  const auto id = context.tokenizer->token_id(token);
  if (!id)
    throw Error(ErrorCode::kUnsupported, "method '" + method + "': the tokenizer has no '" + token + "' token for the pseudo-word");
  return *id;
}

at::Tensor reference_tensor(const std::vector<ComposeInput>& inputs, const ComposeContext& context,
                            const std::string& method) {
  const int64_t d = context.embed_dim;
  at::Tensor refs = torch::empty({static_cast<int64_t>(inputs.size()), d}, at::kFloat);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto& ref = inputs[i].reference;
    if (!ref) throw Error(ErrorCode::kInvalidArgument, "method '" + method + "' needs a reference image");
    if (static_cast<int64_t>(ref->size()) != d)
      throw Error(ErrorCode::kInvalidArgument, "method '" + method + "': reference feature has " + std::to_string(ref->size()) +
                                                   " values, expected " + std::to_string(d));
    std::copy(ref->begin(), ref->end(), refs[static_cast<int64_t>(i)].data_ptr<float>());
  }
  return refs;
}

const std::vector<std::string>& palavra_templates() {
  static const std::vector<std::string> t = {
      "This is a photo of a {}", "This photo contains a {}", "A photo of a {}", "This is an illustration of a {}",
      "This illustration contains a {}", "An illustrations of a {}", "This is a sketch of a {}", "This sketch contains a {}",
      "A sketch of a {}", "This is a diagram of a {}", "This diagram contains a {}", "A diagram of a {}", "A {}",
      "We see a {}", "{}", "We see a {} in this photo", "We see a {} in this image", "We see a {} in this illustration",
      "We see a {} photo", "We see a {} image", "We see a {} illustration", "{} photo", "{} image", "{} illustration"};
  return t;
}

std::pair<at::Tensor, at::Tensor> token_tensors(const TokenBatch& tokens) {
  int64_t longest = 1;
  for (auto len : tokens.lengths) longest = std::max<int64_t>(longest, len);
  auto ids = torch::from_blob(const_cast<int32_t*>(tokens.ids.data()), {tokens.n_texts, tokens.context_length}, at::kInt)
                 .narrow(1, 0, longest)
                 .to(at::kLong);
  auto ends = torch::from_blob(const_cast<int32_t*>(tokens.lengths.data()), {tokens.n_texts}, at::kInt).to(at::kLong) - 1;
  return {ids, ends};
}

FloatMatrix encode_prompts_with_tokens(const std::vector<ComposeInput>& inputs, const ComposeContext& context,
                                       PromptStyle style, const at::Tensor& tokens, const std::string& method) {
  const auto& spec = context.model->spec();
  if (tokens.size(1) != spec.text_width)
    throw Error(ErrorCode::kModel, "method '" + method + "': the mapping network emits " + std::to_string(tokens.size(1)) +
                                       "-wide tokens, the CLIP's token width is " + std::to_string(spec.text_width));
  std::vector<std::string> prompts;
  std::vector<int64_t> owner;
  for (size_t i = 0; i < inputs.size(); ++i)
    for (auto& p : build_prompts(style, inputs[i].texts, method)) {
      prompts.push_back(std::move(p));
      owner.push_back(static_cast<int64_t>(i));
    }
  const at::Tensor rows = tokens.index_select(0, torch::tensor(owner, at::kLong)).contiguous();
  FloatMatrix injected(rows.size(0), rows.size(1));
  std::copy_n(rows.data_ptr<float>(), injected.data.size(), injected.data.data());
  FloatMatrix feats = context.model->encode_texts_injected(context.tokenizer->tokenize(prompts, spec.context_length),
                                                           placeholder_id(context, style, method), injected);
  normalize_rows(feats);
  FloatMatrix out(static_cast<int64_t>(inputs.size()), feats.cols);
  for (size_t r = 0; r < owner.size(); ++r)
    for (int64_t c = 0; c < feats.cols; ++c) out.row(owner[r])[c] += feats.row(static_cast<int64_t>(r))[c];
  normalize_rows(out);
  return out;
}

}  // namespace detail

namespace {

using detail::MapperKind;
using detail::PromptStyle;

// Loaded mapping networks by (kind, path): methods are shared singletons, so the cache lives
// for the process and loading happens once per checkpoint file.
detail::TokenMapper cached_mapper(MapperKind kind, const std::string& path) {
  static std::mutex mutex;
  static std::map<std::pair<int, std::string>, detail::TokenMapper> cache;
  std::lock_guard<std::mutex> lock(mutex);
  const auto key = std::make_pair(static_cast<int>(kind), path);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  const char* layout_key = kind == MapperKind::kSearlePhi ? "Phi" : "state_dict_img2text";
  std::map<std::string, at::Tensor> state;
  try {
    state = detail::read_state_dict(path, layout_key);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kNotFound) throw;
    try {
      state = detail::read_state_dict(path, "");  // a bare state dict (torch.save(net.state_dict()))
    } catch (const Error&) {
      throw e;
    }
  }
  auto mapper = detail::mapper_from_state(kind, state, path);
  cache.emplace(key, mapper);
  return mapper;
}

class MappedTokenMethod : public Method {
 public:
  MappedTokenMethod(std::string name, MapperKind kind, PromptStyle style, std::string option, std::string description)
      : name_(std::move(name)), kind_(kind), style_(style), option_(std::move(option)), description_(std::move(description)) {}
  std::string name() const override { return name_; }
  std::string description() const override { return description_; }
  bool needs_reference() const override { return true; }
  bool needs_text() const override { return false; }

  FloatMatrix compose(const std::vector<ComposeInput>& inputs, const ComposeContext& context) const override {
    detail::require_clip(context, name_);
    const std::string path = detail::head_option(context, name_, option_, name_ == "searle" ? "phi.pt" : name_ + ".pt", "path of the mapping-network checkpoint");
    const at::Tensor refs = detail::reference_tensor(inputs, context, name_);
    auto mapper = cached_mapper(kind_, path);
    if (mapper->in_dim != refs.size(1))
      throw Error(ErrorCode::kModel, "method '" + name_ + "': checkpoint '" + path + "' maps " + std::to_string(mapper->in_dim) +
                                         "-d image features, the index's are " + std::to_string(refs.size(1)) + "-d");
    at::Tensor tokens;
    try {
      c10::InferenceMode guard;
      tokens = mapper->forward(refs).contiguous();
    } catch (const c10::Error& e) {
      throw Error(ErrorCode::kInternal, "method '" + name_ + "': " + e.what_without_backtrace());
    }
    return detail::encode_prompts_with_tokens(inputs, context, style_, tokens, name_);
  }

 private:
  std::string name_;
  MapperKind kind_;
  PromptStyle style_;
  std::string option_, description_;
};

}  // namespace

std::shared_ptr<const Method> make_searle() {
  return std::make_shared<MappedTokenMethod>("searle", MapperKind::kSearlePhi, PromptStyle::kSearle, "phi",
                                             "SEARLE: n(T(\"a photo of $ that {text}\")) with phi(I(ref)) at $ (option phi=<.pt>)");
}

std::shared_ptr<const Method> make_pic2word() {
  return std::make_shared<MappedTokenMethod>("pic2word", MapperKind::kPic2Word, PromptStyle::kPic2Word, "mapping",
                                             "Pic2Word: n(T(\"a photo of * , {text}\")) with IM2TEXT(I(ref)) at * (option mapping=<.pt>)");
}

}  // namespace cir::compose
