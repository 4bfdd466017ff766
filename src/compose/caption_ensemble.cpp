// SEIZE and LDRE (methods.md section 2): training-free methods that read, per query, 15 BLIP-2
// captions of the reference and 15 LLM-edited captions from a JSON file in SEIZE's shipped
// format, and ensemble their CLIP text features. Captions are generated offline (BLIP-2 + an
// LLM); cir only consumes them.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <mutex>

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
  std::ifstream in(path);
  if (!in) throw Error(ErrorCode::kNotFound, "captions file '" + path + "' cannot be opened");
  json root;
  try {
    root = json::parse(in);
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

class CaptionEnsembleMethod : public Method {
 public:
  CaptionEnsembleMethod(std::string name, bool scoring, std::string description)
      : name_(std::move(name)), scoring_(scoring), description_(std::move(description)) {}
  std::string name() const override { return name_; }
  std::string description() const override { return description_; }
  bool needs_reference() const override { return false; }
  bool needs_text() const override { return false; }
  bool uses_scoring() const override { return scoring_; }

  FloatMatrix compose(const std::vector<ComposeInput>& inputs, const ComposeContext& context) const override {
    return ensemble(inputs, context).edited;
  }

  std::vector<ScoringQuery> compose_scoring(const std::vector<ComposeInput>& inputs,
                                            const ComposeContext& context) const override {
    if (!scoring_) return Method::compose_scoring(inputs, context);
    const float a_pos = static_cast<float>(detail::number_option(context, name_, "alpha_pos", 0.13));
    const float a_neg = static_cast<float>(detail::number_option(context, name_, "alpha_neg", 2.1));
    const EnsembleRows rows = ensemble(inputs, context);
    std::vector<ScoringQuery> out(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      out[i].vectors = FloatMatrix(2, context.embed_dim);
      std::copy_n(rows.edited.row(static_cast<int64_t>(i)), context.embed_dim, out[i].vectors.row(0));
      std::copy_n(rows.captions.row(static_cast<int64_t>(i)), context.embed_dim, out[i].vectors.row(1));
      out[i].combine = [a_pos, a_neg](const float* ip) {
        const float delta = ip[0] - ip[1];  // semantic editing increment s_after - s_before
        return ip[0] + a_pos * std::max(delta, 0.f) + a_neg * std::min(delta, 0.f);
      };
    }
    return out;
  }

 private:
  EnsembleRows ensemble(const std::vector<ComposeInput>& inputs, const ComposeContext& context) const {
    const std::string path = detail::require_option(
        context, name_, "captions", "JSON list with multi_caption_opt / multi_gpt-3.5_opt per query, as SEIZE ships");
    const auto entries = cached_captions(path);
    const int n_captions = static_cast<int>(detail::number_option(context, name_, "n_captions", 15));
    if (n_captions < 1) throw Error(ErrorCode::kInvalidArgument, "method '" + name_ + "': n_captions must be >= 1");
    std::vector<std::string> texts;
    std::vector<std::pair<int64_t, int64_t>> spans;  // per input: edited count, caption count
    for (size_t i = 0; i < inputs.size(); ++i) {
      const std::string key = i < context.query_keys.size() ? context.query_keys[i] : "";
      const CaptionEntry* e = match_entry(*entries, key, inputs[i]);
      if (!e || e->edited.empty() || (scoring_ && e->captions.empty()))
        throw Error(ErrorCode::kInvalidArgument,
                    "method '" + name_ + "' needs captions for every query; none found for reference '" + key + "'" +
                        (inputs[i].texts.empty() ? "" : " / text '" + inputs[i].texts[0] + "'") + " in '" + path +
                        "' (give a gallery reference whose id is the entry's reference_img_id/reference/pairid, "
                        "with multi_gpt-3.5_opt" + (scoring_ ? " and multi_caption_opt" : "") + " lists)");
      const auto take = [&](const std::vector<std::string>& v) {
        const auto n = std::min<size_t>(v.size(), static_cast<size_t>(n_captions));
        texts.insert(texts.end(), v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n));
        return static_cast<int64_t>(n);
      };
      const int64_t n_edited = take(e->edited);
      const int64_t n_caps = scoring_ ? take(e->captions) : 0;
      spans.emplace_back(n_edited, n_caps);
    }
    const FloatMatrix feats = context.encode_texts(texts);
    EnsembleRows rows{FloatMatrix(static_cast<int64_t>(inputs.size()), context.embed_dim),
                      FloatMatrix(static_cast<int64_t>(inputs.size()), context.embed_dim)};
    int64_t cursor = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      // Mean of the raw features, then normalise (semantic_editing_search.py).
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
  bool scoring_;
  std::string description_;
};

}  // namespace

std::shared_ptr<const Method> make_seize() {
  return std::make_shared<CaptionEnsembleMethod>(
      "seize", true,
      "SEIZE: s_after + alpha_pos max(d,0) + alpha_neg min(d,0) over edited vs plain caption ensembles (option captions=<json>)");
}

std::shared_ptr<const Method> make_ldre() {
  return std::make_shared<CaptionEnsembleMethod>("ldre", false,
                                                 "LDRE: n(mean T(edited captions)) (option captions=<json>)");
}

}  // namespace cir::compose
