// Pseudo-token injection on the shared fixture CLIP: injecting the placeholder's own embedding
// must give exactly the plain text encoding (both through ClipModel, which SEARLE/Pic2Word use,
// and through the trainable ClipNet, which OTI optimises through); SEARLE/Pic2Word/OTI end to
// end through the registry.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "cir/compose.h"
#include "cir/model.h"
#include "cir/text.h"
#include "cir/gen.h"
#include "compose/checkpoint.h"
#include "compose/gpt_phrases.h"
#include "compose/heads.h"
#include "compose/pseudo_token.h"
#include "model/clip_modules.h"
#include "test_support.h"

namespace cir::compose {
namespace {

// Tolerance: the same float32 graph on the same inputs; only op order may differ.
constexpr float kTol = 1e-5f;

struct Fixture {
  std::unique_ptr<model::ClipModel> model;
  std::unique_ptr<text::ClipTokenizer> tokenizer;
  ComposeContext context;
};

Fixture load_fixture() {
  Fixture f;
  const std::string dir = testing::fixture_path("fixtures/clip/vit/hf");
  model::ModelOptions o;
  o.hash_weights = false;
  f.model = model::ClipModel::load(dir, o);
  f.tokenizer = std::make_unique<text::ClipTokenizer>(text::ClipTokenizer::from_directory(dir));
  f.context.embed_dim = f.model->spec().embed_dim;
  f.context.model = f.model.get();
  f.context.tokenizer = f.tokenizer.get();
  auto* m = f.model.get();
  auto* t = f.tokenizer.get();
  f.context.encode_texts = [m, t](const std::vector<std::string>& texts) {
    return m->encode_texts(t->tokenize(texts, m->spec().context_length));
  };
  return f;
}

FloatMatrix normalized(FloatMatrix m) {
  normalize_rows(m);
  return m;
}

TEST(PseudoToken, OwnEmbeddingInjectedEqualsPlainText) {
  CIR_REQUIRE_FIXTURE("fixtures/clip/vit/hf");
  Fixture f = load_fixture();
  const int32_t dollar = *f.tokenizer->token_id("$</w>");
  const FloatMatrix own = f.model->token_embeddings({dollar, dollar});
  const at::Tensor tokens = torch::from_blob(const_cast<float*>(own.data.data()), {2, own.cols}, at::kFloat).clone();
  ComposeInput one, two;
  one.texts = {"is red"};
  two.texts = {"is red.", " has a star"};
  const FloatMatrix q =
      detail::encode_prompts_with_tokens({one, two}, f.context, detail::PromptStyle::kSearle, tokens, "test");
  const FloatMatrix plain = normalized(f.context.encode_texts({"a photo of $ that is red"}));
  for (int64_t c = 0; c < q.cols; ++c) EXPECT_NEAR(q.row(0)[c], plain.row(0)[c], kTol);
  // FashionIQ: both orders of the stripped captions, normalised, averaged, normalised.
  FloatMatrix ab = normalized(f.context.encode_texts({"a photo of $ that is red and has a star",
                                                      "a photo of $ that has a star and is red"}));
  FloatMatrix mean(1, ab.cols);
  for (int64_t c = 0; c < ab.cols; ++c) mean.row(0)[c] = ab.row(0)[c] + ab.row(1)[c];
  mean = normalized(mean);
  for (int64_t c = 0; c < q.cols; ++c) EXPECT_NEAR(q.row(1)[c], mean.row(0)[c], kTol);
}

TEST(PseudoToken, TrainableNetInjectionEqualsPlainText) {
  CIR_REQUIRE_FIXTURE("fixtures/clip/vit/hf");
  Fixture f = load_fixture();
  auto net = model::detail::load_clip_net(testing::fixture_path("fixtures/clip/vit/hf"));
  const int32_t dollar = *f.tokenizer->token_id("$</w>");
  const TokenBatch tb = f.tokenizer->tokenize({"a photo of $ that is red"}, 77);
  const int64_t len = tb.lengths[0];
  at::Tensor ids = torch::from_blob(const_cast<int32_t*>(tb.ids.data()), {1, 77}, at::kInt).narrow(1, 0, len).to(at::kLong);
  torch::NoGradGuard no_grad;
  const at::Tensor v = net->embed_tokens(torch::tensor({int64_t{dollar}}, at::kLong).view({1, 1})).view({1, -1});
  const at::Tensor mask = (ids == dollar).to(at::kFloat).unsqueeze(-1);
  const at::Tensor embeds = net->embed_tokens(ids) * (1 - mask) + mask * v.unsqueeze(1);
  const at::Tensor feats = net->encode_text_embeddings(embeds, torch::tensor({len - 1}, at::kLong));
  const FloatMatrix plain = f.model->encode_texts(tb);
  for (int64_t c = 0; c < plain.cols; ++c) EXPECT_NEAR(feats[0][c].item<float>(), plain.row(0)[c], kTol);
}

TEST(PseudoToken, SearleAndPic2WordRunThroughTheRegistry) {
  CIR_REQUIRE_FIXTURE("fixtures/clip/vit/hf");
  Fixture f = load_fixture();
  const auto& spec = f.model->spec();
  const auto dir = std::filesystem::temp_directory_path();
  torch::manual_seed(0);
  detail::TokenMapper phi(detail::MapperKind::kSearlePhi, spec.embed_dim, 4 * spec.embed_dim, spec.text_width);
  detail::write_state_dict((dir / "cir_test_phi.pt").string(), "Phi", detail::module_state(*phi));
  detail::TokenMapper p2w(detail::MapperKind::kPic2Word, spec.embed_dim, 24, spec.text_width);
  detail::write_state_dict((dir / "cir_test_p2w.pt").string(), "state_dict_img2text", detail::module_state(*p2w));
  ComposeInput in;
  in.reference = std::vector<float>(static_cast<size_t>(spec.embed_dim), 0.1f);
  in.texts = {"is blue"};
  auto ctx = f.context;
  ctx.options["phi"] = (dir / "cir_test_phi.pt").string();
  ctx.options["mapping"] = (dir / "cir_test_p2w.pt").string();
  for (const char* name : {"searle", "pic2word"}) {
    const FloatMatrix q = find_method(name)->compose({in, in}, ctx);
    ASSERT_EQ(q.rows, 2);
    double norm = 0;
    for (int64_t c = 0; c < q.cols; ++c) norm += double(q.row(0)[c]) * q.row(0)[c];
    EXPECT_NEAR(norm, 1.0, 1e-5) << name;
  }
  // SEARLE equals the hand-built path: phi(ref) injected into "a photo of $ that is blue".
  phi->eval();
  torch::NoGradGuard no_grad;
  const at::Tensor token = phi->forward(torch::full({1, spec.embed_dim}, 0.1f));
  const FloatMatrix expected = detail::encode_prompts_with_tokens({in}, ctx, detail::PromptStyle::kSearle, token, "t");
  const FloatMatrix q = find_method("searle")->compose({in}, ctx);
  for (int64_t c = 0; c < q.cols; ++c) EXPECT_NEAR(q.row(0)[c], expected.row(0)[c], kTol);
  ctx.options.erase("phi");
  EXPECT_THROW(find_method("searle")->compose({in}, ctx), Error);
}

TEST(PseudoToken, OtiLowersLossAndCachesByGalleryId) {
  CIR_REQUIRE_FIXTURE("fixtures/clip/vit/hf");
  Fixture f = load_fixture();
  const auto& spec = f.model->spec();
  const auto cache = (std::filesystem::temp_directory_path() / "cir_test_oti_cache.pt").string();
  std::filesystem::remove(cache);
  ComposeInput in;
  in.reference = std::vector<float>(static_cast<size_t>(spec.embed_dim));
  for (int i = 0; i < spec.embed_dim; ++i) (*in.reference)[static_cast<size_t>(i)] = std::sin(0.7f * i);
  auto ctx = f.context;
  ctx.options["oti_steps"] = "30";
  ctx.options["oti_cache"] = cache;
  ctx.query_keys = {"img-1"};
  const FloatMatrix a = find_method("searle-oti")->compose({in}, ctx);
  ASSERT_TRUE(std::filesystem::exists(cache));
  EXPECT_EQ(detail::read_state_dict(cache, "oti").size(), 1u);
  // Second call: a cache hit, identical query.
  const FloatMatrix b = find_method("searle-oti")->compose({in}, ctx);
  for (int64_t c = 0; c < a.cols; ++c) EXPECT_EQ(a.row(0)[c], b.row(0)[c]);
  // The optimised token is closer to the image than an untrained one ("a photo of $").
  auto cos_to_ref = [&](const FloatMatrix& q) {
    double dot = 0, n = 0;
    for (int64_t c = 0; c < q.cols; ++c) {
      dot += q.row(0)[c] * (*in.reference)[static_cast<size_t>(c)];
      n += double((*in.reference)[static_cast<size_t>(c)]) * (*in.reference)[static_cast<size_t>(c)];
    }
    return dot / std::sqrt(n);
  };
  ComposeInput bare = in;
  bare.texts.clear();
  const FloatMatrix optimised = find_method("searle-oti")->compose({bare}, ctx);
  const FloatMatrix plain = normalized(f.context.encode_texts({"a photo of $"}));
  EXPECT_GT(cos_to_ref(optimised), cos_to_ref(plain));
  std::filesystem::remove(cache);
}

// SEARLE's L_gpt pieces: the filter drops a concept, the placeholder goes where the concept was,
// and the loss is zero exactly when the injected token is the concept's own embedding.
TEST(PseudoToken, GptPhraseLossIsZeroForTheConceptsOwnToken) {
  CIR_REQUIRE_FIXTURE("fixtures/clip/vit/hf");
  Fixture f = load_fixture();
  auto net = model::detail::load_clip_net(testing::fixture_path("fixtures/clip/vit/hf"));
  for (auto& p : net->parameters()) p.requires_grad_(false);
  gen::PhraseTable table;
  table.source = "test";
  table.phrases = {{"dog", {"a photo of dog that runs", "a photo of dog that sleeps"}},
                   {"cat", {"a photo of cat that naps", "a cat and a cat"}},
                   {"bird", {"a photo of a parrot"}}};
  const detail::ConceptBank bank = detail::make_concept_bank(*net, *f.tokenizer, table);
  ASSERT_EQ(bank.names, (std::vector<std::string>{"cat", "dog"}));
  ASSERT_EQ(bank.embeddings.size(0), 2);
  EXPECT_NEAR(bank.embeddings[0].norm().item<float>(), 1.0f, 1e-5f);
  EXPECT_EQ(detail::insert_placeholder("a cat and a cat", "cat", false), "a  $  and a cat");
  EXPECT_EQ(detail::insert_placeholder("a cat and a cat", "cat", true), "a  $  and a  $ ");
  // The concept's nearest concept is itself (its image stand-in: its own text embedding).
  const auto near = detail::nearest_concepts(bank, bank.embeddings, 1);
  EXPECT_EQ(near[0][0], 0);
  EXPECT_EQ(near[1][0], 1);

  const auto dollar = f.tokenizer->token_id("$</w>");
  const auto cat = f.tokenizer->token_id("cat</w>");
  ASSERT_TRUE(dollar && cat);
  const at::Tensor own = net->embed_tokens(torch::tensor({int64_t{*cat}}, at::kLong)).detach();  // [1, width]
  const std::vector<std::string> plain = {"a photo of cat that naps"};
  const std::vector<std::string> with = {detail::insert_placeholder(plain[0], "cat", false)};
  EXPECT_NEAR(detail::gpt_phrase_loss(*net, *f.tokenizer, *dollar, own, with, plain).item<float>(), 0.0f, 1e-5f);
  const at::Tensor other = torch::randn_like(own) * 0.02;
  EXPECT_GT(detail::gpt_phrase_loss(*net, *f.tokenizer, *dollar, other, with, plain).item<float>(), 1e-4f);
}

// searle-oti with phrases=FILE: the GPT term changes the token (and so the cache key), and the
// result is deterministic.
TEST(PseudoToken, OtiWithPhrasesUsesTheGptTerm) {
  CIR_REQUIRE_FIXTURE("fixtures/clip/vit/hf");
  Fixture f = load_fixture();
  const auto& spec = f.model->spec();
  testing::TempDir tmp;
  gen::PhraseTable table;
  table.phrases = {{"dog", {"a photo of dog that runs", "a photo of dog that sleeps"}},
                   {"cat", {"a photo of cat that naps"}}};
  gen::write_phrase_table(tmp.str("phrases.json"), table);
  ComposeInput in;
  in.reference = std::vector<float>(static_cast<size_t>(spec.embed_dim));
  for (int i = 0; i < spec.embed_dim; ++i) (*in.reference)[static_cast<size_t>(i)] = std::cos(0.3f * i);
  auto ctx = f.context;
  ctx.options["oti_steps"] = "10";
  ctx.query_keys = {"img-gpt"};
  const FloatMatrix without = find_method("searle-oti")->compose({in}, ctx);
  ctx.options["phrases"] = tmp.str("phrases.json");
  const FloatMatrix with = find_method("searle-oti")->compose({in}, ctx);
  ctx.query_keys = {"img-gpt-again"};  // not a cache hit: inverted again
  const FloatMatrix again = find_method("searle-oti")->compose({in}, ctx);
  double diff = 0;
  for (int64_t c = 0; c < with.cols; ++c) {
    diff = std::max(diff, double(std::abs(with.row(0)[c] - without.row(0)[c])));
    EXPECT_EQ(with.row(0)[c], again.row(0)[c]);
  }
  EXPECT_GT(diff, 1e-4);
  ctx.options["gpt_weight"] = "-1";
  EXPECT_THROW(find_method("searle-oti")->compose({in}, ctx), Error);
}

}  // namespace
}  // namespace cir::compose
