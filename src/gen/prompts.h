// The upstream prompt strings, byte for byte, with the SHA-256 values generation.md lists for
// them (§2.2, §3.1, §3.2). Editors and captioners send these bytes; make_editor re-hashes them
// and refuses to run if a byte changed.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace cir::gen::prompts {

/// SEIZE / LDRE editor (SEIZE:src/LLM-based_editing_reasoner_*.py, LDRE:src/reasoning_and_editing.py).
extern const std::string_view kSeizeSystem;        ///< 110 bytes
extern const std::string_view kSeizeUserTemplate;  ///< 607 bytes, two "{}" placeholders (caption, instruction)
/// CIReVL (Vision_by_Language:src/prompts.py): the BLIP-2 caption prompt and the LLM base prompts.
extern const std::string_view kCirevlBlipPrompt;        ///< blip_prompt, 96 bytes
extern const std::string_view kCirevlContextual;        ///< contextual_modifier_prompt (CIRR)
extern const std::string_view kCirevlStructural;        ///< structural_modifier_prompt (CIRCO)
extern const std::string_view kCirevlStructuralFashion; ///< structural_modifier_prompt_fashion (FashionIQ)
extern const std::string_view kCirevlSimple;            ///< simple_modifier_prompt (main.py default)
extern const std::string_view kCirevlShort;             ///< short_modifier_prompt (GeneCIS)
extern const std::string_view kCirevlShortFocusObject;  ///< short_focus_object_modifier_prompt (GeneCIS)

struct PromptInfo {
  std::string_view name;             ///< upstream variable name
  std::string_view text;
  std::string_view expected_sha256;  ///< from generation.md
  size_t expected_bytes;
};

/// Every embedded prompt with its expected fingerprint.
const std::vector<PromptInfo>& all_prompts();

/// Hex SHA-256 of a prompt's UTF-8 bytes.
std::string sha256_of(std::string_view text);

/// Throws kInternal when an embedded prompt no longer matches its recorded SHA-256.
void verify_prompt(std::string_view name);

/// Python's "...{}...{}".format(a, b): each "{}" in order takes the next argument; the arguments
/// are inserted verbatim (no further substitution inside them).
std::string format_positional(std::string_view templ, const std::vector<std::string>& args);

}  // namespace cir::gen::prompts
