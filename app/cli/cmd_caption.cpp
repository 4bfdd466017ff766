// `cir index caption` (gallery captions into the index's caption store) and
// `cir index captions export|import` (SEIZE's JSON layout), plus the generation flags every
// command that talks to a captioner or editor shares.
#include <iostream>

#include "cir/engine.h"
#include "cli_common.h"

namespace cir::cli {

void add_llm_flags(CLI::App* cmd, LlmFlags& f, const std::string& cache_help) {
  cmd->add_option("--llm", f.llm, "OpenAI-compatible server URL (http://host:port or .../v1); without it: replay only");
  cmd->add_option("--llm-model", f.llm_model, "Model id sent to the server");
  cmd->add_option("--llm-fingerprint", f.llm_fingerprint, "Model identity for the response cache (GGUF sha, revision)");
  cmd->add_option("--llm-cache", f.llm_cache, cache_help);
  cmd->add_option("--llm-concurrency", f.llm_concurrency, "In-flight requests to the server")->capture_default_str();
}

gen::ProviderSpec provider_spec(const LlmFlags& f, const std::string& default_cache) {
  if (!f.llm.empty() && f.llm_model.empty()) throw Error(ErrorCode::kInvalidArgument, "--llm needs --llm-model NAME");
  gen::ProviderSpec spec;
  spec.base_url = f.llm;
  spec.model = f.llm_model;
  spec.model_fingerprint = f.llm_fingerprint;
  spec.max_concurrency = f.llm_concurrency;
  spec.cache_path = !f.llm.empty() && f.llm_cache.empty() ? default_cache : f.llm_cache;
  return spec;
}

void add_generation_flags(CLI::App* cmd, GenerationFlags& f) {
  add_llm_flags(cmd, f, "Response cache (SQLite; default <index>/llm-cache.sqlite)");
  cmd->add_option("--captioner", f.captioner, "provider_vlm (default with --llm) | shapes-oracle");
  cmd->add_option("--editor", f.editor, "Editor for every method (default: seize_ldre / cirevl_<variant>); shapes-oracle");
  cmd->add_option("--captioner-key", f.captioner_key, "Stored caption set to use (see `cir index captions`)");
  cmd->add_option("--editor-key", f.editor_key, "Stored edit set to use");
  cmd->add_option("--n", f.n, "Captions per image (default: the preset's, seize 15 / cirevl 1)")->check(CLI::Range(1, 256));
  cmd->add_option("--prompt-preset", f.prompt_preset, "Captioner prompt: seize | cirevl | spn (SPN4CIR's 10-word captions)")->capture_default_str();
  cmd->add_option("--temperature", f.temperature, "Captioner temperature (default: the preset's)");
  cmd->add_option("--top-p", f.top_p, "Captioner nucleus top-p (default: the preset's)");
  cmd->add_option("--max-tokens", f.max_tokens, "Captioner max tokens per caption (default: the preset's)");
}

engine::GenerationOptions generation_options(const GenerationFlags& f, const std::string& index_dir) {
  engine::GenerationOptions o;
  // Beside the index by default, so a rerun (or a resumed eval) answers from the cache; callers
  // that do not know the index yet pass "" and fill it in later.
  o.provider = provider_spec(f, index_dir.empty() ? "" : index_dir + "/llm-cache.sqlite");
  if (f.prompt_preset != "seize" && f.prompt_preset != "cirevl" && f.prompt_preset != "spn")
    throw Error(ErrorCode::kInvalidArgument, "--prompt-preset: expected seize, cirevl or spn, got '" + f.prompt_preset + "'");
  o.captioner = f.captioner;
  o.editor = f.editor;
  o.captioner_key = f.captioner_key;
  o.editor_key = f.editor_key;
  o.captioner_options.preset = f.prompt_preset;
  o.captioner_options.n = f.n;
  // gen uses the preset's decoding for default-constructed sampling; a flag replaces all of it,
  // so the unset ones take the seize preset's values (generation.md 2.1).
  if (f.temperature || f.top_p || f.max_tokens) {
    o.captioner_options.sampling.temperature = f.temperature.value_or(1.0);
    o.captioner_options.sampling.top_p = f.top_p.value_or(0.9);
    o.captioner_options.sampling.max_tokens = f.max_tokens.value_or(48);
  }
  return o;
}

namespace {

void register_caption(CLI::App* parent) {
  struct Args {
    std::string index;
    GenerationFlags flags;
    int batch_size = 8;
    int64_t max_items = 0;
    bool quiet = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = parent->add_subcommand("caption", "Caption the gallery into the index (resumable; SEIZE/LDRE/CIReVL read it)");
  cmd->add_option("index", a->index, "Index directory")->required();
  add_generation_flags(cmd, a->flags);
  cmd->add_option("--batch-size", a->batch_size, "Items per batch (each batch is committed)")->capture_default_str();
  cmd->add_option("--max-items", a->max_items, "Caption only the first N items");
  cmd->add_flag("--quiet", a->quiet, "No progress output");
  cmd->callback([a] {
    engine::CaptionIndexOptions o;
    o.generation = generation_options(a->flags, a->index);
    o.batch_size = a->batch_size;
    o.max_items = a->max_items;
    o.progress = !a->quiet;
    const auto r = engine::caption_index(a->index, o);
    std::cout << "captioner " << r.captioner_key << ": " << r.n_items << " items, " << r.n_already
              << " already captioned, " << r.n_captioned << " captioned, " << r.n_failed << " failed in " << r.seconds
              << " s\n";
    if (r.provider_stats) std::cout << provider_usage_line(*r.provider_stats) << "\n";
    for (const auto& [id, why] : r.failures) std::cout << "  failed: " << id << ": " << why << "\n";
    if (r.n_failed > 0) std::cout << "rerun the same command to retry the failed items\n";
  });
}

void register_captions(CLI::App* parent) {
  auto* cmd = parent->add_subcommand("captions", "Export or import generated captions and edits (SEIZE's JSON layout)");
  cmd->require_subcommand(1);
  struct Args {
    std::string index, file, captioner_key, editor_key;
  };
  auto ex = std::make_shared<Args>();
  auto* exp = cmd->add_subcommand("export", "Write multi_caption_opt / multi_gpt-3.5_opt entries");
  exp->add_option("index", ex->index, "Index directory")->required();
  exp->add_option("--out", ex->file, "JSON file to write")->required();
  exp->add_option("--captioner-key", ex->captioner_key, "Caption set (default: the only one)");
  exp->add_option("--editor-key", ex->editor_key, "Edit set (default: the only one of that caption set)");
  exp->callback([ex] {
    const int64_t n = engine::export_captions(ex->index, ex->file, ex->captioner_key, ex->editor_key);
    std::cout << "exported " << n << " entries to " << ex->file << "\n";
  });
  auto im = std::make_shared<Args>();
  auto* imp = cmd->add_subcommand("import", "Read a SEIZE/LDRE captions JSON (e.g. CIRCO annotations/test.json)");
  imp->add_option("index", im->index, "Index directory")->required();
  imp->add_option("--from", im->file, "JSON file to read")->required();
  imp->add_option("--captioner-key", im->captioner_key, "Key to store the captions under")
      ->default_str("import:multi_caption_opt");
  imp->add_option("--editor-key", im->editor_key, "Key to store the edits under");
  imp->callback([im] {
    const auto r = engine::import_captions(im->index, im->file, im->captioner_key, im->editor_key);
    std::cout << "imported " << r.n_matched << " of " << r.n_entries << " entries: " << r.n_captions << " captions ("
              << r.captioner_key << "), " << r.n_edits << " edits (" << r.editor_key << ")\n";
    for (const auto& id : r.unmatched) std::cout << "  no item for reference '" << id << "'\n";
  });
}

}  // namespace

void register_caption_subcommands(CLI::App* index_command) {
  register_caption(index_command);
  register_captions(index_command);
}

}  // namespace cir::cli
