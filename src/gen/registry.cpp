// TEMPORARY (branch genengine): the captioner/editor registries of include/cir/gen.h, with no
// provider client. Replaced by the gen branch's src/gen on merge; the engine only uses gen.h.
#include <mutex>

#include "cir/gen.h"

namespace cir::gen {
namespace {

struct Registry {
  std::mutex mutex;
  std::map<std::string, CaptionerFactory> captioners;
  std::map<std::string, EditorFactory> editors;
};

Registry& registry() {
  static Registry r;
  return r;
}

template <typename Map>
std::vector<std::string> keys_of(const Map& map) {
  std::vector<std::string> out;
  for (const auto& [name, factory] : map) out.push_back(name);
  return out;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

std::shared_ptr<Provider> open_provider(const ProviderSpec& spec) {
  throw Error(ErrorCode::kUnsupported, "this build has no provider client (branch genengine without gen): cannot open '" +
                                           spec.base_url + "'");
}

std::shared_ptr<const Captioner> make_captioner(const std::string& name, std::shared_ptr<Provider> provider,
                                                const CaptionerOptions& options) {
  CaptionerFactory factory;
  {
    std::lock_guard<std::mutex> lock(registry().mutex);
    auto it = registry().captioners.find(name);
    if (it == registry().captioners.end())
      throw Error(ErrorCode::kNotFound, "unknown captioner '" + name + "' (known: " + joined(keys_of(registry().captioners)) + ")");
    factory = it->second;
  }
  return factory(std::move(provider), options);
}

std::shared_ptr<const Editor> make_editor(const std::string& name, std::shared_ptr<Provider> provider,
                                          const SamplingOptions* sampling) {
  EditorFactory factory;
  {
    std::lock_guard<std::mutex> lock(registry().mutex);
    auto it = registry().editors.find(name);
    if (it == registry().editors.end())
      throw Error(ErrorCode::kNotFound, "unknown editor '" + name + "' (known: " + joined(keys_of(registry().editors)) + ")");
    factory = it->second;
  }
  return factory(std::move(provider), sampling);
}

void register_captioner(const std::string& name, CaptionerFactory factory) {
  std::lock_guard<std::mutex> lock(registry().mutex);
  registry().captioners[name] = std::move(factory);
}

void register_editor(const std::string& name, EditorFactory factory) {
  std::lock_guard<std::mutex> lock(registry().mutex);
  registry().editors[name] = std::move(factory);
}

std::vector<std::string> captioner_names() {
  std::lock_guard<std::mutex> lock(registry().mutex);
  return keys_of(registry().captioners);
}

std::vector<std::string> editor_names() {
  std::lock_guard<std::mutex> lock(registry().mutex);
  return keys_of(registry().editors);
}

}  // namespace cir::gen
