// "provider_vlm": n captions per image from a vision-chat provider (generation.md §2.1 compat
// mode and §3.1), with the captioner-sample failure rule of §6.5.
#include <algorithm>
#include <cstdio>
#include <span>

#include "gen/builtins.h"
#include "gen/prompts.h"

namespace cir::gen {

// §6.6: one 31-bit seed per (run seed, item); 31 bits because llama.cpp and JavaScript servers
// read seeds as 32-bit or double.
uint64_t item_seed(uint64_t run_seed, const std::string& item_id) {
  const std::string material = std::to_string(run_seed) + ":" + item_id;
  const std::string hex = sha256_hex(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(material.data()), material.size()));
  return std::stoull(hex.substr(0, 8), nullptr, 16) & 0x7fffffffULL;
}

namespace {

// Compat-mode stand-in for BLIP-2 OPT's COCO captions (§2.1 [design]): a plain one-sentence
// caption with no preamble, so 15 samples read like the upstream multi-captions.
constexpr std::string_view kSeizeCaptionInstruction =
    "Write one short caption of this image in the style of a COCO caption: a single plain sentence "
    "describing what is visible, with no introduction, quotes or list.";

constexpr int kSampleAttempts = 3;  // the first call plus two top-ups for empty or failed samples

struct Preset {
  std::string instruction;
  int n = 1;
  SamplingOptions sampling;
};

Preset preset_named(const std::string& name, int words) {
  Preset p;
  if (name == "seize") {
    p.instruction = kSeizeCaptionInstruction;
    p.n = 15;
    p.sampling.temperature = 1.0;
    p.sampling.top_p = 0.9;
    p.sampling.max_tokens = 48;
  } else if (name == "cirevl") {
    prompts::verify_prompt("blip_prompt");
    p.instruction = prompts::kCirevlBlipPrompt;
    p.n = 1;
    p.sampling.temperature = 0.0;
    p.sampling.top_p = 1.0;
    p.sampling.max_tokens = 64;
  } else if (name == "spn") {
    // SPN4CIR's LLaVA captioning (§5.2): the user text with its literal "user: " prefix, one
    // caption, effectively greedy. The llava_v1 system text and roles come from the server's own
    // chat template (only a LLaVA-v1 server reproduces upstream exactly: compat mode otherwise).
    if (words < 1) throw Error(ErrorCode::kInvalidArgument, "captioner preset 'spn': words must be at least 1");
    p.instruction = "user: please briefly describe the image in " + std::to_string(words) + " words";
    p.n = 1;
    p.sampling.temperature = 0.0;
    p.sampling.top_p = 1.0;
    p.sampling.max_tokens = 64;
  } else {
    throw Error(ErrorCode::kNotFound, "captioner preset '" + name + "' does not exist (known: seize, cirevl, spn)");
  }
  return p;
}

// "Left default" ignores the seed: a run seed alone keeps the preset's sampling.
bool is_default_apart_from_seed(const SamplingOptions& s) {
  const SamplingOptions d;
  return s.temperature == d.temperature && s.top_p == d.top_p && s.max_tokens == d.max_tokens && s.n == d.n &&
         s.stop == d.stop && s.top_k == d.top_k && s.min_p == d.min_p;
}

// One caption per sample: surrounding whitespace dropped, inner line breaks joined.
std::string clean_caption(const std::string& text) {
  std::string out;
  for (char c : text) out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  const size_t first = out.find_first_not_of(' ');
  if (first == std::string::npos) return "";
  return out.substr(first, out.find_last_not_of(' ') - first + 1);
}

class ProviderVlmCaptioner final : public Captioner {
 public:
  ProviderVlmCaptioner(std::shared_ptr<Provider> provider, const CaptionerOptions& options)
      : provider_(std::move(provider)),
        preset_name_(options.preset == "spn" ? "spn" + std::to_string(options.words) : options.preset),
        preset_(preset_named(options.preset, options.words)) {
    n_ = options.n > 0 ? options.n : preset_.n;
    sampling_ = is_default_apart_from_seed(options.sampling) ? preset_.sampling : options.sampling;
    run_seed_ = options.sampling.seed.value_or(0);
  }

  std::string key() const override {
    return "provider_vlm:" + provider_model(*provider_) + ":" + preset_name_ + ":n" + std::to_string(n_) + ":t" +
           short_number(sampling_.temperature) + ":p" + short_number(sampling_.top_p);
  }

  std::vector<CaptionResult> caption_batch(const std::vector<CaptionInput>& inputs) const override {
    std::vector<CaptionResult> results(inputs.size());
    const int threads = std::max(1, provider_->max_concurrency());
    parallel_for(static_cast<int64_t>(inputs.size()), threads,
                 [&](int64_t i) { results[static_cast<size_t>(i)] = caption_one(inputs[static_cast<size_t>(i)]); });
    return results;
  }

 private:
  CaptionResult caption_one(const CaptionInput& input) const {
    CaptionResult result;
    const uint64_t base_seed = item_seed(run_seed_, input.item_id);
    int n_empty = 0;
    for (int attempt = 0; attempt < kSampleAttempts && static_cast<int>(result.captions.size()) < n_; ++attempt) {
      ChatRequest request;
      ContentPart image;
      image.image_bytes = input.image_bytes;
      image.image_mime = input.image_mime;
      ContentPart text;
      text.text = preset_.instruction;
      request.messages.push_back(ChatMessage{"user", {image, text}});
      request.sampling = sampling_;
      request.sampling.n = n_ - static_cast<int>(result.captions.size());
      request.sampling.seed = base_seed + 1000ULL * static_cast<uint64_t>(attempt);  // §6.5
      try {
        const Generation g = provider_->chat(request);
        for (const std::string& t : g.texts) {
          std::string caption = clean_caption(t);
          if (caption.empty()) ++n_empty;
          else if (static_cast<int>(result.captions.size()) < n_) result.captions.push_back(std::move(caption));
        }
      } catch (const Error& e) {
        if (provider_unusable(e)) throw;
        result.error = e.what();
      }
    }
    result.n_failed = n_ - static_cast<int>(result.captions.size());
    if (result.n_failed > 0 && result.error.empty())
      result.error = std::to_string(result.n_failed) + " of " + std::to_string(n_) + " captions of '" + input.item_id +
                     "' stayed empty after " + std::to_string(kSampleAttempts) + " attempts (" +
                     std::to_string(n_empty) + " empty answers)";
    return result;
  }

  std::shared_ptr<Provider> provider_;
  std::string preset_name_;
  Preset preset_;
  int n_ = 1;
  SamplingOptions sampling_;
  uint64_t run_seed_ = 0;
};

}  // namespace

std::shared_ptr<const Captioner> make_provider_vlm(std::shared_ptr<Provider> provider, const CaptionerOptions& options) {
  if (!provider) throw Error(ErrorCode::kInvalidArgument, "captioner provider_vlm needs an LLM provider (--llm URL)");
  return std::make_shared<ProviderVlmCaptioner>(std::move(provider), options);
}

bool provider_unusable(const Error& error) {
  return error.code() == ErrorCode::kIo || error.code() == ErrorCode::kUnsupported ||
         error.code() == ErrorCode::kResourceExhausted;
}

std::string provider_model(const Provider& provider) {
  const std::string described = provider.describe();
  const size_t at = described.rfind("@http");
  return at == std::string::npos ? described : described.substr(0, at);
}

std::string short_number(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", value);
  return buf;
}

}  // namespace cir::gen
