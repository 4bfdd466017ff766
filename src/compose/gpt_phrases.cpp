// SEARLE's L_gpt pieces shared by searle-oti (query time) and `cir train phi` (generation.md
// §4.3): the concept bank, the image-concept association and the phrase loss.
#include "compose/gpt_phrases.h"

#include <torch/torch.h>

#include "compose/pseudo_token.h"

namespace cir::compose::detail {
namespace {

namespace F = torch::nn::functional;

at::Tensor normalized(const at::Tensor& x) { return F::normalize(x, F::NormalizeFuncOptions().dim(-1)); }

// Text features of `texts` ([n, embed_dim], raw), encoded in chunks so a large vocabulary (Open
// Images has 20,931 concepts x 24 templates) never holds one giant activation.
at::Tensor encode_texts(model::detail::ClipNetImpl& net, const text::ClipTokenizer& tokenizer,
                        const std::vector<std::string>& texts) {
  constexpr size_t kChunk = 256;
  std::vector<at::Tensor> parts;
  for (size_t first = 0; first < texts.size(); first += kChunk) {
    const std::vector<std::string> chunk(texts.begin() + static_cast<std::ptrdiff_t>(first),
                                         texts.begin() + static_cast<std::ptrdiff_t>(std::min(texts.size(), first + kChunk)));
    const auto [ids, ends] = token_tensors(tokenizer.tokenize(chunk, net.spec().context_length));
    parts.push_back(net.encode_text(ids, ends));
  }
  return torch::cat(parts);
}

}  // namespace

ConceptBank make_concept_bank(model::detail::ClipNetImpl& net, const text::ClipTokenizer& tokenizer,
                              const gen::PhraseTable& table) {
  const gen::PhraseTable kept = gen::filter_phrase_table(table);
  if (kept.phrases.empty())
    throw Error(ErrorCode::kInvalidArgument, "phrase table (" + table.source + "): none of its " +
                                                 std::to_string(table.phrases.size()) +
                                                 " concepts passes SEARLE's filter (every phrase must contain its concept)");
  ConceptBank bank;
  bank.source = table.source;
  std::vector<std::string> prompts;
  for (const auto& [name, phrases] : kept.phrases) {
    bank.names.push_back(name);
    bank.phrases.push_back(phrases);
    for (const auto& t : palavra_templates()) {
      const size_t at = t.find("{}");
      prompts.push_back(t.substr(0, at) + " " + name + " " + t.substr(at + 2));
    }
  }
  torch::NoGradGuard no_grad;
  const int64_t n_templates = static_cast<int64_t>(palavra_templates().size());
  const at::Tensor feats = normalized(encode_texts(net, tokenizer, prompts));
  bank.embeddings = normalized(feats.view({static_cast<int64_t>(bank.names.size()), n_templates, -1}).mean(1)).contiguous();
  return bank;
}

std::vector<std::vector<int64_t>> nearest_concepts(const ConceptBank& bank, const at::Tensor& images, int64_t k) {
  torch::NoGradGuard no_grad;
  const int64_t take = std::max<int64_t>(1, std::min<int64_t>(k, bank.embeddings.size(0)));
  const at::Tensor order = std::get<1>(normalized(images).matmul(bank.embeddings.t()).topk(take, 1)).contiguous();
  std::vector<std::vector<int64_t>> out(static_cast<size_t>(images.size(0)));
  for (int64_t i = 0; i < images.size(0); ++i) {
    const int64_t* row = order[i].data_ptr<int64_t>();
    out[static_cast<size_t>(i)].assign(row, row + take);
  }
  return out;
}

std::string insert_placeholder(const std::string& phrase, const std::string& concept_name, bool every_occurrence) {
  std::string out;
  size_t from = 0;
  for (size_t at = phrase.find(concept_name); at != std::string::npos; at = phrase.find(concept_name, from)) {
    out += phrase.substr(from, at - from) + " $ ";
    from = at + concept_name.size();
    if (!every_occurrence) break;
  }
  return out + phrase.substr(from);
}

at::Tensor gpt_phrase_loss(model::detail::ClipNetImpl& net, const text::ClipTokenizer& tokenizer, int32_t placeholder,
                           const at::Tensor& tokens, const std::vector<std::string>& with_placeholder,
                           const std::vector<std::string>& plain) {
  const int context = net.spec().context_length;
  at::Tensor reference;
  {
    torch::NoGradGuard no_grad;
    const auto [ids, ends] = token_tensors(tokenizer.tokenize(plain, context));
    reference = net.encode_text(ids, ends);
  }
  const auto [ids, ends] = token_tensors(tokenizer.tokenize(with_placeholder, context));
  const at::Tensor mask = (ids == placeholder).to(at::kFloat).unsqueeze(-1);
  const at::Tensor embeds = net.embed_tokens(ids) * (1 - mask) + mask * tokens.unsqueeze(1);
  const at::Tensor feats = net.encode_text_embeddings(embeds, ends);
  return (1 - torch::cosine_similarity(feats, reference, 1)).mean();
}

}  // namespace cir::compose::detail
