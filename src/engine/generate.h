// Private to src/engine: the engine's generation state (provider, captioners, editors, the
// index's caption store) and the helpers query-time edits and gallery captioning share.
#pragma once

#include <mutex>

#include "cir/engine.h"

namespace cir::engine {

struct Engine::Generation {
  std::string index_dir;
  GenerationOptions options;
  std::shared_ptr<gen::Provider> provider;
  mutable std::mutex mutex;  // guards what is built lazily and the counters
  /// Opened on first use: an engine that never runs a generated method leaves the index
  /// directory as it found it.
  mutable std::unique_ptr<index::CaptionStore> captions;
  mutable std::map<std::string, std::shared_ptr<const gen::Captioner>> captioners;  // by preset
  mutable std::map<std::string, std::shared_ptr<const gen::Editor>> editors;        // by name
  mutable GenerationStats stats;
};

namespace detail {

/// The generation state's caption store, opened on first use.
index::CaptionStore& caption_store(const Engine::Generation& g);

/// The methods that search generated texts.
bool is_generated_method(const std::string& method);

/// The provider of a spec, or null when it names no URL.
std::shared_ptr<gen::Provider> open_optional_provider(const gen::ProviderSpec& spec);

/// Captions per image under captioner options: theirs, else the preset's (seize 15, cirevl 1).
int caption_count(const gen::CaptionerOptions& options);

/// The captioner name options select: theirs, else "provider_vlm" with a provider, else "".
std::string captioner_name(const GenerationOptions& options, const gen::Provider* provider);

/// The image of a stored item as a captioner input (its bytes, mime, and the absolute path in
/// metadata "path" for built-ins). kIo/kNotFound when the file cannot be read.
gen::CaptionInput caption_input(const std::string& gallery_root, const std::string& external_id);

/// "image/png" or "image/jpeg" by extension ("image/png" when unknown: providers sniff).
std::string image_mime(const std::string& path);

}  // namespace detail
}  // namespace cir::engine
