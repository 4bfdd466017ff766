// SEIZE and LDRE (methods.md section 2): training-free methods that take, per query, 15 captions
// of the reference and 15 LLM-edited captions and ensemble their CLIP text features. The texts
// come from a JSON file in SEIZE's shipped format (option captions=<json>), or, without one, from
// the engine: the index's stored captions and the editor's edits (ComposeInput::generated_*,
// generation.md 7.1).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <mutex>

#include "compose/caption_rules.h"
#include "compose/methods.h"

namespace cir::compose {
namespace {

using json = nlohmann::json;

struct CaptionEntry {
  std::vector<std::string> ids;  // reference_img_id / reference / pairid / id, as text
  std::string relative_caption;
  std::vector<std::string> captions;  // multi_caption_opt
  std::vector<std::string> edited;    // multi_gpt-3.5_opt
};

std::string id_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  return v.dump();
}

std::vector<std::string> string_list(const json& entry, const char* field, const std::string& where) {
  const auto it = entry.find(field);
  if (it == entry.end()) return {};
  if (!it->is_array()) throw Error(ErrorCode::kCorrupt, where + ": '" + field + "' must be a list of strings");
  std::vector<std::string> out;
  for (const auto& s : *it) {
    if (!s.is_string()) throw Error(ErrorCode::kCorrupt, where + ": '" + field + "' must be a list of strings");
    out.push_back(s.get<std::string>());
  }
  return out;
}

std::vector<CaptionEntry> parse_captions(const std::string& path) {
  const std::string text = read_file_text(path);
  check_json_depth(text, "captions file '" + path + "'");
  json root;
  try {
    root = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(ErrorCode::kCorrupt, "captions file '" + path + "': invalid JSON: " + e.what());
  }
  if (!root.is_array()) throw Error(ErrorCode::kCorrupt, "captions file '" + path + "': expected a list of query dicts");
  std::vector<CaptionEntry> entries;
  for (size_t i = 0; i < root.size(); ++i) {
    const json& e = root[i];
    const std::string where = "captions file '" + path + "' entry " + std::to_string(i);
    if (!e.is_object()) throw Error(ErrorCode::kCorrupt, where + ": expected a dict");
    CaptionEntry c;
    for (const char* key : {"reference_img_id", "reference", "pairid", "id"})
      if (e.contains(key)) c.ids.push_back(id_text(e[key]));
    for (const char* key : {"relative_caption", "caption"})
      if (e.contains(key) && e[key].is_string() && c.relative_caption.empty()) c.relative_caption = e[key].get<std::string>();
    c.captions = string_list(e, "multi_caption_opt", where);
    c.edited = string_list(e, "multi_gpt-3.5_opt", where);
    entries.push_back(std::move(c));
  }
  return entries;
}

std::shared_ptr<const std::vector<CaptionEntry>> cached_captions(const std::string& path) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const std::vector<CaptionEntry>>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = cache[path];
  if (!slot) slot = std::make_shared<const std::vector<CaptionEntry>>(parse_captions(path));
  return slot;
}

// The entry of one query: by its key (gallery id of the reference, or a pair id); among
// several (CIRCO has many queries per reference) the one whose relative caption is the
// query's text; with no key, by the relative caption alone.
const CaptionEntry* match_entry(const std::vector<CaptionEntry>& entries, const std::string& key, const ComposeInput& in) {
  const std::string text = in.texts.empty() ? "" : in.texts[0];
  const CaptionEntry* first = nullptr;
  for (const auto& e : entries) {
    const bool key_hit = !key.empty() && std::find(e.ids.begin(), e.ids.end(), key) != e.ids.end();
    const bool text_hit = !text.empty() && e.relative_caption == text;
    if (key_hit && (text_hit || text.empty())) return &e;
    if (key_hit && !first) first = &e;
    if (key.empty() && text_hit) return &e;
  }
  return first;
}

struct EnsembleRows {
  FloatMatrix edited;    // n x d: n(mean T(edited))
  FloatMatrix captions;  // n x d: n(mean T(captions))
};

// The captions file named by the options (parsed once per process), or none: then the texts
// are the engine's generations carried by each input.
struct CaptionSet {
  std::string path;  // empty: generated texts
  std::shared_ptr<const std::vector<CaptionEntry>> entries;
  int n_captions = 15;
};

CaptionSet read_caption_set(const ComposeContext& context, const std::string& method) {
  CaptionSet set;
  if (auto path = detail::find_option(context, "captions")) {
    set.path = *path;
    set.entries = cached_captions(set.path);
  }
  set.n_captions = static_cast<int>(detail::number_option(context, method, "n_captions", 15));
  if (set.n_captions < 1) throw Error(ErrorCode::kInvalidArgument, "method '" + method + "': n_captions must be >= 1");
  return set;
}

// An input's own generated texts as an entry (the engine fills both lists slot-parallel).
CaptionEntry generated_entry(const ComposeInput& in) {
  CaptionEntry e;
  e.relative_caption = in.texts.empty() ? "" : in.texts[0];
  e.captions = in.generated_captions;
  e.edited = in.generated_edits;
  return e;
}

std::string entry_name(const CaptionEntry& e, size_t index) {
  return "entry " + std::to_string(index) + (e.ids.empty() ? "" : " (id '" + e.ids[0] + "')");
}

// The first `n` strings of one list of an entry; adaptive LDRE weighs caption *slots*, so every
// entry must fill every slot.
std::vector<std::string> full_slots(const std::vector<std::string>& list, int n, const std::string& field,
                                    const std::string& where, const std::string& method) {
  if (static_cast<int>(list.size()) < n)
    throw Error(ErrorCode::kInvalidArgument,
                "method '" + method + "' with adaptive=1: " + where + " has " + std::to_string(list.size()) + " " + field +
                    " captions, every entry needs n_captions = " + std::to_string(n) +
                    " (pass --method-opt n_captions=<k> for files with fewer)");
  return {list.begin(), list.begin() + n};
}

class CaptionMethodBase : public Method {
 public:
  CaptionMethodBase(std::string name, std::string description)
      : name_(std::move(name)), description_(std::move(description)) {}
  std::string name() const override { return name_; }
  std::string description() const override { return description_; }
  bool needs_reference() const override { return false; }
  bool needs_text() const override { return false; }

 protected:
  // The entry of each input; kInvalidArgument saying how to provide captions when one has none.
  std::vector<CaptionEntry> entries_of(const std::vector<ComposeInput>& inputs, const ComposeContext& context,
                                       const CaptionSet& set, bool need_captions) const {
    std::vector<CaptionEntry> out;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const std::string key = i < context.query_keys.size() ? context.query_keys[i] : "";
      if (set.path.empty()) {
        out.push_back(generated_entry(inputs[i]));
        if (out.back().edited.empty() || (need_captions && out.back().captions.empty()))
          throw Error(ErrorCode::kInvalidArgument,
                      "method '" + name_ + "' needs captions and edits for every query; none for reference '" + key +
                          "' (give captions=<SEIZE json>, caption the index with `cir index caption`, or configure "
                          "an editor with --llm)");
        continue;
      }
      const CaptionEntry* e = match_entry(*set.entries, key, inputs[i]);
      if (!e || e->edited.empty() || (need_captions && e->captions.empty()))
        throw Error(ErrorCode::kInvalidArgument,
                    "method '" + name_ + "' needs captions for every query; none found for reference '" + key + "'" +
                        (inputs[i].texts.empty() ? "" : " / text '" + inputs[i].texts[0] + "'") + " in '" + set.path +
                        "' (give a gallery reference whose id is the entry's reference_img_id/reference/pairid, "
                        "with multi_gpt-3.5_opt" + (need_captions ? " and multi_caption_opt" : "") + " lists)");
      out.push_back(*e);
    }
    return out;
  }

  // Mean of the raw features, then normalise (semantic_editing_search.py), per input.
  EnsembleRows ensemble(const std::vector<ComposeInput>& inputs, const ComposeContext& context, bool need_captions) const {
    const CaptionSet set = read_caption_set(context, name_);
    const auto entries = entries_of(inputs, context, set, need_captions);
    std::vector<std::string> texts;
    std::vector<std::pair<int64_t, int64_t>> spans;  // per input: edited count, caption count
    const auto take = [&](const std::vector<std::string>& v) {
      const auto n = std::min<size_t>(v.size(), static_cast<size_t>(set.n_captions));
      texts.insert(texts.end(), v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n));
      return static_cast<int64_t>(n);
    };
    for (const CaptionEntry& e : entries) {
      const int64_t n_edited = take(e.edited);
      spans.emplace_back(n_edited, need_captions ? take(e.captions) : 0);
    }
    const FloatMatrix feats = context.encode_texts(texts);
    EnsembleRows rows{FloatMatrix(static_cast<int64_t>(inputs.size()), context.embed_dim),
                      FloatMatrix(static_cast<int64_t>(inputs.size()), context.embed_dim)};
    int64_t cursor = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const auto mean_into = [&](float* dst, int64_t count) {
        for (int64_t r = 0; r < count; ++r)
          for (int64_t c = 0; c < feats.cols; ++c) dst[c] += feats.row(cursor + r)[c] / static_cast<float>(count);
        cursor += count;
      };
      mean_into(rows.edited.row(static_cast<int64_t>(i)), spans[i].first);
      mean_into(rows.captions.row(static_cast<int64_t>(i)), spans[i].second);
    }
    normalize_rows(rows.edited);
    normalize_rows(rows.captions);
    return rows;
  }

  std::string name_;
  std::string description_;
};

// SEIZE (methods.md 2.2): two rows per query, e = n(mean T(edited)) and c = n(mean T(captions)),
// combined by the similarity form (default) or one of the rank forms.
class SeizeMethod : public CaptionMethodBase {
 public:
  using CaptionMethodBase::CaptionMethodBase;
  bool uses_scoring() const override { return true; }

  FloatMatrix compose(const std::vector<ComposeInput>& inputs, const ComposeContext& context) const override {
    return ensemble(inputs, context, false).edited;
  }

  std::vector<ScoringQuery> compose_scoring(const std::vector<ComposeInput>& inputs,
                                            const ComposeContext& context) const override {
    const detail::SeizeRule rule = detail::read_seize_rule(context, name_);
    const EnsembleRows rows = ensemble(inputs, context, true);
    std::vector<ScoringQuery> out(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      out[i].vectors = FloatMatrix(2, context.embed_dim);
      std::copy_n(rows.edited.row(static_cast<int64_t>(i)), context.embed_dim, out[i].vectors.row(0));
      std::copy_n(rows.captions.row(static_cast<int64_t>(i)), context.embed_dim, out[i].vectors.row(1));
      if (rule.form == detail::SeizeForm::kSimilarity) {
        out[i].combine = [rule](const float* ip) {
          return detail::seize_similarity_score(ip[0], ip[1], rule.alpha_pos, rule.alpha_neg);
        };
        continue;
      }
      // A rank needs every other item's score: a caller scoring item by item would get wrong
      // numbers, so it gets an error instead.
      out[i].combine = [](const float*) -> float {
        throw Error(ErrorCode::kUnsupported,
                    "method 'seize' with form=rank/rank_steps ranks every item, so the caller must score the whole "
                    "item set at once (compose::score_items); this caller scores items one at a time");
      };
      out[i].combine_all = [rule](const FloatMatrix& ip, float* scores) {
        detail::seize_rank_scores(ip, rule.form, rule.rank_lambda, scores);
      };
    }
    return out;
  }
};

// LDRE (methods.md 2.3): the plain ensemble n(mean T(edited)), or with adaptive=1 the weighted
// sum of the per-caption features with one global weight per caption slot.
class LdreMethod : public CaptionMethodBase {
 public:
  using CaptionMethodBase::CaptionMethodBase;

  FloatMatrix compose(const std::vector<ComposeInput>& inputs, const ComposeContext& context) const override {
    if (!detail::bool_option(context, name_, "adaptive", false)) return ensemble(inputs, context, false).edited;
    return adaptive(inputs, context);
  }

 private:
  struct AdaptiveSettings {
    int top_k = 5;
    double temperature = 0.04;
  };

  AdaptiveSettings read_adaptive(const ComposeContext& context) const {
    AdaptiveSettings s;
    s.top_k = static_cast<int>(detail::number_option(context, name_, "adaptive_topk", s.top_k));
    s.temperature = detail::number_option(context, name_, "adaptive_temperature", s.temperature);
    if (s.top_k < 1 || !(s.temperature > 0))
      throw Error(ErrorCode::kInvalidArgument, "method '" + name_ + "': need adaptive_topk >= 1 and adaptive_temperature > 0");
    if (!context.gallery_scores)
      throw Error(ErrorCode::kUnsupported, "method '" + name_ + "' with adaptive=1 weighs caption slots by how the "
                                           "captions score the gallery, and this caller provides no gallery scores");
    return s;
  }

  // e^q = sum_i w_i n(T(edited_i^q)), not re-normalised (divergent_caption_ensemble.py).
  FloatMatrix adaptive(const std::vector<ComposeInput>& inputs, const ComposeContext& context) const {
    const AdaptiveSettings s = read_adaptive(context);
    const CaptionSet set = read_caption_set(context, name_);
    // The reference weighs slots over every query of its file; a batch of generated edits is
    // not that set, so adaptive weights stay a property of a file.
    if (set.path.empty())
      throw Error(ErrorCode::kUnsupported,
                  "method 'ldre' with adaptive=1 weighs caption slots over every query of a captions file: export the "
                  "generated ones (`cir index captions export`) and pass captions=<that file>");
    const std::vector<float> weights = slot_weights(set, s, context);
    const auto entries = entries_of(inputs, context, set, false);
    std::vector<std::string> texts;
    for (size_t i = 0; i < entries.size(); ++i) {
      const auto slots = full_slots(entries[i].edited, set.n_captions, "edited", "the query's entry", name_);
      texts.insert(texts.end(), slots.begin(), slots.end());
    }
    FloatMatrix feats = context.encode_texts(texts);
    normalize_rows(feats);
    FloatMatrix out(static_cast<int64_t>(inputs.size()), context.embed_dim);
    for (int64_t q = 0; q < out.rows; ++q)
      for (int slot = 0; slot < set.n_captions; ++slot) {
        const float* f = feats.row(q * set.n_captions + slot);
        for (int64_t c = 0; c < out.cols; ++c) out.row(q)[c] += weights[static_cast<size_t>(slot)] * f[c];
      }
    return out;
  }

  // The weights are a property of (captions file, gallery, settings): the reference sums the
  // penalties over every query of the file, so they are computed over all entries, once.
  std::vector<float> slot_weights(const CaptionSet& set, const AdaptiveSettings& s, const ComposeContext& context) const {
    static std::mutex mutex;
    static std::map<std::string, std::vector<float>> cache;
    const std::string key = set.path + "|" + std::to_string(set.n_captions) + "|" + std::to_string(s.top_k) + "|" +
                            std::to_string(s.temperature) + "|" + context.gallery_key;
    std::lock_guard<std::mutex> lock(mutex);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
    const std::vector<double> penalties = slot_penalties(set, s, context);
    return cache[key] = detail::ldre_weights(penalties, s.temperature);
  }

  // D_i = sum over entries q of the top-k of max(0, <b_i^q, g> - <f_i^q, g>) over the gallery.
  std::vector<double> slot_penalties(const CaptionSet& set, const AdaptiveSettings& s, const ComposeContext& context) const {
    const int n = set.n_captions;
    std::vector<double> penalties(static_cast<size_t>(n), 0.0);
    const auto& entries = *set.entries;
    for (size_t j = 0; j < entries.size(); ++j) {
      const std::string where = entry_name(entries[j], j) + " of '" + set.path + "'";
      std::vector<std::string> texts = full_slots(entries[j].edited, n, "edited (multi_gpt-3.5_opt)", where, name_);
      const auto plain = full_slots(entries[j].captions, n, "plain (multi_caption_opt)", where, name_);
      texts.insert(texts.end(), plain.begin(), plain.end());
      FloatMatrix rows = context.encode_texts(texts);  // n edited rows, then n plain rows
      normalize_rows(rows);
      const FloatMatrix scores = context.gallery_scores(rows);
      if (scores.rows != 2 * n)
        throw Error(ErrorCode::kInternal, "gallery_scores returned " + std::to_string(scores.rows) + " rows for " +
                                              std::to_string(2 * n));
      for (int slot = 0; slot < n; ++slot)
        penalties[static_cast<size_t>(slot)] +=
            detail::ldre_slot_penalty(scores.row(slot), scores.row(n + slot), scores.cols, 1, s.top_k);
    }
    return penalties;
  }
};

}  // namespace

std::shared_ptr<const Method> make_seize() {
  return std::make_shared<SeizeMethod>(
      "seize",
      "SEIZE: s_after + alpha_pos max(d,0) + alpha_neg min(d,0) over edited vs plain caption ensembles, or a rank "
      "form (options captions=<json>, form=similarity|rank|rank_steps)");
}

std::shared_ptr<const Method> make_ldre() {
  return std::make_shared<LdreMethod>(
      "ldre", "LDRE: n(mean T(edited captions)), or adaptive slot weights with adaptive=1 (captions=<json>, else the "
      "index's generated captions and edits)");
}

}  // namespace cir::compose
