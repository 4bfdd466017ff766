// The built-in captioner and editors behind gen.h's registry, and their answer parsers (exposed
// for the unit tests).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cir/gen.h"

namespace cir::gen {

/// "provider_vlm": a vision-chat provider with the "seize" or "cirevl" preset.
std::shared_ptr<const Captioner> make_provider_vlm(std::shared_ptr<Provider> provider, const CaptionerOptions& options);

/// "seize_ldre" and the "cirevl_*" variants, by registry name.
std::vector<std::pair<std::string, EditorFactory>> builtin_editors();

/// SEIZE/LDRE answer cleanup (§2.2 engine rule): strip newlines at both ends; when the answer
/// starts with "Edited Description:", drop that label and the spaces around the rest. Every
/// shipped upstream edit passes through unchanged.
std::string parse_seize_edit(const std::string& raw);

/// CIReVL's parser (§3.3, faithful): the first line whose left-stripped text starts with
/// "Edited Description:", then line.split(':')[1].strip() (text between the first and second
/// colon). nullopt when no line matches or the text is empty (callers fall back).
std::optional<std::string> parse_cirevl_edit(const std::string& raw);

/// True for errors that mean the provider cannot serve any item (unreachable after retries,
/// refused credentials or model, quota): batches rethrow these instead of recording per-item
/// fallbacks, so a run stops and resumes from the cache later.
bool provider_unusable(const Error& error);

/// The model id part of Provider::describe() ("model@url").
std::string provider_model(const Provider& provider);

/// §6.6's per-item seed: 31 bits of SHA-256("<run seed>:<item>"), so reruns and resumed runs ask
/// the same questions (and hit the cache). Captioners key it by item id, phrase tables by concept.
uint64_t item_seed(uint64_t run_seed, const std::string& item_id);

/// Shortest decimal form of a sampling value for keys ("1", "0.9").
std::string short_number(double value);

}  // namespace cir::gen
