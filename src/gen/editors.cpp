// The LLM editors: SEIZE/LDRE's per-caption edit (generation.md §2.2) and CIReVL's prompt
// variants (§3.2-3.3), each with its upstream parser and the fallbacks of §6.5.
#include <algorithm>

#include "gen/builtins.h"
#include "gen/prompts.h"

namespace cir::gen {

namespace {

constexpr std::string_view kEditedLabel = "Edited Description:";
constexpr std::string_view kPythonWhitespace = " \t\n\r\v\f";

std::string strip_chars(const std::string& s, std::string_view chars) {
  const size_t first = s.find_first_not_of(chars);
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(chars) - first + 1);
}

ChatMessage text_message(const std::string& role, std::string text) {
  ContentPart part;
  part.text = std::move(text);
  return ChatMessage{role, {std::move(part)}};
}

// What an editor does per input; the batch loop, fallbacks and rethrow rule are shared.
class PromptEditor : public Editor {
 public:
  PromptEditor(std::shared_ptr<Provider> provider, SamplingOptions sampling)
      : provider_(std::move(provider)), sampling_(std::move(sampling)) {
    if (!provider_) throw Error(ErrorCode::kInvalidArgument, "LLM editors need an LLM provider (--llm URL)");
  }

  std::vector<EditResult> edit_batch(const std::vector<EditInput>& inputs) const override {
    std::vector<EditResult> results(inputs.size());
    parallel_for(static_cast<int64_t>(inputs.size()), std::max(1, provider_->max_concurrency()), [&](int64_t i) {
      results[static_cast<size_t>(i)] = edit_one(inputs[static_cast<size_t>(i)]);
    });
    return results;
  }

 protected:
  virtual std::vector<ChatMessage> messages_for(const EditInput& input) const = 0;
  /// The parsed edit, or nullopt when the answer yields none.
  virtual std::optional<std::string> parse(const std::string& raw) const = 0;
  virtual std::string fallback_for(const EditInput& input) const = 0;

  std::shared_ptr<Provider> provider_;
  SamplingOptions sampling_;

 private:
  EditResult edit_one(const EditInput& input) const {
    EditResult result;
    try {
      ChatRequest request{messages_for(input), sampling_};
      request.sampling.n = 1;
      const Generation g = provider_->chat(request);
      result.raw = g.texts.empty() ? "" : g.texts.front();
      if (auto text = parse(result.raw)) {
        result.text = std::move(*text);
        return result;
      }
    } catch (const Error& e) {
      if (provider_unusable(e)) throw;
      result.raw.clear();
    }
    result.text = fallback_for(input);
    result.failed = true;
    return result;
  }
};

class SeizeLdreEditor final : public PromptEditor {
 public:
  using PromptEditor::PromptEditor;

  std::string key() const override {
    return "seize_ldre:" + provider_model(*provider_) + ":" + prompts::sha256_of(prompts::kSeizeUserTemplate).substr(0, 8);
  }
  std::map<std::string, std::string> prompt_sha256() const override {
    return {{"system", prompts::sha256_of(prompts::kSeizeSystem)},
            {"user_template", prompts::sha256_of(prompts::kSeizeUserTemplate)}};
  }

 protected:
  std::vector<ChatMessage> messages_for(const EditInput& input) const override {
    return {text_message("system", std::string(prompts::kSeizeSystem)),
            text_message("user", prompts::format_positional(prompts::kSeizeUserTemplate, {input.caption, input.modification}))};
  }
  std::optional<std::string> parse(const std::string& raw) const override {
    std::string text = parse_seize_edit(raw);
    if (text.empty()) return std::nullopt;  // §6.5: never let an empty edit reach the encoder
    return text;
  }
  // §6.5: the slot keeps its unedited caption.
  std::string fallback_for(const EditInput& input) const override { return input.caption; }
};

class CirevlEditor final : public PromptEditor {
 public:
  CirevlEditor(std::shared_ptr<Provider> provider, SamplingOptions sampling, std::string name,
               std::string_view prompt_name, std::string_view base_prompt)
      : PromptEditor(std::move(provider), std::move(sampling)),
        name_(std::move(name)),
        prompt_name_(prompt_name),
        base_prompt_(base_prompt) {}

  std::string key() const override {
    return name_ + ":" + provider_model(*provider_) + ":" + prompts::sha256_of(base_prompt_).substr(0, 8);
  }
  std::map<std::string, std::string> prompt_sha256() const override {
    return {{std::string(prompt_name_), prompts::sha256_of(base_prompt_)}};
  }

 protected:
  // CIReVL:src/utils.py: base prompt, then the caption and instruction lines; no
  // "Edited Description:" cue, the model writes the label itself.
  std::vector<ChatMessage> messages_for(const EditInput& input) const override {
    return {text_message("user", std::string(base_prompt_) + "\nImage Content: " + input.caption +
                                     "\nInstruction: " + input.modification)};
  }
  std::optional<std::string> parse(const std::string& raw) const override { return parse_cirevl_edit(raw); }
  // §3.3: the instruction itself stands in for the edit.
  std::string fallback_for(const EditInput& input) const override { return input.modification; }

 private:
  std::string name_;
  std::string_view prompt_name_;
  std::string_view base_prompt_;
};

// SEIZE/LDRE send no sampling parameters, so OpenAI's defaults applied (t=1, top_p=1); §6.2 wants
// them explicit.
SamplingOptions seize_default_sampling() {
  SamplingOptions s;
  s.temperature = 1.0;
  s.top_p = 1.0;
  s.max_tokens = 128;
  return s;
}

// CIReVL:src/openai_api.py.
SamplingOptions cirevl_default_sampling() {
  SamplingOptions s;
  s.temperature = 0.0;
  s.top_p = 1.0;
  s.max_tokens = 700;
  s.stop = {"\n\n", "<|endoftext|>"};
  return s;
}

EditorFactory cirevl_factory(std::string name, std::string_view prompt_name, std::string_view prompt) {
  return [name, prompt_name, prompt](std::shared_ptr<Provider> provider, const SamplingOptions* sampling) {
    prompts::verify_prompt(prompt_name);
    return std::make_shared<CirevlEditor>(std::move(provider), sampling ? *sampling : cirevl_default_sampling(), name,
                                          prompt_name, prompt);
  };
}

}  // namespace

std::string parse_seize_edit(const std::string& raw) {
  std::string text = strip_chars(raw, "\n");
  if (text.rfind(kEditedLabel, 0) == 0) text = strip_chars(text.substr(kEditedLabel.size()), " ");
  return text;
}

std::optional<std::string> parse_cirevl_edit(const std::string& raw) {
  size_t start = 0;
  while (start <= raw.size()) {
    const size_t end = std::min(raw.find('\n', start), raw.size());
    const std::string line = raw.substr(start, end - start);
    const size_t first = line.find_first_not_of(kPythonWhitespace);
    if (first != std::string::npos && line.compare(first, kEditedLabel.size(), kEditedLabel) == 0) {
      // line.split(':')[1]: the text between the first and the second colon (faithful quirk).
      const size_t colon = line.find(':');
      const size_t next = line.find(':', colon + 1);
      std::string text = strip_chars(line.substr(colon + 1, next == std::string::npos ? std::string::npos : next - colon - 1),
                                     kPythonWhitespace);
      if (text.empty()) return std::nullopt;
      return text;
    }
    start = end + 1;
  }
  return std::nullopt;
}

std::vector<std::pair<std::string, EditorFactory>> builtin_editors() {
  return {
      {"seize_ldre",
       [](std::shared_ptr<Provider> provider, const SamplingOptions* sampling) -> std::shared_ptr<const Editor> {
         prompts::verify_prompt("seize_system");
         prompts::verify_prompt("seize_user_template");
         return std::make_shared<SeizeLdreEditor>(std::move(provider), sampling ? *sampling : seize_default_sampling());
       }},
      {"cirevl_contextual", cirevl_factory("cirevl_contextual", "contextual_modifier_prompt", prompts::kCirevlContextual)},
      {"cirevl_structural", cirevl_factory("cirevl_structural", "structural_modifier_prompt", prompts::kCirevlStructural)},
      {"cirevl_structural_fashion", cirevl_factory("cirevl_structural_fashion", "structural_modifier_prompt_fashion",
                                                   prompts::kCirevlStructuralFashion)},
      {"cirevl_simple", cirevl_factory("cirevl_simple", "simple_modifier_prompt", prompts::kCirevlSimple)},
      {"cirevl_short", cirevl_factory("cirevl_short", "short_modifier_prompt", prompts::kCirevlShort)},
      {"cirevl_short_focus_object", cirevl_factory("cirevl_short_focus_object", "short_focus_object_modifier_prompt",
                                                   prompts::kCirevlShortFocusObject)},
  };
}

}  // namespace cir::gen
