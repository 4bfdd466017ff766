// Private to compose: the pseudo-word-token methods (SEARLE, SEARLE-OTI, Pic2Word) share the
// prompt building and the injected text encoding; they differ only in where the token for
// each reference comes from.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "cir/compose.h"
#include "model/clip_modules.h"

namespace cir::text {
class ClipTokenizer;
}

namespace cir::compose::detail {

/// How a method turns an input's modification texts into prompts with a placeholder word.
enum class PromptStyle {
  kSearle,    ///< "a photo of $ that {t}"; two captions: both "{c1} and {c2}" orders, averaged
  kPic2Word,  ///< "a photo of * , {t}"; two captions: "a photo of * , {c2} and {c1}"
};

/// The placeholder word of a style ("$" or "*").
std::string placeholder_word(PromptStyle style);

/// Prompts of one input (one or two; averaged after normalising). No text: "a photo of $".
/// More than two texts: kInvalidArgument naming `method`.
std::vector<std::string> build_prompts(PromptStyle style, const std::vector<std::string>& texts,
                                       const std::string& method);

/// The context's CLIP and tokenizer, or kUnsupported naming `method` when the engine has none.
void require_clip(const ComposeContext& context, const std::string& method);

/// The tokenizer id of the placeholder word (e.g. "$</w>"); kUnsupported when absent.
int32_t placeholder_id(const ComposeContext& context, PromptStyle style, const std::string& method);

/// Raw reference features of the inputs as [n, embed_dim]; kInvalidArgument naming `method`
/// when one lacks a reference or has the wrong width.
at::Tensor reference_tensor(const std::vector<ComposeInput>& inputs, const ComposeContext& context,
                            const std::string& method);

/// Normalised query rows: for each input, its prompts encoded with tokens[i] injected at the
/// placeholder, each normalised, averaged and normalised again. tokens: [n, text_width].
FloatMatrix encode_prompts_with_tokens(const std::vector<ComposeInput>& inputs, const ComposeContext& context,
                                       PromptStyle style, const at::Tensor& tokens, const std::string& method);

/// PALAVRA's 24 templates as SEARLE's utils.get_templates lists them ("{}" = the word).
const std::vector<std::string>& palavra_templates();

/// Token ids [B, L] (long, trimmed to the longest row) and end positions [B] of a TokenBatch.
std::pair<at::Tensor, at::Tensor> token_tensors(const TokenBatch& tokens);

struct ConceptBank;  // gpt_phrases.h

/// SEARLE's L_gpt inside OTI (generation.md §4.3): off when bank is null.
struct GptRegulariser {
  const ConceptBank* bank = nullptr;
  int64_t top_k = 15;   ///< nearest concepts per image whose phrases are pooled (--top-k 15)
  double weight = 0.5;  ///< lambda_gpt; lambda_cos = 1; the loss is their weighted mean
};

/// OTI's knobs (SEARLE oti_inversion.py defaults).
struct OtiOptions {
  int steps = 350;
  double lr = 2e-2;
  double weight_decay = 0.01;
  double ema = 0.99;
  uint64_t seed = 0;
  GptRegulariser gpt;
};

/// OTI: one token per row of `images` ([m, d] raw image features), optimised with AdamW through
/// `net`'s text tower on random PALAVRA templates with "$" (id `placeholder`) replaced by the
/// token (L_cos), plus L_gpt when options.gpt has a bank: per step and image one phrase drawn
/// uniformly from the pooled phrases of its top_k concepts, its first occurrence of the concept
/// replaced by "$". Returns the EMA tokens [m, text_width]. `net`'s parameters should have
/// requires_grad off. Used by searle-oti and by the phi trainer (its targets).
at::Tensor invert_tokens(model::detail::ClipNetImpl& net, const text::ClipTokenizer& tokenizer, int32_t placeholder,
                         const at::Tensor& images, const OtiOptions& options);

}  // namespace cir::compose::detail
