// Private to compose and train: SEARLE's L_gpt regulariser (generation.md §4.3, methods.md 3.3).
// A phrase table (gen::PhraseTable, built through a provider or converted from SEARLE's
// GPTNeo27B release) becomes a concept bank: every concept that passes the filter, with its CLIP
// text embedding (the 24 PALAVRA templates averaged) for the image-concept association. OTI and
// phi training then draw phrases about each image's nearest concepts and ask that the phrase
// with the concept replaced by the pseudo-word encodes like the phrase itself.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "cir/gen.h"
#include "cir/text.h"
#include "model/clip_modules.h"

namespace cir::compose::detail {

/// The filtered phrase table with its concepts embedded by one CLIP.
struct ConceptBank {
  std::vector<std::string> names;                 ///< concepts that pass the filter (sorted)
  std::vector<std::vector<std::string>> phrases;  ///< parallel to names
  at::Tensor embeddings;                          ///< [n_concepts, embed_dim], L2-normalised
  std::string source;                             ///< the table's source (reports, manifests)
};

/// Filters `table` (§4.2) and embeds each concept: the 24 PALAVRA templates filled with
/// " {concept} ", each encoded and normalised, averaged, normalised again. kInvalidArgument when
/// no concept survives the filter.
ConceptBank make_concept_bank(model::detail::ClipNetImpl& net, const text::ClipTokenizer& tokenizer,
                              const gen::PhraseTable& table);

/// The k nearest concepts (cosine with n(image)) of each row of `images` ([m, d] raw features),
/// nearest first.
std::vector<std::vector<int64_t>> nearest_concepts(const ConceptBank& bank, const at::Tensor& images, int64_t k);

/// `phrase` with the first (or every) occurrence of `concept_name` replaced by " $ ".
std::string insert_placeholder(const std::string& phrase, const std::string& concept_name, bool every_occurrence);

/// L_gpt = mean over rows of 1 - cos(T(with_placeholder[i], "$" -> tokens[i]), T(plain[i])):
/// CosineEmbeddingLoss with target +1. Token ids truncate at the context length, as
/// clip.tokenize(truncate=True). Gradients reach `tokens` only.
at::Tensor gpt_phrase_loss(model::detail::ClipNetImpl& net, const text::ClipTokenizer& tokenizer, int32_t placeholder,
                           const at::Tensor& tokens, const std::vector<std::string>& with_placeholder,
                           const std::vector<std::string>& plain);

}  // namespace cir::compose::detail
