// cir gen (L1): the generative half — OpenAI-compatible providers (chat and completions), the
// SQLite response cache, and the captioners and editors that SEIZE, LDRE, CIReVL, SEARLE's
// phrase table and SPN4CIR's positives are built from. Spec: ../shared/docs/generation.md.
//
// Contract:
// - Depends on core only (JSON and HTTP stay inside src/gen). Nothing else in cir speaks HTTP
//   to a model server.
// - A Provider is safe to call from several threads; it bounds its own in-flight requests
//   (ProviderSpec::max_concurrency) and retries per generation.md §6.3. Captioners and editors
//   are stateless after construction and thread-safe; their *_batch calls fan out concurrently
//   up to the provider's limit.
// - Every sampling parameter is sent explicitly (§6.2). Only successful responses are cached;
//   the cache key follows §6.7 (image bytes by SHA-256, no URL/key/timeouts in it).
// - Errors: cir::Error. kIo for an unreachable server or a timeout (message names the URL and
//   what happened), kResourceExhausted for a quota 429 or a request over its deadline,
//   kInvalidArgument for 400/422 (the provider's message quoted), kUnsupported for 401/403/404
//   (naming the URL and the model), kCorrupt for a 2xx body that is not a completion (non-JSON,
//   an HTML page, no choices; the message quotes its first bytes). An API key never appears in
//   any message, log or cache row.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cir/core.h"

namespace cir::gen {

/// Sampling parameters; every field is sent (n only when > 1, top_k/min_p only when set).
struct SamplingOptions {
  double temperature = 1.0;
  double top_p = 1.0;
  int max_tokens = 128;
  int n = 1;                       ///< choices per request; emulated by fan-out where unsupported
  std::optional<uint64_t> seed;    ///< derived per item/slot by callers (§6.6)
  std::vector<std::string> stop;
  std::optional<int> top_k;        ///< llama.cpp / vLLM extensions
  std::optional<double> min_p;
};

/// Where a provider lives and how to talk to it. From `--llm URL --llm-model NAME` (CLI), the
/// server's config or a request. The API key is read from CIR_LLM_API_KEY, else OPENAI_API_KEY,
/// when api_key is empty.
struct ProviderSpec {
  std::string base_url;           ///< "http://127.0.0.1:8000" or ".../v1" (both accepted)
  std::string model;              ///< the model id sent in requests
  std::string model_fingerprint;  ///< user-supplied identity for the cache key (GGUF sha, revision)
  std::string api_key;            ///< never logged, never cached
  int max_concurrency = 4;        ///< in-flight requests to this provider
  double connect_timeout_s = 5;
  double read_timeout_s = 60;         ///< text-only requests
  double image_read_timeout_s = 180;  ///< requests with image parts
  int max_attempts = 6;               ///< per generation, §6.3
  double deadline_s = 0;              ///< wall-time budget of one HTTP exchange with its retries; 0 = none
  bool supports_n = true;             ///< false: n > 1 is fanned out with seed + i (Ollama)
  std::string cache_path;             ///< SQLite response cache; empty = no cache
};

/// One part of a chat message: text, or an image sent as a base64 data URL.
struct ContentPart {
  std::string text;                   ///< used when image_bytes is empty
  std::vector<uint8_t> image_bytes;   ///< encoded PNG/JPEG bytes, sent as data:<mime>;base64
  std::string image_mime;             ///< "image/png" or "image/jpeg"
};

struct ChatMessage {
  std::string role;                   ///< "system", "user" or "assistant"
  std::vector<ContentPart> content;   ///< one text part is sent as a plain string
};

struct ChatRequest {
  std::vector<ChatMessage> messages;
  SamplingOptions sampling;
};

struct CompletionRequest {
  std::string prompt;
  SamplingOptions sampling;
};

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};

/// What one (possibly cached, possibly fanned-out) request produced.
struct Generation {
  std::vector<std::string> texts;           ///< one per choice, unparsed
  std::vector<std::string> finish_reasons;  ///< parallel to texts
  std::string model_reported;               ///< the response's "model"
  Usage usage;
  bool from_cache = false;
};

/// Counters of a provider since it was opened (reported at the end of commands and in /metrics).
struct ProviderStats {
  int64_t requests = 0;      ///< HTTP requests sent (retries included)
  int64_t generations = 0;   ///< chat/complete calls answered
  int64_t cache_hits = 0;
  int64_t retries = 0;
  int64_t failures = 0;      ///< calls that threw after their retries
  Usage usage;               ///< tokens of answered, uncached calls
};

class Provider {
 public:
  virtual ~Provider() = default;
  /// POST {base}/v1/chat/completions (or the cache). Throws cir::Error per the contract.
  virtual Generation chat(const ChatRequest& request) = 0;
  /// POST {base}/v1/completions (or the cache).
  virtual Generation complete(const CompletionRequest& request) = 0;
  virtual ProviderStats stats() const = 0;
  /// "model@url" for reports; never contains the key.
  virtual std::string describe() const = 0;
  /// In-flight requests this provider allows; *_batch calls use as many threads.
  virtual int max_concurrency() const { return 1; }
};

/// An OpenAI-compatible provider over HTTP(S). Validates the URL; does not connect yet.
std::shared_ptr<Provider> open_provider(const ProviderSpec& spec);

// ---------------------------------------------------------------------------------------------
// Captioners and editors (§2, §3). Keys are registered like composition methods.

/// The image a captioner sees: its id (cache/logging only) and encoded bytes.
struct CaptionInput {
  std::string item_id;
  std::vector<uint8_t> image_bytes;  ///< PNG or JPEG, as sent
  std::string image_mime;
  /// Side data a built-in captioner may read (the shapes world's scene annotations); providers
  /// ignore it.
  std::map<std::string, std::string> metadata;
};

/// n captions of one image; failed samples are listed, never stored as empty strings.
struct CaptionResult {
  std::vector<std::string> captions;
  int n_failed = 0;
  std::string error;  ///< why the item failed when captions.size() < n
};

struct CaptionerOptions {
  /// Prompt preset: "seize" (multi-caption), "cirevl" (detailed), "spn" (SPN4CIR's "briefly
  /// describe the image in {words} words", generation.md §5.2).
  std::string preset = "seize";
  int words = 10;                ///< the "spn" preset's k (SPN4CIR: FashionIQ 5, CIRR 10)
  int n = 0;                     ///< captions per image; 0 = the preset's (seize 15, cirevl 1)
  /// Left default-constructed (a seed aside), the preset's sampling is used (seize: t=1,
  /// top_p=0.9, 48 tokens; cirevl: t=0, top_p=1, 64 tokens); otherwise it is sent as given (n
  /// comes from `n`). A seed set here is the run seed, mixed with each item_id (§6.6).
  SamplingOptions sampling;
};

class Captioner {
 public:
  virtual ~Captioner() = default;
  /// The captioner spec recorded in the index manifest and the captions table
  /// ("provider_vlm:<model>:seize:n15:t1:p0.9" or "shapes-oracle").
  virtual std::string key() const = 0;
  /// One result per input, in order. Per-item failures are in the result, not thrown; throws
  /// only when the provider is unusable (unreachable after retries, auth, quota).
  virtual std::vector<CaptionResult> caption_batch(const std::vector<CaptionInput>& inputs) const = 0;
};

/// One edit: a caption of the reference and the modification text.
struct EditInput {
  std::string caption;
  std::string modification;
  std::map<std::string, std::string> metadata;  ///< for built-in editors (shapes-oracle)
};

struct EditResult {
  std::string text;     ///< the parsed edited description (the fallback when failed)
  bool failed = false;  ///< the fallback of generation.md §6.5 was used
  std::string raw;      ///< the unparsed model answer (empty for failures)
};

class Editor {
 public:
  virtual ~Editor() = default;
  /// Editor spec with its prompt's SHA-256 ("seize_ldre:<model>:<sha8>", "cirevl_structural:...").
  virtual std::string key() const = 0;
  /// SHA-256 (hex) of each prompt string this editor sends, by name, for reports (§7.2).
  virtual std::map<std::string, std::string> prompt_sha256() const = 0;
  virtual std::vector<EditResult> edit_batch(const std::vector<EditInput>& inputs) const = 0;
};

/// Builds a captioner by name: "provider_vlm" (needs provider) or a registered built-in
/// ("shapes-oracle"). kNotFound lists the names.
std::shared_ptr<const Captioner> make_captioner(const std::string& name, std::shared_ptr<Provider> provider,
                                                const CaptionerOptions& options);
/// Builds an editor by name: "seize_ldre", "cirevl_contextual", "cirevl_structural",
/// "cirevl_structural_fashion", "cirevl_simple", "cirevl_short", or a registered built-in.
std::shared_ptr<const Editor> make_editor(const std::string& name, std::shared_ptr<Provider> provider,
                                          const SamplingOptions* sampling = nullptr);

using CaptionerFactory =
    std::function<std::shared_ptr<const Captioner>(std::shared_ptr<Provider>, const CaptionerOptions&)>;
using EditorFactory = std::function<std::shared_ptr<const Editor>(std::shared_ptr<Provider>, const SamplingOptions*)>;
/// Adds a built-in (layers above gen register e.g. the shapes-oracle pair; tests their fakes).
void register_captioner(const std::string& name, CaptionerFactory factory);
void register_editor(const std::string& name, EditorFactory factory);
std::vector<std::string> captioner_names();
std::vector<std::string> editor_names();

// ---------------------------------------------------------------------------------------------
// SEARLE's GPT phrase table (§4): for every concept, phrases "a photo of {concept} that ..." that
// the L_gpt regulariser of OTI and phi training reads. Upstream sampled them from GPT-Neo 2.7B;
// here any base model behind /v1/completions (compat mode, recorded in `source`).

struct PhraseTable {
  std::map<std::string, std::vector<std::string>> phrases;  ///< concept -> phrases
  /// "<model>@<url>" when built here (compat mode), "GPTNeo27B" for the released table, or what
  /// the file said.
  std::string source;
};

/// §4.2's decoding, mapped onto /v1/completions as §4.4 says.
struct PhraseOptions {
  int n = 256;                      ///< phrases per concept (num_return_sequences)
  double temperature = 0.5;
  int max_length = 35;              ///< total tokens, prompt included (HF max_length)
  std::optional<int> top_k = 50;    ///< HF default; sent as the llama.cpp / vLLM extension
  uint64_t seed = 0;                ///< run seed, mixed with each concept (§6.6)
};

/// "a photo of {concept} that", the concept stripped of surrounding whitespace.
std::string phrase_prompt(const std::string& concept_name);
/// max_tokens for a concept: max_length minus an estimate of the prompt's tokens (words and
/// punctuation; the server's tokenizer is not ours to call, so this is approximate, §4.4), at least 1.
int phrase_max_tokens(const std::string& concept_name, int max_length);
/// SEARLE's process_phrase: every run of newlines -> ". ", then every run of dots -> ".".
std::string process_phrase(const std::string& text);
/// §4.2's concept filter: false when a phrase does not contain the concept verbatim (its first
/// occurrence is where "$" goes), or when there are no phrases.
bool concept_passes_filter(const std::string& concept_name, const std::vector<std::string>& phrases);
/// The table without the concepts that fail the filter.
PhraseTable filter_phrase_table(const PhraseTable& table);

/// Builds the table through `provider` (one completion request per concept with n choices, or a
/// fan-out where n is unsupported; cached, so a rerun after an interruption only asks for what is
/// missing). Each phrase is the prompt plus its continuation (echo done client-side), through
/// process_phrase. Concepts whose requests fail are listed in `failed` (the provider being
/// unusable throws). on_progress(done, total) after each concept.
PhraseTable build_phrase_table(Provider& provider, const std::vector<std::string>& concepts, const PhraseOptions& options,
                               std::vector<std::string>* failed = nullptr,
                               const std::function<void(int64_t, int64_t)>& on_progress = {});

/// JSON {"source": ..., "phrases": {concept: [phrase, ...]}}, written atomically.
void write_phrase_table(const std::string& path, const PhraseTable& table);
/// Reads write_phrase_table's layout, or a bare {concept: [phrases]} object (SEARLE's
/// concept_to_phrases.pkl converted to JSON). kCorrupt naming the file and field.
PhraseTable read_phrase_table(const std::string& path);
/// Concept names: a .csv with a DisplayName column (Open Images' oidv7-class-descriptions.csv,
/// SEARLE's vocabulary) or a text file with one name per line (blank lines and surrounding
/// whitespace dropped). Duplicates keep their first position. kCorrupt / kNotFound naming the file.
std::vector<std::string> read_concepts(const std::string& path);

}  // namespace cir::gen
