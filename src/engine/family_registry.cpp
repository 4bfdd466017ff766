// The one registry of model families: adding a family is one file and one line here. Detection
// runs in order (most specific first); CLIP is the fallback because its loader gives the
// clearest message for a path that is nothing at all.
#include <mutex>

#include "engine/family.h"

namespace cir::engine {
namespace {

struct Registry {
  std::mutex mutex;
  std::vector<FamilyEntry> entries;  // detection order
  FamilyEntry fallback = clip_family();

  Registry() {
    entries.push_back(sprc_family());   // a torch.save pickle with SPRC's keys
    entries.push_back(blip2_family());  // LAVIS .pth or a Hugging Face BLIP-2 config
  }
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

std::vector<FloatMatrix> ModelFamily::encode_text_states(const std::vector<std::string>&, bool) const {
  throw Error(ErrorCode::kUnsupported, "text states (Q-Former [CLS]) need a BLIP-2 model; '" + spec().path + "' is a " +
                                           spec().family + " model");
}

FloatMatrix ModelFamily::encode_composed(const float*, int64_t, const std::vector<std::string>&) const {
  throw Error(ErrorCode::kUnsupported, "composing inside the model (reference image + text) needs an early-fusion model "
                                       "such as SPRC; '" + spec().path + "' is a " + spec().family + " model");
}

FamilyEntry family_for(const std::string& model_path) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (const FamilyEntry& entry : r.entries)
    if (entry.detect(model_path)) return entry;
  return r.fallback;
}

void register_family(FamilyEntry entry) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.entries.insert(r.entries.begin(), std::move(entry));
}

std::vector<std::string> family_names() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<std::string> names;
  for (const FamilyEntry& entry : r.entries) names.push_back(entry.name);
  names.push_back(r.fallback.name);
  return names;
}

std::string model_family(const std::string& model_path) { return family_for(model_path).name; }

}  // namespace cir::engine
