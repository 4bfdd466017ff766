// Query-time generation (generation.md 7.1): for SEIZE, LDRE and CIReVL queries that name no
// captions file, the reference's captions come from the index's caption store (captioned now
// when missing and a captioner is configured), its edits from the store or the editor, and both
// are stored so the next run (or a resumed `cir eval`) replays them without a model call.
#include "engine/generate.h"

#include <filesystem>

namespace cir::engine {
namespace fs = std::filesystem;

namespace detail {

index::CaptionStore& caption_store(const Engine::Generation& g) {
  std::lock_guard<std::mutex> lock(g.mutex);
  if (!g.captions) g.captions = index::CaptionStore::open(g.index_dir);
  return *g.captions;
}

bool is_generated_method(const std::string& method) {
  return method == "seize" || method == "ldre" || method == "cirevl";
}

std::shared_ptr<gen::Provider> open_optional_provider(const gen::ProviderSpec& spec) {
  return spec.base_url.empty() ? nullptr : gen::open_provider(spec);
}

int caption_count(const gen::CaptionerOptions& options) {
  if (options.n > 0) return options.n;
  return options.preset == "cirevl" ? 1 : 15;
}

std::string captioner_name(const GenerationOptions& options, const gen::Provider* provider) {
  if (!options.captioner.empty()) return options.captioner;
  return provider ? "provider_vlm" : "";
}

std::string image_mime(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".jpg" || ext == ".jpeg" ? "image/jpeg" : "image/png";
}

gen::CaptionInput caption_input(const std::string& gallery_root, const std::string& external_id) {
  gen::CaptionInput in;
  in.item_id = external_id;
  const std::string path = gallery_root.empty() ? external_id : (fs::path(gallery_root) / external_id).string();
  in.image_bytes = read_file_bytes(path);
  in.image_mime = image_mime(path);
  in.metadata["path"] = path;
  return in;
}

}  // namespace detail

namespace {

// What one generated-method query needs: whose captions, how many, and whose edits.
struct Plan {
  std::string preset;  // captioner preset: "seize" (n captions) or "cirevl" (1)
  int n_captions = 15;
  std::string captioner_key;
  std::string edit_key;  // "<editor key>@<captioner key>"
  std::shared_ptr<const gen::Captioner> captioner;  // null: stored captions only
  std::shared_ptr<const gen::Editor> editor;        // null: stored edits only
};

// One query's reference and what it has gathered so far.
struct Job {
  size_t request = 0;
  Plan plan;
  int64_t item_id = -1;      // -1: not a stored item (upload / file): nothing is stored
  std::string reference;     // external id, or the path of a file reference
  std::string image_path;    // absolute, for built-ins (metadata "path")
  std::string modification;
  std::vector<std::string> captions;
  std::vector<index::EditSample> edits;  // by slot; text empty = missing
  int n_generated = 0;                   // edits the editor made for this query
};

std::string option_or(const std::map<std::string, std::string>& options, const std::string& key, const std::string& fallback) {
  auto it = options.find(key);
  return it == options.end() || it->second.empty() ? fallback : it->second;
}

// CIReVL's prompt per dataset (generation.md 3.2, example_benchmark_runs.sh).
std::string cirevl_editor_name(const std::map<std::string, std::string>& method_options) {
  if (auto prompt = option_or(method_options, "prompt", ""); !prompt.empty()) return "cirevl_" + prompt;
  const std::string dataset = option_or(method_options, "dataset", "");
  if (dataset == "circo") return "cirevl_structural";
  if (dataset == "cirr") return "cirevl_contextual";
  if (dataset == "fashioniq") return "cirevl_structural_fashion";
  return "cirevl_simple";
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// The only stored key (of those accepted by `fits`), or kInvalidArgument saying how to choose.
std::string only_stored_key(const std::vector<std::string>& keys, const std::function<bool(const std::string&)>& fits,
                            const std::string& what, const std::string& option) {
  std::vector<std::string> candidates;
  for (const auto& k : keys)
    if (fits(k)) candidates.push_back(k);
  if (candidates.size() == 1) return candidates.front();
  if (candidates.empty())
    throw Error(ErrorCode::kInvalidArgument,
                "no stored " + what + " in the index and no generator configured: caption the index (`cir index caption`), "
                "import a SEIZE file (`cir index captions import`) or pass --llm URL --llm-model NAME");
  throw Error(ErrorCode::kInvalidArgument, "the index stores several " + what + " (" + joined(candidates) +
                                               "): choose one with --method-opt " + option + "=<key>");
}

std::string modification_of(const QueryRequest& r) {
  std::string out;
  for (const auto& t : r.texts) out += (out.empty() ? "" : " and ") + t;
  return out;
}

}  // namespace

void Engine::set_generation(const GenerationOptions& options) {
  register_builtin_generators();
  auto g = std::make_unique<Generation>();
  g->index_dir = store_->dir();
  g->options = options;
  g->provider = detail::open_optional_provider(options.provider);
  // Build what is named now, so a bad name or provider fails before the first query.
  if (const std::string name = detail::captioner_name(options, g->provider.get()); !name.empty())
    g->captioners["seize"] = gen::make_captioner(name, g->provider, options.captioner_options);
  if (!options.editor.empty())
    g->editors[options.editor] =
        gen::make_editor(options.editor, g->provider, options.editor_sampling ? &*options.editor_sampling : nullptr);
  if (g->provider) g->stats.provider = g->provider->describe();
  gen_ = std::move(g);
}

GenerationStats Engine::generation_stats() const {
  if (!gen_) return {};
  std::lock_guard<std::mutex> lock(gen_->mutex);
  GenerationStats s = gen_->stats;
  if (gen_->provider) s.provider_stats = gen_->provider->stats();
  return s;
}

namespace {

// The captioner of a preset, built on first use (CIReVL: one detailed caption, greedy).
std::shared_ptr<const gen::Captioner> captioner_for(const Engine::Generation& g, const std::string& preset) {
  const std::string name = detail::captioner_name(g.options, g.provider.get());
  if (name.empty()) return nullptr;
  std::lock_guard<std::mutex> lock(g.mutex);
  auto& slot = g.captioners[preset];
  if (!slot) {
    gen::CaptionerOptions o = g.options.captioner_options;
    if (preset == "cirevl") {
      // The preset's own decoding (greedy, one detailed caption), whatever SEIZE's flags say.
      o = gen::CaptionerOptions{};
      o.preset = "cirevl";
      o.n = 1;
    }
    slot = gen::make_captioner(name, g.provider, o);
  }
  return slot;
}

std::shared_ptr<const gen::Editor> editor_for(const Engine::Generation& g, const std::string& name) {
  if (name.empty()) return nullptr;
  std::lock_guard<std::mutex> lock(g.mutex);
  auto& slot = g.editors[name];
  if (!slot)
    slot = gen::make_editor(name, g.provider, g.options.editor_sampling ? &*g.options.editor_sampling : nullptr);
  for (const auto& [prompt, sha] : slot->prompt_sha256()) g.stats.prompt_sha256[name + ":" + prompt] = sha;
  return slot;
}

Plan plan_for(const Engine::Generation& g, const QueryRequest& r) {
  Plan p;
  const bool cirevl = r.method == "cirevl";
  p.preset = cirevl ? "cirevl" : "seize";
  p.n_captions = cirevl ? 1 : detail::caption_count(g.options.captioner_options);
  p.captioner = captioner_for(g, p.preset);
  p.captioner_key = option_or(r.method_options, "captioner_key", g.options.captioner_key);
  if (p.captioner_key.empty() && p.captioner) p.captioner_key = p.captioner->key();
  if (p.captioner_key.empty())
    p.captioner_key = only_stored_key(detail::caption_store(g).captioner_keys(), [](const std::string&) { return true; },
                                      "caption sets", "captioner_key");
  const std::string editor_name =
      !g.options.editor.empty() ? g.options.editor : (g.provider ? (cirevl ? cirevl_editor_name(r.method_options) : "seize_ldre") : "");
  p.editor = editor_for(g, editor_name);
  p.edit_key = option_or(r.method_options, "editor_key", g.options.editor_key);
  if (p.edit_key.empty() && p.editor) p.edit_key = p.editor->key() + "@" + p.captioner_key;
  if (p.edit_key.empty()) {
    const std::string suffix = "@" + p.captioner_key;
    p.edit_key = only_stored_key(
        detail::caption_store(g).editor_keys(), [&](const std::string& k) { return k.ends_with(suffix); },
        "edit sets of captions '" + p.captioner_key + "'", "editor_key");
  }
  return p;
}

// Captions every job that lacks them, one caption_batch per captioner; stored items keep theirs.
void fill_captions(const Engine::Generation& g, std::vector<Job>& jobs, const std::string& gallery_root) {
  std::map<const gen::Captioner*, std::vector<Job*>> missing;
  for (auto& job : jobs) {
    if (job.item_id >= 0) job.captions = detail::caption_store(g).captions(job.item_id, job.plan.captioner_key);
    if (static_cast<int>(job.captions.size()) >= job.plan.n_captions || (!job.captions.empty() && !job.plan.captioner)) {
      std::lock_guard<std::mutex> lock(g.mutex);
      ++g.stats.captions_stored;
      continue;
    }
    if (!job.plan.captioner)
      throw Error(ErrorCode::kInvalidArgument, "no stored captions '" + job.plan.captioner_key + "' of reference '" +
                                                   job.reference +
                                                   "' and no captioner configured (run `cir index caption`, import a "
                                                   "SEIZE file, or pass --llm / --captioner)");
    missing[job.plan.captioner.get()].push_back(&job);
  }
  for (auto& [captioner, group] : missing) {
    std::vector<gen::CaptionInput> inputs;
    for (Job* job : group) {
      gen::CaptionInput in = job->item_id >= 0 ? detail::caption_input(gallery_root, job->reference) : gen::CaptionInput{};
      if (job->item_id < 0) {
        in.item_id = job->reference;
        in.image_bytes = read_file_bytes(job->image_path);
        in.image_mime = detail::image_mime(job->image_path);
        in.metadata["path"] = job->image_path;
      }
      inputs.push_back(std::move(in));
    }
    const auto results = captioner->caption_batch(inputs);
    std::vector<index::CaptionSample> samples;
    for (size_t i = 0; i < group.size(); ++i) {
      Job& job = *group[i];
      if (results.at(i).captions.empty())
        throw Error(ErrorCode::kModel, "captioner '" + captioner->key() + "' gave no caption of '" + job.reference +
                                           "': " + results[i].error);
      job.captions = results[i].captions;
      for (size_t s = 0; s < job.captions.size() && job.item_id >= 0; ++s)
        samples.push_back({job.item_id, job.plan.captioner_key, static_cast<int>(s), job.captions[s], false});
    }
    if (!samples.empty()) detail::caption_store(g).add_captions(samples);
    std::lock_guard<std::mutex> lock(g.mutex);
    g.stats.captions_generated += static_cast<int64_t>(group.size());
  }
}

// Edits every slot the store lacks, one edit_batch per editor, and stores them in one go.
void fill_edits(const Engine::Generation& g, std::vector<Job>& jobs) {
  struct Slot {
    Job* job;
    int slot;
  };
  std::map<const gen::Editor*, std::vector<Slot>> missing;
  int64_t n_stored = 0;
  for (auto& job : jobs) {
    const int n_slots = std::min<int>(job.plan.n_captions, static_cast<int>(job.captions.size()));
    job.edits.assign(static_cast<size_t>(n_slots), index::EditSample{});
    if (job.item_id >= 0)
      for (auto& e : detail::caption_store(g).edits(job.item_id, job.modification, job.plan.edit_key))
        if (e.slot < n_slots) job.edits[static_cast<size_t>(e.slot)] = e;
    for (int s = 0; s < n_slots; ++s) {
      if (!job.edits[static_cast<size_t>(s)].text.empty()) {
        ++n_stored;
        continue;
      }
      if (!job.plan.editor)
        throw Error(ErrorCode::kInvalidArgument, "no stored edits '" + job.plan.edit_key + "' of reference '" +
                                                     job.reference + "' with '" + job.modification +
                                                     "' and no editor configured (pass --llm URL --llm-model NAME or "
                                                     "--editor, or import a SEIZE file)");
      missing[job.plan.editor.get()].push_back({&job, s});
    }
  }
  int64_t n_generated = 0, n_failed = 0;
  for (auto& [editor, slots] : missing) {
    std::vector<gen::EditInput> inputs;
    for (const Slot& s : slots) {
      gen::EditInput in;
      in.caption = s.job->captions[static_cast<size_t>(s.slot)];
      in.modification = s.job->modification;
      in.metadata = {{"path", s.job->image_path}, {"reference", s.job->reference}, {"slot", std::to_string(s.slot)}};
      inputs.push_back(std::move(in));
    }
    const auto results = editor->edit_batch(inputs);
    std::vector<index::EditSample> fresh;
    for (size_t i = 0; i < slots.size(); ++i) {
      Job& job = *slots[i].job;
      index::EditSample e{job.item_id, job.modification, job.plan.edit_key, slots[i].slot, inputs[i].caption,
                          results.at(i).text, results[i].failed};
      // Never an empty string into the text encoder (generation.md 2.2): the caption stands in.
      if (e.text.empty()) {
        e.text = e.caption;
        e.failed = true;
      }
      n_failed += e.failed ? 1 : 0;
      job.edits[static_cast<size_t>(slots[i].slot)] = e;
      ++job.n_generated;
      if (job.item_id >= 0) fresh.push_back(e);
    }
    n_generated += static_cast<int64_t>(slots.size());
    if (!fresh.empty()) detail::caption_store(g).add_edits(fresh);
  }
  std::lock_guard<std::mutex> lock(g.mutex);
  g.stats.edits_stored += n_stored;
  g.stats.edits_generated += n_generated;
  g.stats.edits_failed += n_failed;
}

void remember_key(std::vector<std::string>& keys, const std::string& key) {
  if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
}

}  // namespace

void Engine::attach_generations(const std::vector<QueryRequest>& requests, std::vector<compose::ComposeInput>& inputs,
                                std::vector<QueryResult>& results) const {
  std::vector<size_t> wanted;
  for (size_t i = 0; i < requests.size(); ++i)
    if (detail::is_generated_method(requests[i].method) && !requests[i].method_options.contains("captions"))
      wanted.push_back(i);
  if (wanted.empty()) return;
  const Generation& g = *gen_;
  std::vector<Job> jobs;
  for (size_t i : wanted) {
    const QueryRequest& r = requests[i];
    Job job;
    job.request = i;
    job.plan = plan_for(g, r);
    job.modification = modification_of(r);
    if (!r.reference.gallery_id.empty()) {
      const auto rec = store_->find_by_external_id(r.reference.gallery_id);
      if (!rec || rec->removed) throw Error(ErrorCode::kNotFound, "no item '" + r.reference.gallery_id + "' in the index");
      job.item_id = rec->id;
      job.reference = rec->external_id;
      job.image_path = gallery_root_.empty() ? rec->external_id : (fs::path(gallery_root_) / rec->external_id).string();
    } else if (!r.reference.path.empty()) {
      job.reference = job.image_path = r.reference.path;
    } else {
      throw Error(ErrorCode::kInvalidArgument, "method '" + r.method +
                                                   "' captions its reference: give a gallery id or an image file "
                                                   "(uploaded bytes and raw embeddings cannot be captioned here)");
    }
    jobs.push_back(std::move(job));
  }
  fill_captions(g, jobs, gallery_root_);
  fill_edits(g, jobs);
  for (Job& job : jobs) {
    auto& in = inputs[job.request];
    QueryGenerations out;
    out.captioner_key = job.plan.captioner_key;
    out.editor_key = job.plan.edit_key;
    out.n_generated = job.n_generated;
    out.captions.assign(job.captions.begin(), job.captions.begin() + static_cast<std::ptrdiff_t>(job.edits.size()));
    for (const auto& e : job.edits) {
      out.edits.push_back(e.text);
      out.failed.push_back(e.failed);
    }
    in.generated_captions = out.captions;
    in.generated_edits = out.edits;
    results[job.request].generated = std::move(out);
    std::lock_guard<std::mutex> lock(g.mutex);
    remember_key(g.stats.captioner_keys, job.plan.captioner_key);
    remember_key(g.stats.editor_keys, job.plan.edit_key);
  }
}

}  // namespace cir::engine
