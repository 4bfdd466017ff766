// Gallery captioning (`cir index caption`) and the caption store's import/export in SEIZE's JSON
// layout (generation.md 2.4), so shipped SEIZE/LDRE files load into an index and ours can be
// shared with the upstream scorers.
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <optional>
#include <set>
#include <unordered_map>

#include "engine/generate.h"

namespace cir::engine {
namespace fs = std::filesystem;

namespace {

using json = nlohmann::json;

constexpr const char* kCaptionsField = "multi_caption_opt";
constexpr const char* kEditsField = "multi_gpt-3.5_opt";
constexpr const char* kImportCaptionerKey = "import:multi_caption_opt";

std::vector<index::ItemRecord> live_items(const index::Store& store, int64_t max_items) {
  std::vector<index::ItemRecord> out;
  index::ListRequest page;
  page.with_metadata = false;
  for (;;) {
    const auto items = store.list_items(page);
    out.insert(out.end(), items.begin(), items.end());
    if (max_items > 0 && static_cast<int64_t>(out.size()) >= max_items) {
      out.resize(static_cast<size_t>(max_items));
      return out;
    }
    if (items.size() < static_cast<size_t>(page.limit)) return out;
    page.after_id = items.back().id;
  }
}

// What the manifest records about a captioner: enough to tell two caption sets apart.
std::string captioner_spec_json(const std::string& name, const gen::Captioner& captioner, const gen::CaptionerOptions& o,
                                const gen::Provider* provider) {
  json spec = {{"captioner", name},
               {"key", captioner.key()},
               {"preset", o.preset},
               {"n", detail::caption_count(o)},
               {"temperature", o.sampling.temperature},
               {"top_p", o.sampling.top_p},
               {"max_tokens", o.sampling.max_tokens},
               {"provider", provider ? provider->describe() : ""}};
  return spec.dump();
}

// One batch of items: captioned, then committed in one transaction (the unit a kill -9 loses).
void caption_batch_of(const gen::Captioner& captioner, int n, const std::vector<const index::ItemRecord*>& batch,
                      const std::string& gallery_root, index::CaptionStore& store, CaptionIndexReport& report,
                      Progress& progress) {
  std::vector<gen::CaptionInput> inputs;
  std::vector<const index::ItemRecord*> readable;
  for (const auto* item : batch) {
    try {
      inputs.push_back(detail::caption_input(gallery_root, item->external_id));
      readable.push_back(item);
    } catch (const Error& e) {
      report.failures.emplace_back(item->external_id, e.what());
    }
  }
  const auto results = inputs.empty() ? std::vector<gen::CaptionResult>{} : captioner.caption_batch(inputs);
  std::vector<index::CaptionSample> samples;
  int64_t n_failed = static_cast<int64_t>(batch.size() - readable.size());
  for (size_t i = 0; i < readable.size(); ++i) {
    const auto& r = results.at(i);
    for (size_t s = 0; s < r.captions.size(); ++s)
      samples.push_back({readable[i]->id, captioner.key(), static_cast<int>(s), r.captions[s], false});
    if (static_cast<int>(r.captions.size()) < n) {
      ++n_failed;
      report.failures.emplace_back(readable[i]->external_id,
                                   std::to_string(r.captions.size()) + " of " + std::to_string(n) + " captions" +
                                       (r.error.empty() ? "" : ": " + r.error));
    } else {
      ++report.n_captioned;
    }
  }
  store.add_captions(samples);
  report.n_failed += n_failed;
  progress.advance(static_cast<int64_t>(batch.size()), n_failed);
}

// Item lookup for imported references: external id, file stem, or stem without leading zeros.
class ReferenceMatcher {
 public:
  explicit ReferenceMatcher(const std::vector<index::ItemRecord>& items) {
    for (const auto& item : items) {
      by_name_.emplace(item.external_id, item.id);
      const std::string stem = fs::path(item.external_id).stem().string();
      by_name_.emplace(stem, item.id);
      by_name_.emplace(without_leading_zeros(stem), item.id);
    }
  }
  std::optional<int64_t> find(const std::string& reference) const {
    for (const std::string& name : {reference, without_leading_zeros(reference)})
      if (auto it = by_name_.find(name); it != by_name_.end()) return it->second;
    return std::nullopt;
  }

 private:
  static std::string without_leading_zeros(const std::string& s) {
    const size_t first = s.find_first_not_of('0');
    return first == std::string::npos || first == 0 ? s : s.substr(first);
  }
  std::unordered_map<std::string, int64_t> by_name_;
};

std::string id_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  return v.dump();
}

std::vector<std::string> string_list(const json& entry, const char* field, const std::string& where) {
  std::vector<std::string> out;
  const auto it = entry.find(field);
  if (it == entry.end()) return out;
  if (!it->is_array()) throw Error(ErrorCode::kCorrupt, where + ": '" + field + "' must be a list of strings");
  for (const auto& s : *it) {
    if (!s.is_string()) throw Error(ErrorCode::kCorrupt, where + ": '" + field + "' must be a list of strings");
    out.push_back(s.get<std::string>());
  }
  return out;
}

json read_json_list(const std::string& path) {
  const std::string text = read_file_text(path);  // RegularFile: no hang on a FIFO
  check_json_depth(text, "captions file '" + path + "'");
  json root;
  try {
    root = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(ErrorCode::kCorrupt, "captions file '" + path + "': invalid JSON: " + e.what());
  }
  if (!root.is_array()) throw Error(ErrorCode::kCorrupt, "captions file '" + path + "': expected a list of query dicts");
  return root;
}

// The reference of an entry by SEIZE's id fields, in the order the scorers read them.
std::string entry_reference(const json& e) {
  for (const char* key : {"reference_img_id", "reference", "pairid", "id"})
    if (e.contains(key)) return id_text(e[key]);
  return "";
}

std::string entry_modification(const json& e) {
  for (const char* key : {"relative_caption", "caption"})
    if (e.contains(key) && e[key].is_string()) return e[key].get<std::string>();
  return "";
}

std::string choose_key(const std::vector<std::string>& keys, const std::string& what) {
  if (keys.size() == 1) return keys.front();
  std::string list;
  for (const auto& k : keys) list += (list.empty() ? "" : ", ") + k;
  throw Error(ErrorCode::kInvalidArgument, keys.empty() ? "the index stores no " + what
                                                        : "the index stores several " + what + " (" + list + "): name one");
}

}  // namespace

CaptionIndexReport caption_index(const std::string& index_dir, const CaptionIndexOptions& options) {
  register_builtin_generators();
  if (options.batch_size < 1) throw Error(ErrorCode::kInvalidArgument, "caption: --batch-size must be >= 1");
  const auto t0 = std::chrono::steady_clock::now();
  index::OpenOptions open_options;
  open_options.read_only = true;  // captions live beside the items: the store is only read
  const auto store = index::Store::open(index_dir, open_options);
  const auto provider = detail::open_optional_provider(options.generation.provider);
  const std::string name = detail::captioner_name(options.generation, provider.get());
  if (name.empty())
    throw Error(ErrorCode::kInvalidArgument, "caption: give --llm URL --llm-model NAME (provider_vlm) or --captioner NAME");
  const gen::CaptionerOptions& co = options.generation.captioner_options;
  const auto captioner = gen::make_captioner(name, provider, co);
  auto captions = index::CaptionStore::open(index_dir);
  captions->record_captioner(captioner->key(), captioner_spec_json(name, *captioner, co, provider.get()));

  CaptionIndexReport report;
  report.captioner_key = captioner->key();
  const auto items = live_items(*store, options.max_items);
  report.n_items = static_cast<int64_t>(items.size());
  std::vector<int64_t> ids;
  for (const auto& item : items) ids.push_back(item.id);
  const auto missing = captions->missing_items(ids, captioner->key(), detail::caption_count(co));
  report.n_already = report.n_items - static_cast<int64_t>(missing.size());
  std::unordered_map<int64_t, const index::ItemRecord*> by_id;
  for (const auto& item : items) by_id[item.id] = &item;
  const std::string gallery_root = read_gallery_root(index_dir);
  Progress progress("caption " + captioner->key(), static_cast<int64_t>(missing.size()), options.progress);
  for (size_t begin = 0; begin < missing.size(); begin += static_cast<size_t>(options.batch_size)) {
    std::vector<const index::ItemRecord*> batch;
    for (size_t i = begin; i < std::min(missing.size(), begin + options.batch_size); ++i) batch.push_back(by_id.at(missing[i]));
    caption_batch_of(*captioner, detail::caption_count(co), batch, gallery_root, *captions, report, progress);
  }
  progress.finish();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (provider) report.provider_stats = provider->stats();
  return report;
}

CaptionsImportReport import_captions(const std::string& index_dir, const std::string& json_path,
                                     const std::string& captioner_key, const std::string& editor_key) {
  const json root = read_json_list(json_path);
  index::OpenOptions open_options;
  open_options.read_only = true;
  const auto store = index::Store::open(index_dir, open_options);
  const ReferenceMatcher matcher(live_items(*store, 0));
  auto captions = index::CaptionStore::open(index_dir);
  CaptionsImportReport report;
  report.captioner_key = captioner_key.empty() ? kImportCaptionerKey : captioner_key;
  report.editor_key = editor_key.empty() ? std::string("import:") + kEditsField + "@" + report.captioner_key : editor_key;
  std::vector<index::CaptionSample> caption_rows;
  std::vector<index::EditSample> edit_rows;
  std::map<int64_t, size_t> captioned;  // item -> captions already taken (CIRCO repeats references)
  for (size_t i = 0; i < root.size(); ++i) {
    const json& e = root[i];
    const std::string where = "captions file '" + json_path + "' entry " + std::to_string(i);
    if (!e.is_object()) throw Error(ErrorCode::kCorrupt, where + ": expected a dict");
    ++report.n_entries;
    const std::string reference = entry_reference(e);
    const auto item = matcher.find(reference);
    if (!item) {
      if (report.unmatched.size() < 20) report.unmatched.push_back(reference);
      continue;
    }
    ++report.n_matched;
    const auto plain = string_list(e, kCaptionsField, where);
    const auto edited = string_list(e, kEditsField, where);
    if (!plain.empty() && !captioned.contains(*item)) {
      captioned[*item] = plain.size();
      for (size_t s = 0; s < plain.size(); ++s)
        caption_rows.push_back({*item, report.captioner_key, static_cast<int>(s), plain[s], false});
    }
    const std::string modification = entry_modification(e);
    for (size_t s = 0; s < edited.size(); ++s)
      edit_rows.push_back({*item, modification, report.editor_key, static_cast<int>(s), s < plain.size() ? plain[s] : "",
                           edited[s], false});
  }
  captions->add_captions(caption_rows);
  captions->add_edits(edit_rows);
  report.n_captions = static_cast<int64_t>(caption_rows.size());
  report.n_edits = static_cast<int64_t>(edit_rows.size());
  return report;
}

int64_t export_captions(const std::string& index_dir, const std::string& json_path, const std::string& captioner_key,
                        const std::string& editor_key) {
  index::OpenOptions open_options;
  open_options.read_only = true;
  const auto store = index::Store::open(index_dir, open_options);
  auto captions = index::CaptionStore::open(index_dir);
  const std::string ckey = captioner_key.empty() ? choose_key(captions->captioner_keys(), "caption sets") : captioner_key;
  std::string ekey = editor_key;
  if (ekey.empty()) {
    std::vector<std::string> fitting;
    for (const auto& k : captions->editor_keys())
      if (k.ends_with("@" + ckey)) fitting.push_back(k);
    if (fitting.size() > 1) ekey = choose_key(fitting, "edit sets of '" + ckey + "'");
    if (fitting.size() == 1) ekey = fitting.front();
  }
  std::map<int64_t, std::vector<std::string>> plain;
  for (const auto& s : captions->all_captions(ckey))
    if (!s.failed) plain[s.item_id].push_back(s.text);
  // (item, modification) -> edits by slot, in store order.
  std::map<std::pair<int64_t, std::string>, std::vector<index::EditSample>> edits;
  if (!ekey.empty())
    for (auto& e : captions->all_edits(ekey)) edits[{e.item_id, e.modification}].push_back(std::move(e));
  std::map<int64_t, std::string> names;
  for (const auto& item : live_items(*store, 0)) names[item.id] = item.external_id;
  json out = json::array();
  std::set<int64_t> with_edits;
  for (const auto& [key, slots] : edits) {
    auto name = names.find(key.first);
    if (name == names.end()) continue;  // removed since
    json e = {{"reference", name->second}, {"relative_caption", key.second}};
    json texts = json::array(), failed = json::array();
    for (const auto& s : slots) {
      texts.push_back(s.text);
      failed.push_back(s.failed);
    }
    e[kCaptionsField] = plain.contains(key.first) ? json(plain[key.first]) : json::array();
    e[kEditsField] = texts;
    e["failed"] = failed;  // per slot, generation.md 2.2; upstream readers ignore the field
    out.push_back(e);
    with_edits.insert(key.first);
  }
  for (const auto& [item, texts] : plain) {
    auto name = names.find(item);
    if (name == names.end() || with_edits.contains(item)) continue;
    out.push_back({{"reference", name->second}, {kCaptionsField, texts}});
  }
  write_file_atomic(json_path, out.dump(2) + "\n");
  return static_cast<int64_t>(out.size());
}

}  // namespace cir::engine
